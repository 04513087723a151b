package integration

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
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
	// noRoutes: net/http before Go 1.22 has no mux patterns, the server
	// spans are named by their method only.
	noRoutes bool
}

var h2StitchCases = []h2StitchCase{
	{"go-local/tls", "local", false, false},
	{"go-local/h2c", "local", true, false},
	{"go-1.19/tls", "debian-1.19", false, true},
}

// Stitching over HTTP/2 through the receiver with its default config and
// goroutine_ancestry deep: two unmodified, stripped services on this host,
// front calling back over HTTP/2 (TLS, and h2c with net/http's own
// prior-knowledge support; Go 1.19 over TLS), from the handler, from a
// goroutine it starts and from a goroutine 8 go statements below it,
// through one kept-alive connection carrying concurrent streams; back's
// /api calls back's own /leaf the same way. Each request to front (tagged
// ?req=N, passed on in every call's query) is exactly one trace of 13
// spans rooted at front's server span of that request; each /api server
// span is the child of the front client span that sent its stream (same
// request, same call), each /leaf server span the child of the client span
// /api's handler sent it with (the stitched span's subtree follows); the
// stitching counters say so. Then, with a receiver started only after
// front's and back's connections were opened, the same holds for requests
// over those connections (preattached).
func TestEBPFStitchH2FrontBack(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	for i, tc := range h2StitchCases {
		buildWith(t, "testdata/h2frontback", tc.toolchain, filepath.Join(dir, fmt.Sprintf("h2frontback-%d", i)), true)
	}
	sink, tel, _, stop := startReceiverWith(t, filepath.Join(dir, "h2frontback-*"), deepAncestry)
	for i, tc := range h2StitchCases {
		t.Run(tc.name, func(t *testing.T) {
			exe := filepath.Join(dir, fmt.Sprintf("h2frontback-%d", i))
			testH2Stitch(t, sink, tel, startH2Pair(t, exe, tc.h2c, tc.noRoutes), true)
		})
	}
	stop()

	// Preattached: front's connection to back and back's to itself are
	// opened by a request before a receiver runs; one receiver, started
	// then, traces both pairs.
	pre := make([]h2Pair, 2)
	for i, tc := range h2StitchCases[:2] {
		pre[i] = startH2Pair(t, filepath.Join(dir, fmt.Sprintf("h2frontback-%d", i)), tc.h2c, tc.noRoutes)
		if code := get(t, pre[i].base+"/work", nil); code != 200 {
			t.Fatalf("%s: /work before tracing: %d", tc.name, code)
		}
		if f, b := pre[i].dials(t); f != 1 || b != 1 {
			t.Fatalf("%s: before tracing, front dialed %d connections, back %d; want 1 and 1", tc.name, f, b)
		}
	}
	sink, tel, _, stop = startReceiverWith(t, filepath.Join(dir, "h2frontback-*"), deepAncestry)
	defer stop()
	for i, tc := range h2StitchCases[:2] {
		t.Run(tc.name+"/preattached", func(t *testing.T) {
			// The traced requests go over the same two connections
			// (neither client dials again) and stitch as ever: the
			// 4-tuple is read from the live connection, not from its
			// opening.
			testH2Stitch(t, sink, tel, pre[i], true)
			if f, b := pre[i].dials(t); f != 1 || b != 1 {
				t.Errorf("front dialed %d connections, back %d; want the 1 and 1 opened before tracing", f, b)
			}
		})
	}
}

// deepAncestry sets traces.goroutine_ancestry to deep, which the depth-8
// calls of the stitching tests need (explicit, whatever the default).
func deepAncestry(cfg *ebpfreceiver.Config) {
	cfg.Traces.GoroutineAncestry = ebpfreceiver.AncestryDeep
}

// With stitching off, the same chain is seven traces per request: back's
// server spans are roots. This is what the test above would see without
// the feature.
func TestEBPFStitchH2Off(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	exe := filepath.Join(t.TempDir(), "h2frontback-off")
	buildWith(t, "testdata/h2frontback", "local", exe, true)
	sink, tel, _, stop := startReceiverWith(t, exe, func(cfg *ebpfreceiver.Config) {
		deepAncestry(cfg)
		cfg.Traces.Propagation.Stitch = false
	})
	defer stop()
	testH2Stitch(t, sink, tel, startH2Pair(t, exe, false, false), false)
}

// h2Pair is a running front and back of h2frontback.
type h2Pair struct {
	front, back, backPort int
	h2c, noRoutes         bool
	// base is front's URL, backURL back's.
	base, backURL string
}

func startH2Pair(t *testing.T, exe string, h2c, noRoutes bool) h2Pair {
	backPort, frontPort := freePort(t), freePort(t)
	mode, scheme := "tls", "https"
	if h2c {
		mode, scheme = "h2c", "http"
	}
	p := h2Pair{backPort: backPort, h2c: h2c, noRoutes: noRoutes, base: fmt.Sprintf("http://127.0.0.1:%d", frontPort), backURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, backPort)}
	p.back = startService(t, exe, "back", "back", fmt.Sprintf("127.0.0.1:%d", backPort), mode)
	p.front = startService(t, exe, "front", "front", fmt.Sprintf("127.0.0.1:%d", frontPort), p.backURL)
	return p
}

// serverName is the name of a server span of a GET of path.
func (p h2Pair) serverName(path string) string {
	if p.noRoutes {
		return "GET"
	}
	return "GET " + path
}

// dials returns how many connections front's and back's clients opened.
func (p h2Pair) dials(t *testing.T) (front, back int) {
	t.Helper()
	read := func(c *http.Client, url string) int {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		n, err := strconv.Atoi(strings.TrimSpace(string(body)))
		if err != nil {
			t.Fatalf("GET %s: %q", url, body)
		}
		return n
	}
	c := h2Client(p.h2c)
	defer c.CloseIdleConnections()
	return read(client, p.base+"/dials"), read(c, p.backURL+"/dials")
}

func testH2Stitch(t *testing.T, sink *consumertest.TracesSink, tel *componenttest.Telemetry, p h2Pair, stitch bool) {
	front, back := p.front, p.back
	// Until both processes are instrumented: a request whose whole chain
	// is traced (13 spans, 4 of them from front).
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.Reset()
		if code := get(t, p.base+"/work?deep=1", nil); code != 200 {
			t.Fatalf("/work: %d", code)
		}
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

	// Concurrent requests to front: their calls to back are concurrent
	// streams of front's one connection to back.
	const requests, workers = 12, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < requests; i += workers {
				if code := get(t, fmt.Sprintf("%s/work?req=%d&ms=20&deep=1", p.base, i), nil); code != 200 {
					t.Errorf("/work: %d", code)
				}
			}
		}()
	}
	wg.Wait()
	spans := waitSpans(t, sink, 13*requests)
	traces := map[pcommon.TraceID]int{}
	for _, s := range spans {
		traces[s.TraceID()]++
	}
	// Client ports of the connections back served, by path: one
	// connection from front (/api), one from back itself (/leaf).
	ports := map[string]map[int64]bool{"/api": {}, "/leaf": {}}
	for _, s := range spans {
		if s.Kind() != ptrace.SpanKindServer || serviceOf(s) != "back" {
			continue
		}
		path := strAttr(s, "url.path")
		if ports[path] == nil {
			t.Errorf("back server span %s", path)
			continue
		}
		ports[path][intAttr(s, "client.port")] = true
		if v := strAttr(s, "network.protocol.version"); v != "2" {
			t.Errorf("back server span over HTTP %q, want 2", v)
		}
		if !stitch && !s.ParentSpanID().IsEmpty() {
			t.Errorf("stitching off: back server span %s has parent %v", path, s.ParentSpanID())
		}
	}
	for path, p := range ports {
		if len(p) != 1 {
			t.Errorf("back served %s over %d connections (client ports %v), want 1", path, len(p), p)
		}
	}
	if n := spansByPID(spans); n[front] != 4*requests || n[back] != 9*requests {
		t.Errorf("spans by process %v, want %d from front and %d from back", n, 4*requests, 9*requests)
	}
	if stitch {
		checkRequestTraces(t, spans, requestTags(requests), func(tag string) spanTree {
			root := "front Server " + p.serverName("/work") + " /work?req=" + tag + "&ms=20&deep=1"
			tree := spanTree{root: ""}
			for _, from := range []string{"handler", "goroutine", "deep"} {
				q := "?req=" + tag + "&from=" + from
				call := "front Client GET " + p.backURL + "/api" + q + "&ms=20"
				api := "back Server " + p.serverName("/api") + " /api" + q + "&ms=20"
				leafCall := "back Client GET " + p.backURL + "/leaf" + q
				tree[call] = root
				tree[api] = call
				tree[leafCall] = api
				tree["back Server "+p.serverName("/leaf")+" /leaf"+q] = leafCall
			}
			return tree
		})
	} else if len(traces) != 7*requests {
		// front's trace; per call to back, /api's with its client span
		// and /leaf's.
		t.Errorf("stitching off: %d traces for %d requests to front, want %d", len(traces), requests, 7*requests)
	}
	wantStitched := int64(6 * requests)
	if !stitch {
		wantStitched = 0
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
