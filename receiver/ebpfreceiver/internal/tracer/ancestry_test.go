package tracer

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/goroutines"
)

// With deep goroutine ancestry, a call made 8 go statements below a handler
// is the handler span's child, and a goroutine that outlives its request
// parents nothing: its call, made while the same connection serves a later
// request, starts a trace of its own rather than joining that request's.
func TestGoroutineAncestryDeep(t *testing.T) {
	prereq.RequireRoot(t, "the HTTP probes")
	pids, fronts, path := frontBack(t)
	frontPID, backPID, front := pids[0], pids[2], fronts[0]
	_, bin := resolveServer(t, path)
	tr := attachHTTP(t, Options{RingBufferSize: 1 << 22, Stitch: true, DeepGoroutines: true}, bin, frontPID, backPID)
	h0, _ := tr.Hits()
	// One connection: front serves every request on one goroutine, so the
	// straggler's creator is serving /release when the straggler calls.
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	const deep, outlive = 5, 3
	for range deep {
		mustGet(t, c, front+"/deep")
	}
	for range outlive {
		mustGet(t, c, front+"/outlive")
		mustGet(t, c, front+"/release")
	}
	spans := spansOf(t, tr, 3*deep+4*outlive)
	if len(spans) != 3*deep+4*outlive {
		t.Fatalf("%d spans, want %d", len(spans), 3*deep+4*outlive)
	}
	// The probe sits on newproc.func1's call of runqput (an emulated
	// CALL), not on newproc1's RETs, in a binary of this Go.
	if f := bin.Fallbacks[goroutines.Name]; f != nil {
		t.Errorf("goroutines probe fell back to newproc1's RETs: %v", f)
	}
	if hits := hitsSince(t, tr, h0); hits[goroutines.ProgNewprocRunqput] == 0 || hits[goroutines.ProgNewproc1Return] != 0 {
		t.Errorf("runqput call site not probed alone with DeepGoroutines (hits %v)", hits)
	}
	byID := map[[8]byte]span{}
	remotes := map[string]bool{}
	for _, s := range spans {
		byID[s.ids.SpanID] = s
		if s.server && s.pid == uint32(frontPID) {
			remotes[s.remote] = true
		}
	}
	if len(remotes) != 1 {
		t.Fatalf("front served the requests over %d connections, want 1: %v", len(remotes), remotes)
	}
	parentPath := func(s span) string {
		if !s.ids.HasParent {
			return "none"
		}
		p, ok := byID[s.ids.ParentSpanID]
		if !ok || p.ids.TraceID != s.ids.TraceID {
			return "a span not seen"
		}
		return map[bool]string{true: "server ", false: "client "}[p.server] + p.path + "?" + p.query
	}
	got := map[string]int{}
	for _, s := range spans {
		if s.pid == uint32(backPID) {
			if s.path != "/leaf" || parentPath(s) != "client /leaf?from=deep" && parentPath(s) != "client /leaf?from=straggler" {
				t.Errorf("back span %s: parent %s", s.path, parentPath(s))
			}
			continue
		}
		if s.server {
			got["server "+s.path+" parent "+parentPath(s)]++
			continue
		}
		got["client "+s.query+" parent "+parentPath(s)]++
	}
	want := map[string]int{
		"server /deep parent none":              deep,
		"client from=deep parent server /deep?": deep,
		"server /outlive parent none":           outlive,
		"server /release parent none":           outlive,
		// Not "parent server /release?": the straggler outlived /outlive.
		"client from=straggler parent none": outlive,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%q: %d spans, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func mustGet(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	// Read to the end, so the connection is reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", url, resp.Status)
	}
}
