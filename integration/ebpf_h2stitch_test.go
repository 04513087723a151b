package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver"
)

// h2StitchCase is one pair of h2frontback services: the toolchain they are
// built with and how front reaches back.
type h2StitchCase struct {
	name, toolchain string
	h2c             bool
}

var h2StitchCases = []h2StitchCase{
	{"go-local/tls", "local", false},
	{"go-local/h2c", "local", true},
	{"go-1.19/tls", "debian-1.19", false},
}

// Stitching over HTTP/2 through the receiver with its default config: two
// unmodified, stripped services on this host, front calling back over
// HTTP/2 (TLS, and h2c with net/http's own prior-knowledge support; Go
// 1.19 over TLS), from the handler and from a goroutine it starts, through
// one kept-alive connection carrying concurrent streams; back's /api calls
// back's own /leaf the same way. Each request to front is exactly one trace
// of 9 spans; each /api server span is the child of the front client span
// that sent its stream, each /leaf server span the child of the client
// span /api's handler sent it with (the stitched span's subtree follows);
// the stitching counters say so.
func TestEBPFStitchH2FrontBack(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	for i, tc := range h2StitchCases {
		buildWith(t, "testdata/h2frontback", tc.toolchain, filepath.Join(dir, fmt.Sprintf("h2frontback-%d", i)), true)
	}
	sink, tel, _, stop := startReceiverWith(t, filepath.Join(dir, "h2frontback-*"), nil)
	defer stop()
	for i, tc := range h2StitchCases {
		t.Run(tc.name, func(t *testing.T) {
			exe := filepath.Join(dir, fmt.Sprintf("h2frontback-%d", i))
			testH2Stitch(t, sink, tel, exe, tc.h2c, true)
		})
	}
}

// With stitching off, the same chain is three traces per request: back's
// server spans are roots. This is what the test above would see without
// the feature.
func TestEBPFStitchH2Off(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	exe := filepath.Join(t.TempDir(), "h2frontback-off")
	buildWith(t, "testdata/h2frontback", "local", exe, true)
	sink, tel, _, stop := startReceiverWith(t, exe, func(cfg *ebpfreceiver.Config) {
		cfg.Traces.Propagation.Stitch = false
	})
	defer stop()
	testH2Stitch(t, sink, tel, exe, false, false)
}

func testH2Stitch(t *testing.T, sink *consumertest.TracesSink, tel *componenttest.Telemetry, exe string, h2c, stitch bool) {
	backPort, frontPort := freePort(t), freePort(t)
	mode, scheme := "tls", "https"
	if h2c {
		mode, scheme = "h2c", "http"
	}
	back := startService(t, exe, "back", "back", fmt.Sprintf("127.0.0.1:%d", backPort), mode)
	front := startService(t, exe, "front", "front", fmt.Sprintf("127.0.0.1:%d", frontPort), fmt.Sprintf("%s://127.0.0.1:%d", scheme, backPort))
	base := fmt.Sprintf("http://127.0.0.1:%d", frontPort)

	// Until both processes are instrumented: a request whose whole chain
	// is traced (9 spans, 3 of them from front).
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.Reset()
		if code := get(t, base+"/work", nil); code != 200 {
			t.Fatalf("/work: %d", code)
		}
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

	// Concurrent requests to front: their calls to back are concurrent
	// streams of front's one connection to back.
	const requests, workers = 12, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < requests; i += workers {
				if code := get(t, base+"/work?ms=20", nil); code != 200 {
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
	// Client ports of the connections back served, by path: one
	// connection from front (/api), one from back itself (/leaf).
	ports := map[string]map[int64]bool{"/api": {}, "/leaf": {}}
	for _, s := range spans {
		if s.Kind() != ptrace.SpanKindServer || serviceOf(s) != "back" {
			continue
		}
		path, query := strAttr(s, "url.path"), strAttr(s, "url.query")
		if ports[path] == nil {
			t.Errorf("back server span %s", path)
			continue
		}
		ports[path][intAttr(s, "client.port")] = true
		if v := strAttr(s, "network.protocol.version"); v != "2" {
			t.Errorf("back server span over HTTP %q, want 2", v)
		}
		if !stitch {
			if !s.ParentSpanID().IsEmpty() {
				t.Errorf("stitching off: back server span %s has parent %v", path, s.ParentSpanID())
			}
			continue
		}
		p, ok := byID[s.ParentSpanID()]
		wantParent := "front"
		if path == "/leaf" {
			wantParent = "back"
		}
		if !ok || p.Kind() != ptrace.SpanKindClient || p.TraceID() != s.TraceID() || serviceOf(p) != wantParent {
			t.Errorf("back server span %s?%s: parent %v is not a %s client span of its trace", path, query, s.ParentSpanID(), wantParent)
			continue
		}
		if want := fmt.Sprintf("%s://127.0.0.1:%d%s?%s", scheme, backPort, path, query); strAttr(p, "url.full") != want {
			t.Errorf("back server span %s?%s parented by the client span of %s, want %s", path, query, strAttr(p, "url.full"), want)
		}
		if path == "/leaf" {
			// /api's client span, in the subtree of /api's server span.
			if gp, ok := byID[p.ParentSpanID()]; !ok || gp.Kind() != ptrace.SpanKindServer || strAttr(gp, "url.path") != "/api" || !strings.HasPrefix(strAttr(gp, "url.query"), query) {
				t.Errorf("/leaf?%s: its client span is not the child of the /api server span that sent it", query)
			}
		}
	}
	for path, p := range ports {
		if len(p) != 1 {
			t.Errorf("back served %s over %d connections (client ports %v), want 1", path, len(p), p)
		}
	}
	if n := spansByPID(spans); n[front] != 3*requests || n[back] != 6*requests {
		t.Errorf("spans by process %v, want %d from front and %d from back", n, 3*requests, 6*requests)
	}
	wantTraces, wantStitched := requests, int64(4*requests)
	if !stitch {
		// front's trace; per call to back, /api's with its client span
		// and /leaf's.
		wantTraces, wantStitched = 5*requests, 0
	}

	if len(traces) != wantTraces {
		t.Errorf("%d traces for %d requests to front, want %d", len(traces), requests, wantTraces)
	}
	if got := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched") - stitched0; got != wantStitched {
		t.Errorf("spans_stitched +%d, want +%d", got, wantStitched)
	}
	// front's own server spans (requests from this test, not traced) are
	// the unmatched ones; with stitching off nothing is looked up.
	wantUnstitched := int64(requests)
	if !stitch {
		wantUnstitched = 0
	}
	if got := counterValue(t, tel, "otelcol_receiver_ebpf_spans_unstitched") - unstitched0; got != wantUnstitched {
		t.Errorf("spans_unstitched +%d, want +%d", got, wantUnstitched)
	}
}
