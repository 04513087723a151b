package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver"
)

// The report, through the receiver with its default config and
// goroutine_ancestry deep: two unmodified, stripped services on this host,
// front calling back over HTTP/1.1 keep-alive connections (back calling
// itself once more), with concurrent requests to front. Each request to
// front (tagged ?req=N, which front passes on to back and back to itself)
// calls back from the handler, from a goroutine the handler starts and
// from a goroutine 8 go statements below the handler. Each request is
// exactly one trace of 13 spans rooted at front's server span of that
// request: every server span behind front is the child of the client span
// that sent its request (same request, same call), every client span the
// child of the server span that made it; the stitching counters say so.
func TestEBPFStitchFrontBack(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	exe := filepath.Join(t.TempDir(), "frontback-stitch")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", exe, "./testdata/frontback")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build frontback: %v\n%s", err, out)
	}
	sink, tel, _, stop := startReceiverWith(t, exe, func(cfg *ebpfreceiver.Config) {
		// Explicit: the depth-8 call joins the request only with it.
		cfg.Traces.GoroutineAncestry = ebpfreceiver.AncestryDeep
	})
	defer stop()
	backPort, frontPort := freePort(t), freePort(t)
	back := startService(t, exe, "back", "back", fmt.Sprintf("127.0.0.1:%d", backPort))
	front := startService(t, exe, "front", "front", fmt.Sprintf("127.0.0.1:%d", frontPort), fmt.Sprintf("http://127.0.0.1:%d", backPort))
	base := fmt.Sprintf("http://127.0.0.1:%d", frontPort)

	// Until both processes are instrumented: a request whose whole chain
	// is traced (13 spans, 4 of them from front).
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.Reset()
		get(t, base+"/work?deep=1", nil)
		time.Sleep(700 * time.Millisecond)
		if n := spansByPID(collect(sink)); n[front] == 4 && n[back] == 9 {
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
				if code := get(t, fmt.Sprintf("%s/work?req=%d&deep=1", base, i), nil); code != 200 {
					t.Errorf("/work: %d", code)
				}
			}
		}()
	}
	wg.Wait()
	spans := waitSpans(t, sink, 13*requests)
	backURL := fmt.Sprintf("http://127.0.0.1:%d", backPort)
	checkRequestTraces(t, spans, requestTags(requests), func(tag string) spanTree {
		root := "front Server GET /work /work?req=" + tag + "&deep=1"
		tree := spanTree{root: ""}
		for _, from := range []string{"handler", "goroutine", "deep"} {
			q := "?req=" + tag + "&from=" + from
			call := "front Client GET " + backURL + "/api" + q
			api := "back Server GET /api /api" + q
			leafCall := "back Client GET " + backURL + "/leaf" + q
			tree[call] = root
			tree[api] = call
			tree[leafCall] = api
			tree["back Server GET /leaf /leaf"+q] = leafCall
		}
		return tree
	})
	// back's /api and /leaf, three times per request; front's own server
	// spans (requests from this test, not traced) are the unmatched ones.
	if got := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched") - stitched0; got != 6*requests {
		t.Errorf("spans_stitched +%d, want +%d", got, 6*requests)
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
