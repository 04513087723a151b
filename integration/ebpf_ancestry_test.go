package integration

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// ancestryToolchains build frontback for TestEBPFGoroutineAncestryDefault:
// Debian's Go 1.19 (no runtime.g.parentGoid), Go 1.21 (the first with
// it), Go 1.22 and the local Go.
var ancestryToolchains = []string{"debian-1.19", "go1.21.13", "go1.22.12", "local"}

// Goroutine ancestry through the receiver with its default config, on
// unmodified, stripped services (frontback): front's /deep calls back's
// /leaf from a goroutine 8 go statements below its handler, and that call
// is the /deep server span's child (one trace per request, back's /leaf
// stitched under the call). front's /outlive leaves a goroutine behind that
// calls back's /leaf only while front serves the next request, /release, on
// the same keep-alive connection (so on the goroutine that created it): the
// straggler's call parents nothing and starts a trace of its own, never
// /release's. With goroutine_ancestry: parent this fails on Go >= 1.21 on
// both counts (the deep call starts its own trace, the straggler's call is
// /release's child).
func TestEBPFGoroutineAncestryDefault(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	versions := make([]string, len(ancestryToolchains))
	for i, tc := range ancestryToolchains {
		versions[i] = buildWith(t, "testdata/frontback", tc, filepath.Join(dir, fmt.Sprintf("frontback-anc-%d", i)), true)
	}
	sink, _, logs, stop := startReceiverWith(t, filepath.Join(dir, "frontback-anc-*"), nil)
	defer stop()
	for i, tc := range ancestryToolchains {
		t.Run(tc, func(t *testing.T) {
			t.Logf("frontback built with %s (%s), stripped", tc, versions[i])
			testAncestry(t, sink, filepath.Join(dir, fmt.Sprintf("frontback-anc-%d", i)))
		})
	}
	// The goroutines probe sat on runtime.newproc.func1's call of runqput
	// in every one of these builds, not on newproc1's RETs.
	for _, e := range logs.FilterMessage("Probe at its fallback sites for executable").All() {
		t.Errorf("fallback: %v", e.ContextMap())
	}
}

func testAncestry(t *testing.T, sink *consumertest.TracesSink, exe string) {
	backPort, frontPort := freePort(t), freePort(t)
	back := startService(t, exe, "back", "back", fmt.Sprintf("127.0.0.1:%d", backPort))
	front := startService(t, exe, "front", "front", fmt.Sprintf("127.0.0.1:%d", frontPort), fmt.Sprintf("http://127.0.0.1:%d", backPort))
	base := fmt.Sprintf("http://127.0.0.1:%d", frontPort)
	// One connection to front: every request is served by one goroutine,
	// the straggler's creator.
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	mustGet := func(path string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // to the end: the connection is reused
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}

	// Until both processes are instrumented: a /deep whose three spans
	// (front's server and client, back's server) arrive.
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.Reset()
		mustGet("/deep")
		time.Sleep(700 * time.Millisecond)
		if n := spansByPID(collect(sink)); n[front] == 2 && n[back] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("front and back never both traced")
		}
	}
	sink.Reset()

	const deep, outlive = 5, 3
	for range deep {
		mustGet("/deep")
	}
	for range outlive {
		mustGet("/outlive")
		mustGet("/release")
	}
	spans := waitSpans(t, sink, 3*deep+4*outlive)
	byID := map[pcommon.SpanID]span{}
	traces := map[pcommon.TraceID]int{}
	remotes := map[string]bool{}
	for _, s := range spans {
		byID[s.SpanID()] = s
		traces[s.TraceID()]++
		if s.Kind() == ptrace.SpanKindServer && serviceOf(s) == "front" {
			remotes[fmt.Sprint(intAttr(s, "client.port"))] = true
		}
	}
	if len(remotes) != 1 {
		t.Fatalf("front served the requests over %d connections, want 1: %v", len(remotes), remotes)
	}
	// Every request to front is one trace; the straggler's call one more.
	if want := deep + 3*outlive; len(traces) != want {
		t.Errorf("%d traces, want %d", len(traces), want)
	}
	describe := func(s span) string {
		if s.Kind() == ptrace.SpanKindServer {
			return serviceOf(s) + " server " + strAttr(s, "url.path")
		}
		_, q, _ := strings.Cut(strAttr(s, "url.full"), "?")
		return serviceOf(s) + " client " + q
	}
	parentOf := func(s span) string {
		if s.ParentSpanID().IsEmpty() {
			return "none"
		}
		p, ok := byID[s.ParentSpanID()]
		if !ok || p.TraceID() != s.TraceID() {
			return "a span not seen"
		}
		return describe(p)
	}
	got := map[string]int{}
	for _, s := range spans {
		got[describe(s)+" <- "+parentOf(s)]++
	}
	want := map[string]int{
		"front server /deep <- none":                       deep,
		"front client from=deep <- front server /deep":     deep,
		"back server /leaf <- front client from=deep":      deep,
		"front server /outlive <- none":                    outlive,
		"front server /release <- none":                    outlive,
		"front client from=straggler <- none":              outlive, // not /release's
		"back server /leaf <- front client from=straggler": outlive,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%q: %d spans, want %d", k, got[k], n)
		}
	}
	if t.Failed() {
		t.Logf("spans by (span <- parent): %v", got)
	}
}
