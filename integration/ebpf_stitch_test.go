package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// The report, through the receiver with its default config: two
// unmodified, stripped services on this host, front calling back over
// HTTP/1.1 keep-alive connections (back calling itself once more), with
// concurrent requests to front. 10 requests to front are exactly 10
// traces; every server span behind front is the child of the client span
// that sent its request; the stitching counters say so.
func TestEBPFStitchFrontBack(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	exe := filepath.Join(t.TempDir(), "frontback-stitch")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", exe, "./testdata/frontback")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build frontback: %v\n%s", err, out)
	}
	sink, tel, stop := startReceiver(t, exe)
	defer stop()
	backPort, frontPort := freePort(t), freePort(t)
	back := startService(t, exe, "back", "back", fmt.Sprintf("127.0.0.1:%d", backPort))
	front := startService(t, exe, "front", "front", fmt.Sprintf("127.0.0.1:%d", frontPort), fmt.Sprintf("http://127.0.0.1:%d", backPort))
	base := fmt.Sprintf("http://127.0.0.1:%d", frontPort)

	// Until both processes are instrumented: a request whose whole chain
	// is traced (9 spans, 3 of them from front).
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.Reset()
		get(t, base+"/work", nil)
		time.Sleep(700 * time.Millisecond)
		if n := spansByPID(collect(sink)); n[front] == 3 && n[back] == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("front and back never both traced")
		}
	}
	sink.Reset()
	stitched0 := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched")
	unstitched0 := counterValue(t, tel, "otelcol_receiver_ebpf_spans_unstitched")

	const requests, workers = 10, 2
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < requests; i += workers {
				if code := get(t, base+"/work", nil); code != 200 {
					t.Errorf("/work: %d", code)
				}
			}
		}()
	}
	wg.Wait()
	spans := waitSpans(t, sink, 9*requests)
	traces := map[pcommon.TraceID]int{}
	byID := map[pcommon.SpanID]span{}
	for _, s := range spans {
		traces[s.TraceID()]++
		byID[s.SpanID()] = s
	}
	if len(traces) != requests {
		t.Errorf("%d traces for %d requests to front, want %d", len(traces), requests, requests)
	}
	for _, s := range spans {
		svc := serviceOf(s)
		if s.Kind() != ptrace.SpanKindServer || svc == "front" {
			continue
		}
		p, ok := byID[s.ParentSpanID()]
		if !ok || p.Kind() != ptrace.SpanKindClient || p.TraceID() != s.TraceID() {
			t.Errorf("%s server span %s: parent %v is not a client span of its trace", svc, s.Name(), s.ParentSpanID())
			continue
		}
		got, _, _ := strings.Cut(strAttr(p, "url.full"), "?")
		if want := fmt.Sprintf("http://127.0.0.1:%d%s", backPort, strAttr(s, "url.path")); got != want {
			t.Errorf("server span %s parented by the client span of %s", strAttr(s, "url.path"), got)
		}
	}
	// back's /api and /leaf, twice per request; front's own server spans
	// (requests from this test, not traced) are the unmatched ones.
	if got := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched") - stitched0; got != 4*requests {
		t.Errorf("spans_stitched +%d, want +%d", got, 4*requests)
	}
	if got := counterValue(t, tel, "otelcol_receiver_ebpf_spans_unstitched") - unstitched0; got != requests {
		t.Errorf("spans_unstitched +%d, want +%d", got, requests)
	}
}

// startService runs exe with args as a service named name and waits until
// it listens on addr; it returns the pid.
func startService(t *testing.T, exe, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME="+name)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tg := &target{cmd: cmd}
	t.Cleanup(tg.stop)
	waitListen(t, args[1])
	return cmd.Process.Pid
}

func serviceOf(s span) string {
	v, _ := s.resource.Get("service.name")
	return v.AsString()
}

func spansByPID(spans []span) map[int]int {
	n := map[int]int{}
	for _, s := range spans {
		v, _ := s.resource.Get("process.pid")
		n[int(v.Int())]++
	}
	return n
}

func waitListen(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
