package runtimemetrics

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

var selfRelease = make(chan struct{})

// spawnSelfBlocked starts n goroutines that block on selfRelease and
// returns the line of its go statement.
//
//go:noinline
func spawnSelfBlocked(n int) (goLine int) {
	_, _, line, _ := runtime.Caller(0)
	for i := 0; i < n; i++ {
		go func() { <-selfRelease }() // line + 2
	}
	return line + 2
}

// TestReadOwnProcess reads the test binary's own runtime state (no root
// needed to read one's own memory): the creation site of goroutines started
// here resolves through .gopclntab to the function and line of the go
// statement, and their count and wait reason are exact.
func TestReadOwnProcess(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := goexe.Inspect(self)
	if err != nil {
		t.Fatal(err)
	}
	const n = 37
	line := spawnSelfBlocked(n)
	defer close(selfRelease)

	opts := DefaultOptions()
	opts.Scheduler, opts.Allocations = false, false
	c, _ := newTestCollector(t, opts)
	if err := c.Attach(os.Getpid(), exe); err != nil {
		t.Fatal(err)
	}
	const fn = "github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics.spawnSelfBlocked"
	// Poll until all n have parked (a loaded machine may be slow to run them).
	md := collect(t, c)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if got, _ := pointWhere(md, "go.goroutine.blocked", "code.function.name", fn); got == n {
			break
		}
		time.Sleep(100 * time.Millisecond)
		md = collect(t, c)
	}
	m, ok := findMetric(md, "go.goroutine.blocked")
	if !ok {
		t.Fatal("no go.goroutine.blocked")
	}
	dps := m.Gauge().DataPoints()
	var found bool
	for i := 0; i < dps.Len(); i++ {
		a := dps.At(i).Attributes()
		name, _ := a.Get("code.function.name")
		if name.Str() != fn {
			continue
		}
		found = true
		l, _ := a.Get("code.line.number")
		file, _ := a.Get("code.file.path")
		if l.Int() != int64(line) || file.Str() == "" {
			t.Errorf("site %s at %s:%d, want line %d", fn, file.Str(), l.Int(), line)
		}
		if dps.At(i).IntValue() != n {
			t.Errorf("blocked at site: %d, want %d", dps.At(i).IntValue(), n)
		}
	}
	if !found {
		t.Fatalf("no creation site %s", fn)
	}
	if got, _ := pointWhere(md, "go.goroutine.waiting", "go.wait_reason", "chan receive"); got < n {
		t.Errorf("chan receive waiters %v, want >= %d", got, n)
	}
	if _, ok := findMetric(md, "go.processor.limit"); ok {
		t.Error("scheduler disabled but go.processor.limit reported")
	}
	if _, ok := findMetric(md, "go.gc.cycles"); !ok {
		t.Error("no GC figures from the test binary")
	}
}
