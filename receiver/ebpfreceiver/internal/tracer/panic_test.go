package tracer

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// startDemo builds integration/testdata/httpdemo (stripped or not) and
// runs it on a port of its own.
func startDemo(t *testing.T, ldflags string) (pid int, base, exe string) {
	t.Helper()
	exe = filepath.Join(t.TempDir(), "panicdemo")
	build := exec.Command("go", "build", "-ldflags="+ldflags, "-o", exe, "../../../../integration/testdata/httpdemo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build httpdemo: %v\n%s", err, out)
	}
	// Its panic logs go nowhere.
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{"-addr", addr} })
	return pid, "http://" + addr, exe
}

// request sends a GET and ignores the outcome: a panicking handler's
// connection is closed without a response.
func request(c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// serverEvents drains until n server events arrived (generous deadline).
func serverEvents(t *testing.T, tr *Tracer, n int) []*ServerEvent {
	t.Helper()
	var out []*ServerEvent
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		if err := tr.Drain(200*time.Millisecond, func(raw []byte) {
			if ev, err := Decode(raw); err == nil {
				if se, ok := ev.(*ServerEvent); ok {
					out = append(out, se)
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func hitsSince(t *testing.T, tr *Tracer, before map[string]uint64) map[string]uint64 {
	t.Helper()
	now, err := tr.Hits()
	if err != nil {
		t.Fatal(err)
	}
	for i := range now {
		now[i] -= before[i]
	}
	return now
}

// A handler that panics gets its SERVER span from the panic probes, which
// never run for a request that does not panic.
func TestPanickingHandlerSpans(t *testing.T) {
	prereq.RequireRoot(t, "the panic probes")
	for _, tc := range []struct{ name, ldflags string }{{"unstripped", ""}, {"stripped", "-s -w"}} {
		t.Run(tc.name, func(t *testing.T) {
			pid, base, path := startDemo(t, tc.ldflags)
			exe, bin := resolveServer(t, path)
			if bin.Func(httpserver.FuncGopanic) == nil || bin.Func(httpserver.FuncRecovery) == nil {
				t.Fatalf("panic probe sites not found: gopanic %v, recovery %v", bin.Func(httpserver.FuncGopanic), bin.Func(httpserver.FuncRecovery))
			}
			tr, _ := attachServer(t, Options{RingBufferSize: 1 << 20, CaptureQuery: true}, pid, bin)
			c := &http.Client{Timeout: 10 * time.Second}
			defer c.CloseIdleConnections()

			// Normal requests: exactly ServeHTTP entry + one RET each.
			h0, _ := tr.Hits()
			const normal = 50
			for range normal {
				request(c, base+"/hello")
			}
			if got := len(serverEvents(t, tr, normal)); got != normal {
				t.Fatalf("%d spans for %d requests", got, normal)
			}
			hits := hitsSince(t, tr, h0)
			if hits[HitServerEntry] != normal || hits[HitServerReturn] != normal || hits[HitPanic] != 0 || hits[HitRecovery] != 0 {
				t.Errorf("hits for %d normal requests: entry %d return %d gopanic %d recovery %d; want %d, %d, 0, 0",
					normal, hits[HitServerEntry], hits[HitServerReturn], hits[HitPanic], hits[HitRecovery], normal, normal)
			}

			// One connection per request: net/http's client resends an
			// idempotent request once when a reused connection closes
			// without a response, which would double the panics.
			c = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			const each = 5
			h0, _ = tr.Hits()
			for range each {
				request(c, base+"/panic?sig=s1&a=1")
				request(c, base+"/abort")
				request(c, base+"/recovered")
			}
			evs := serverEvents(t, tr, 3*each)
			byPath := map[string]int{}
			for _, ev := range evs {
				byPath[ev.Path]++
				name := ""
				if ev.Panicked {
					name, _ = exe.TypeName(ev.PanicTypeAddr)
				}
				got := fmt.Sprintf("panicked=%t type=%q msg=%q", ev.Panicked, name, ev.PanicMessage)
				want := map[string]string{
					"/panic":     `panicked=true type="string" msg="boom"`,
					"/abort":     `panicked=true type="*errors.errorString" msg="net/http: abort Handler"`,
					"/recovered": `panicked=false type="" msg=""`,
				}[ev.Path]
				if got != want {
					t.Errorf("%s: %s, want %s", ev.Path, got, want)
				}
				if ev.Path == "/panic" && ev.RawQuery != "sig=s1&a=1" {
					t.Errorf("/panic query %q", ev.RawQuery)
				}
				if ev.Path == "/recovered" && ev.Status != 200 {
					t.Errorf("/recovered status %d, want 200", ev.Status)
				}
				if ev.EndNs < ev.StartNs {
					t.Errorf("%s: end %d before start %d", ev.Path, ev.EndNs, ev.StartNs)
				}
			}
			for _, p := range []string{"/panic", "/abort", "/recovered"} {
				if byPath[p] != each {
					t.Errorf("%s: %d spans, want %d (all: %v)", p, byPath[p], each, byPath)
				}
			}
			hits = hitsSince(t, tr, h0)
			if hits[HitPanic] != 3*each || hits[HitRecovery] != 3*each {
				t.Errorf("gopanic %d, recovery %d hits for %d panics", hits[HitPanic], hits[HitRecovery], 3*each)
			}
		})
	}
}
