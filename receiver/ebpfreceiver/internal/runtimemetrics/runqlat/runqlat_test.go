package runqlat

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loadOrSkip loads the tracer; without BPF it skips, except under CI=true
// where the feature is required and the test fails.
func loadOrSkip(t *testing.T) *Tracer {
	t.Helper()
	tr, err := Load()
	if err != nil {
		prereq.Missing(t, "BPF unavailable (run as root on a BTF kernel): %v", err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return tr
}

func TestRunQueueLatencyOfBusyThreads(t *testing.T) {
	tr := loadOrSkip(t)
	pid := uint32(os.Getpid())
	if err := tr.Track(pid); err != nil {
		t.Fatal(err)
	}
	// More runnable OS threads than CPUs: each must wait in a run queue.
	n := 3 * runtime.NumCPU()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range 100000 {
					x += i
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	h, err := tr.Read(pid)
	if err != nil {
		t.Fatal(err)
	}
	var inBuckets uint64 = h.Zero + h.One
	for _, c := range h.Buckets {
		inBuckets += c
	}
	if h.Count == 0 || h.SumNs == 0 {
		t.Fatalf("no run-queue latency recorded for %d busy threads: %+v", n, h)
	}
	if inBuckets != h.Count {
		t.Errorf("bucket total %d != count %d", inBuckets, h.Count)
	}
	if h.Hits < h.Count {
		t.Errorf("hits %d < count %d", h.Hits, h.Count)
	}
	calls, err := tr.Calls()
	if err != nil {
		t.Fatal(err)
	}
	if calls < h.Hits {
		t.Errorf("calls %d < hits of one process %d", calls, h.Hits)
	}
	t.Logf("count=%d mean=%.1fus hits=%d calls=%d", h.Count, float64(h.SumNs)/float64(h.Count)/1e3, h.Hits, calls)

	if err := tr.Untrack(pid); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Read(pid); err == nil {
		t.Error("read after untrack succeeded")
	}
}
