package tracer

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclientconn"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// frontBack builds testdata/frontback stripped and runs it as three
// services: back (serving HTTP and HTTPS), then a front calling back over
// HTTP and one calling it over HTTPS. It returns the pids (front, front over
// TLS, back), the fronts' base URLs and the binary.
func frontBack(t *testing.T) (pids [3]int, fronts [2]string, exe string) {
	t.Helper()
	exe = filepath.Join(t.TempDir(), "frontback")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", exe, "../../../../integration/testdata/frontback")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build frontback: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := l.Addr().String()
	l.Close()
	var back string
	pids[2], back = runServer(t, exe, func(addr string) []string { return []string{"back", addr, tlsAddr} })
	waitListening(t, tlsAddr)
	for i, url := range []string{"http://" + back, "https://" + tlsAddr} {
		var addr string
		pids[i], addr = runServer(t, exe, func(addr string) []string { return []string{"front", addr, url} })
		fronts[i] = "http://" + addr
	}
	return pids, fronts, exe
}

func waitListening(t *testing.T, addr string) {
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

// attachHTTP loads a tracer with opts and attaches the HTTP probes (and the
// stitching one when opts.Stitch) to every pid; all closed at cleanup.
func attachHTTP(t *testing.T, opts Options, bin Binary, pids ...int) *Tracer {
	t.Helper()
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	sel := Probes{httpserver.Name: true, httpclient.Name: true, httpclientconn.Name: opts.Stitch}
	for _, pid := range pids {
		att, err := tr.Attach(pid, cookie, bin, sel)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { att.Close() })
	}
	return tr
}

// span is one event of the stitching tests, either side.
type span struct {
	pid    uint32
	server bool
	path   string
	ids    probes.SpanIDs
	stitch probes.Stitch
	remote string
	scheme string
	query  string
}

// spansOf drains until n spans arrived (generous deadline), then a little
// longer so that an extra span would be seen.
func spansOf(t *testing.T, tr *Tracer, n int) []span {
	t.Helper()
	var out []span
	handle := func(raw []byte) {
		ev, err := Decode(raw)
		if err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		switch e := ev.(type) {
		case *ServerEvent:
			out = append(out, span{pid: e.PID, server: true, path: e.Path, ids: e.IDs, stitch: e.Stitch, remote: e.RemoteAddr, scheme: e.Scheme})
		case *ClientEvent:
			out = append(out, span{pid: e.PID, path: e.Path, ids: e.IDs, stitch: e.Stitch, query: e.RawQuery})
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		if err := tr.Drain(200*time.Millisecond, handle); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Drain(300*time.Millisecond, handle); err != nil {
		t.Fatal(err)
	}
	return out
}

// Two stripped services on this host, front -> back -> back over HTTP/1.1
// keep-alive connections, with concurrent requests: each request to front
// is exactly one trace, and every server span behind front is the child of
// the client span that sent its request. Stitching off, the same traffic
// splits into a trace per server span that had no incoming header.
func TestStitchFrontBack(t *testing.T) {
	prereq.RequireRoot(t, "the HTTP probes")
	pids, fronts, path := frontBack(t)
	backPID := pids[2]
	_, bin := resolveServer(t, path)
	if bin.Func(httpclientconn.FuncPersistConnRoundTrip) == nil {
		t.Fatalf("%s not resolved in the stripped binary: %v", httpclientconn.FuncPersistConnRoundTrip, bin.Unusable)
	}
	const requests, concurrency = 24, 4
	// back's peers of front's plain-HTTP connections seen without stitching.
	earlier := map[string]bool{}
	for _, tc := range []struct {
		name   string
		tls    bool
		stitch bool
		traces int
	}{
		// First, so that front's keep-alive connections to back exist
		// before the stitching tracer attaches. front's trace (its server
		// and two client spans), back's /api (server and client) and
		// /leaf, twice per request.
		{"no_stitch", false, false, requests + 2*requests + 2*requests},
		// front's server span is each trace's root.
		{"stitch", false, true, requests},
		{"stitch_tls", true, true, requests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frontPID, front := pids[0], fronts[0]
			if tc.tls {
				frontPID, front = pids[1], fronts[1]
			}
			tr := attachHTTP(t, Options{RingBufferSize: 1 << 22, Stitch: tc.stitch}, bin, frontPID, backPID)
			h0, _ := tr.Hits()
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
			defer c.CloseIdleConnections()
			var wg sync.WaitGroup
			errs := make(chan error, requests)
			for w := range concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < requests; i += concurrency {
						resp, err := c.Get(front + "/work")
						if err != nil {
							errs <- err
							continue
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							errs <- fmt.Errorf("/work: %s", resp.Status)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			// Per request: front server + 2 client; back /api server +
			// client and /leaf server, twice.
			const perRequest = 1 + 2 + 2*3
			spans := spansOf(t, tr, perRequest*requests)
			if len(spans) != perRequest*requests {
				t.Fatalf("%d spans for %d requests, want %d", len(spans), requests, perRequest*requests)
			}
			peers := checkFrontBack(t, spans, uint32(frontPID), uint32(backPID), tc.stitch)
			switch tc.name {
			case "no_stitch":
				earlier = peers
			case "stitch":
				// Robust to connections opened before the probes attached:
				// some requests went over connections that carried
				// requests in the previous subtest.
				reused := 0
				for p := range peers {
					if earlier[p] {
						reused++
					}
				}
				if reused == 0 {
					t.Errorf("no connection opened before the stitching tracer attached was reused (before %v, now %v)", earlier, peers)
				}
			}
			wantScheme := map[bool]string{false: "http", true: "https"}[tc.tls]
			for _, s := range spans {
				if s.server && s.path == "/api" && s.scheme != wantScheme {
					t.Fatalf("back's /api served over %q, want %q", s.scheme, wantScheme)
				}
			}
			traces := map[[16]byte]int{}
			for _, s := range spans {
				traces[s.ids.TraceID]++
			}
			if len(traces) != tc.traces {
				t.Errorf("%d traces for %d requests to front, want %d", len(traces), requests, tc.traces)
			}
			hits := hitsSince(t, tr, h0)
			calls, served := uint64(4*requests), uint64(5*requests)
			if hits[HitServerEntry] != served || hits[HitServerReturn] != served {
				t.Errorf("server hits: entry %d return %d for %d requests served", hits[HitServerEntry], hits[HitServerReturn], served)
			}
			wantConn := uint64(0)
			if tc.stitch {
				wantConn = calls
			}
			if hits[httpclient.ProgEntry] != calls || hits[httpclient.ProgReturn] != calls || hits[httpclientconn.ProgConn] != wantConn {
				t.Errorf("client hits: entry %d return %d conn %d for %d calls; want %d, %d, %d",
					hits[httpclient.ProgEntry], hits[httpclient.ProgReturn], hits[httpclientconn.ProgConn], calls, calls, calls, wantConn)
			}
		})
	}
}

// checkFrontBack checks the parent of every span and what stitching
// reported, and that back's connections were reused (keep-alive); it
// returns the peer addresses of the connections back served /api on.
func checkFrontBack(t *testing.T, spans []span, frontPID, backPID uint32, stitched bool) map[string]bool {
	t.Helper()
	byID := map[[8]byte]span{}
	for _, s := range spans {
		byID[s.ids.SpanID] = s
	}
	parentOf := func(s span) (span, bool) {
		if !s.ids.HasParent {
			return span{}, false
		}
		p, ok := byID[s.ids.ParentSpanID]
		return p, ok && p.ids.TraceID == s.ids.TraceID
	}
	count := map[string]int{}
	apiPeers := map[string]bool{}
	for _, s := range spans {
		side := "client"
		if s.server {
			side = "server"
		}
		who := "front"
		if s.pid == backPID {
			who = "back"
		} else if s.pid != frontPID {
			t.Fatalf("span of pid %d", s.pid)
			return nil
		}
		key := who + " " + side + " " + s.path
		count[key]++
		p, hasParent := parentOf(s)
		// The parent a span must have: its process's server span for a
		// client span, the client span that sent the request for a
		// server span behind front when stitching.
		var want string
		switch key {
		case "front server /work":
			want = ""
		case "front client /api":
			want = "front server /work"
		case "back server /api":
			want = "front client /api"
			apiPeers[s.remote] = true
		case "back client /leaf":
			want = "back server /api"
		case "back server /leaf":
			want = "back client /leaf"
		default:
			t.Errorf("unexpected span %q", key)
			continue
		}
		if s.server && !stitched && want != "" {
			want = ""
		}
		got := ""
		if hasParent {
			got = map[uint32]string{frontPID: "front", backPID: "back"}[p.pid] + map[bool]string{true: " server ", false: " client "}[p.server] + p.path
		} else if s.ids.HasParent {
			got = "a span not seen"
		}
		if got != want {
			t.Errorf("%s: parent %q, want %q", key, got, want)
		}
		wantStitch := probes.StitchNone
		switch {
		case !stitched:
		case key == "front server /work":
			wantStitch = probes.StitchUnmatched // the test's client is not traced
		default:
			wantStitch = probes.StitchMatched
		}
		if s.stitch != wantStitch {
			t.Errorf("%s: stitch %d, want %d", key, s.stitch, wantStitch)
		}
	}
	n := len(spans) / 9
	want := map[string]int{"front server /work": n, "front client /api": 2 * n, "back server /api": 2 * n, "back client /leaf": 2 * n, "back server /leaf": 2 * n}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Errorf("spans by kind %v, want %v", count, want)
	}
	// front reaches back over at most two kept-alive connections at a time:
	// far fewer connections than requests.
	if len(apiPeers) == 0 || len(apiPeers) > n {
		t.Errorf("back's /api served over %d connections for %d requests: keep-alive not exercised", len(apiPeers), 2*n)
	}
	return apiPeers
}
