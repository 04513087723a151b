package integration

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/refusing"
)

// buildDemo compiles testdata/httpdemo with the local toolchain.
func buildDemo(t *testing.T, out string, ldflags string) {
	t.Helper()
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags="+ldflags)
	}
	args = append(args, "./testdata/httpdemo")
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", out, err, b)
	}
}

type target struct {
	cmd  *exec.Cmd
	base string
	port int
}

func startTarget(t *testing.T, exe, service string, port int, extra ...string) *target {
	t.Helper()
	cmd := exec.Command(exe, append([]string{"-addr", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)...)
	cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME="+service)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	tg := &target{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), port: port}
	t.Cleanup(tg.stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return tg
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not listen on %d", exe, port)
	return nil
}

func (tg *target) stop() {
	if tg.cmd.Process == nil || tg.cmd.ProcessState != nil {
		return
	}
	_ = tg.cmd.Process.Kill()
	_ = tg.cmd.Wait()
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

func get(t *testing.T, url string, header http.Header) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

type span struct {
	ptrace.Span
	resource pcommon.Map
}

func collect(sink *consumertest.TracesSink) []span {
	var out []span
	for _, td := range sink.AllTraces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j)
				for k := 0; k < ss.Spans().Len(); k++ {
					out = append(out, span{Span: ss.Spans().At(k), resource: rs.Resource().Attributes()})
				}
			}
		}
	}
	return out
}

// waitSpans waits until the sink holds want spans, then a further settle
// period to catch extras, and returns them.
func waitSpans(t *testing.T, sink *consumertest.TracesSink, want int) []span {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for sink.SpanCount() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond) // longer than the receiver's drain interval
	spans := collect(sink)
	if len(spans) != want {
		for _, s := range spans {
			t.Logf("span %s %v %v", s.Name(), s.Kind(), s.Attributes().AsRaw())
		}
		t.Fatalf("got %d spans, want exactly %d", len(spans), want)
	}
	return spans
}

// warmUp sends /chain requests until server and client spans both arrive
// (all probes of the process are attached), then empties the sink.
func warmUp(t *testing.T, sink *consumertest.TracesSink, tg *target) {
	t.Helper()
	sink.Reset() // spans of earlier targets must not count
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		get(t, tg.base+"/chain", nil)
		time.Sleep(100 * time.Millisecond)
		var server, clientSeen bool
		for _, s := range collect(sink) {
			server = server || s.Kind() == ptrace.SpanKindServer
			clientSeen = clientSeen || s.Kind() == ptrace.SpanKindClient
		}
		if server && clientSeen {
			time.Sleep(700 * time.Millisecond) // let the last spans drain
			sink.Reset()
			return
		}
	}
	t.Fatalf("target %s never traced", tg.base)
}

func strAttr(s span, k string) string {
	v, ok := s.Attributes().Get(k)
	if !ok {
		return ""
	}
	return v.AsString()
}

func intAttr(s span, k string) int64 {
	v, ok := s.Attributes().Get(k)
	if !ok {
		return -1
	}
	return v.Int()
}

func startReceiver(t *testing.T, glob string) (*consumertest.TracesSink, *componenttest.Telemetry, func()) {
	sink, tel, _, stop := startReceiverObserved(t, glob)
	return sink, tel, stop
}

// startReceiverObserved also returns the receiver's log records.
func startReceiverObserved(t *testing.T, glob string) (*consumertest.TracesSink, *componenttest.Telemetry, *observer.ObservedLogs, func()) {
	t.Helper()
	return startReceiverWith(t, glob, nil)
}

// startReceiverWith is startReceiverObserved with the default config
// changed by edit (when not nil).
func startReceiverWith(t *testing.T, glob string, edit func(*ebpfreceiver.Config)) (*consumertest.TracesSink, *componenttest.Telemetry, *observer.ObservedLogs, func()) {
	t.Helper()
	f := ebpfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfreceiver.Config)
	cfg.Discovery.Instrument = []ebpfreceiver.ProcessSelector{{ExePath: glob}}
	cfg.Discovery.PollInterval = 200 * time.Millisecond
	if edit != nil {
		edit(cfg)
	}
	tel := componenttest.NewTelemetry()
	set := receivertest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), t.Name())
	set.TelemetrySettings = tel.NewTelemetrySettings()
	core, logs := observer.New(zapcore.DebugLevel)
	set.Logger = zaptest.NewLogger(t).WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) }))
	sink := new(consumertest.TracesSink)
	rcv, err := f.CreateTraces(context.Background(), set, cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return sink, tel, logs, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rcv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		_ = tel.Shutdown(ctx)
	}
}

var _ receiver.Traces // keep the receiver import explicit for readers

// counterWith sums a counter's data points whose attribute key is value (all of
// them when key is "").
func counterWith(t *testing.T, tel *componenttest.Telemetry, name, key, value string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var sum int64
	if s, ok := m.Data.(metricdata.Sum[int64]); ok {
		for _, dp := range s.DataPoints {
			if v, ok := dp.Attributes.Value(attribute.Key(key)); key == "" || ok && v.AsString() == value {
				sum += dp.Value
			}
		}
	}
	return sum
}

func counterValue(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	return counterWith(t, tel, name, "", "")
}

func TestEBPFHTTPSpans(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	plain := filepath.Join(dir, "httpdemo")
	stripped := filepath.Join(dir, "httpdemo-stripped")
	buildDemo(t, plain, "")
	buildDemo(t, stripped, "-s -w")

	for _, tc := range []struct{ name, exe string }{{"unstripped", plain}, {"stripped", stripped}} {
		t.Run(tc.name, func(t *testing.T) {
			sink, tel, stop := startReceiver(t, tc.exe)
			defer stop()
			port, tlsPort := freePort(t), freePort(t)
			tg := startTarget(t, tc.exe, "demo-"+tc.name, port, "-tls-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort))
			warmUp(t, sink, tg)

			t.Run("server spans", func(t *testing.T) { testServerSpans(t, sink, tg) })
			t.Run("client spans and parents", func(t *testing.T) { testClientSpans(t, sink, tg) })
			t.Run("traceparent", func(t *testing.T) { testTraceparent(t, sink, tg) })
			t.Run("https", func(t *testing.T) { testHTTPS(t, sink, tlsPort) })
			t.Run("panics", func(t *testing.T) { testPanics(t, sink, tg) })
			t.Run("redaction", func(t *testing.T) { testRedaction(t, sink, tg) })
			if lost := counterValue(t, tel, "otelcol_receiver_ebpf_events_lost"); lost != 0 {
				t.Errorf("events lost: %d", lost)
			}
			if n := counterValue(t, tel, "otelcol_receiver_ebpf_spans_emitted"); n == 0 {
				t.Errorf("spans_emitted telemetry is 0")
			}
		})
	}
}

func testServerSpans(t *testing.T, sink *consumertest.TracesSink, tg *target) {
	sink.Reset()
	const hello, items, fail, teapot = 40, 15, 7, 5
	for i := range hello {
		if code := get(t, tg.base+"/hello", nil); code != 200 {
			t.Fatalf("/hello %d: %d", i, code)
		}
	}
	for i := range items {
		get(t, fmt.Sprintf("%s/items/%d", tg.base, i), nil)
	}
	for range fail {
		get(t, tg.base+"/fail", nil)
	}
	for range teapot {
		get(t, tg.base+"/teapot", nil)
	}
	spans := waitSpans(t, sink, hello+items+fail+teapot)
	byRoute := map[string]int{}
	for _, s := range spans {
		if s.Kind() != ptrace.SpanKindServer {
			t.Fatalf("unexpected %v span %s", s.Kind(), s.Name())
		}
		route := strAttr(s, "http.route")
		byRoute[route]++
		if got := strAttr(s, "http.request.method"); got != "GET" {
			t.Errorf("method %q", got)
		}
		if got := intAttr(s, "server.port"); got != int64(tg.port) {
			t.Errorf("server.port %d, want %d", got, tg.port)
		}
		if got := strAttr(s, "client.address"); got != "127.0.0.1" {
			t.Errorf("client.address %q", got)
		}
		if got := strAttr(s, "network.protocol.version"); got != "1.1" {
			t.Errorf("network.protocol.version %q", got)
		}
		if got := strAttr(s, "url.scheme"); got != "http" {
			t.Errorf("url.scheme %q", got)
		}
		if s.EndTimestamp() < s.StartTimestamp() || time.Since(s.StartTimestamp().AsTime()).Abs() > time.Minute {
			t.Errorf("timestamps %v..%v not near now", s.StartTimestamp().AsTime(), s.EndTimestamp().AsTime())
		}
		if got, _ := s.resource.Get("service.name"); !strings.HasPrefix(got.AsString(), "demo-") {
			t.Errorf("service.name %q", got.AsString())
		}
		if got, _ := s.resource.Get("process.pid"); got.Int() != int64(tg.cmd.Process.Pid) {
			t.Errorf("process.pid %d, want %d", got.Int(), tg.cmd.Process.Pid)
		}
		if got, _ := s.resource.Get("process.runtime.version"); !strings.HasPrefix(got.AsString(), "go1.") {
			t.Errorf("process.runtime.version %q", got.AsString())
		}
		wantStatus := map[string]int64{"/hello": 200, "/items/{id}": 200, "/fail": 500, "/teapot": 418}[route]
		if got := intAttr(s, "http.response.status_code"); got != wantStatus {
			t.Errorf("%s status %d, want %d", route, got, wantStatus)
		}
		wantErr := route == "/fail"
		if isErr := s.Status().Code() == ptrace.StatusCodeError; isErr != wantErr {
			t.Errorf("%s error status %t, want %t", route, isErr, wantErr)
		}
		if route == "/items/{id}" && (!strings.HasPrefix(strAttr(s, "url.path"), "/items/") || s.Name() != "GET /items/{id}") {
			t.Errorf("items span name %q path %q", s.Name(), strAttr(s, "url.path"))
		}
		if !s.ParentSpanID().IsEmpty() {
			t.Errorf("server span without incoming context has parent %v", s.ParentSpanID())
		}
	}
	want := map[string]int{"/hello": hello, "/items/{id}": items, "/fail": fail, "/teapot": teapot}
	for r, n := range want {
		if byRoute[r] != n {
			t.Errorf("route %s: %d spans, want %d (all: %v)", r, byRoute[r], n, byRoute)
		}
	}
}

func testClientSpans(t *testing.T, sink *consumertest.TracesSink, tg *target) {
	sink.Reset()
	const chain, fanout, broken = 10, 6, 3
	for range chain {
		get(t, tg.base+"/chain", nil)
	}
	for range fanout {
		get(t, tg.base+"/fanout", nil)
	}
	for range broken {
		get(t, tg.base+"/broken", nil)
	}
	// Each chain and fanout request: its server span, one client span and
	// the downstream server span (the demo calls itself). broken: server +
	// failed client.
	spans := waitSpans(t, sink, 3*chain+3*fanout+2*broken)
	servers := map[pcommon.SpanID]span{}
	for _, s := range spans {
		if s.Kind() == ptrace.SpanKindServer {
			servers[s.SpanID()] = s
		}
	}
	clients := 0
	for _, s := range spans {
		if s.Kind() != ptrace.SpanKindClient {
			continue
		}
		clients++
		parent, ok := servers[s.ParentSpanID()]
		if !ok {
			t.Errorf("client span %s (%s) has no server parent", s.Name(), strAttr(s, "url.full"))
			continue
		}
		if parent.TraceID() != s.TraceID() {
			t.Errorf("client trace %v != parent trace %v", s.TraceID(), parent.TraceID())
		}
		route := strAttr(parent, "http.route")
		switch route {
		case "/chain", "/fanout":
			wantPath := map[string]string{"/chain": "/hello", "/fanout": "/items/7"}[route]
			if got := strAttr(s, "url.full"); got != tg.base+wantPath {
				t.Errorf("%s client url.full %q, want %q", route, got, tg.base+wantPath)
			}
			if intAttr(s, "http.response.status_code") != 200 || intAttr(s, "server.port") != int64(tg.port) || strAttr(s, "server.address") != "127.0.0.1" {
				t.Errorf("%s client attrs %v", route, s.Attributes().AsRaw())
			}
			if s.Status().Code() == ptrace.StatusCodeError {
				t.Errorf("%s client span is an error", route)
			}
		case "/broken":
			if s.Status().Code() != ptrace.StatusCodeError || intAttr(s, "http.response.status_code") != -1 {
				t.Errorf("broken client span: status %v attrs %v", s.Status().Code(), s.Attributes().AsRaw())
			}
			if got := strAttr(s, "url.full"); got != "http://127.0.0.1:1/nowhere" {
				t.Errorf("broken url.full %q", got)
			}
		default:
			t.Errorf("client span under unexpected route %q", route)
		}
		if s.StartTimestamp() < parent.StartTimestamp() || s.EndTimestamp() > parent.EndTimestamp() {
			t.Errorf("client span [%v,%v] outside parent [%v,%v]", s.StartTimestamp(), s.EndTimestamp(), parent.StartTimestamp(), parent.EndTimestamp())
		}
	}
	if clients != chain+fanout+broken {
		t.Errorf("%d client spans, want %d", clients, chain+fanout+broken)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(time.Now().UnixNano())*2654435761+uint64(i))
	}
	return hex.EncodeToString(b[:n])
}

func testTraceparent(t *testing.T, sink *consumertest.TracesSink, tg *target) {
	sink.Reset()
	traceID, parentID := randomHex(16), randomHex(8)
	// Extra headers before and after: the scan must not depend on order.
	h := http.Header{}
	h.Set("X-Before", strings.Repeat("a", 300))
	h.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	h.Set("X-After", "b")
	get(t, tg.base+"/hello", h)
	b3Trace, b3Span := randomHex(16), randomHex(8)
	h = http.Header{}
	h.Set("B3", b3Trace+"-"+b3Span+"-1")
	get(t, tg.base+"/items/3", h)
	// An invalid traceparent is ignored.
	h = http.Header{}
	h.Set("Traceparent", "00-zz-yy-01")
	get(t, tg.base+"/teapot", h)
	spans := waitSpans(t, sink, 3)
	for _, s := range spans {
		switch strAttr(s, "http.route") {
		case "/hello":
			if got := s.TraceID(); hex.EncodeToString(got[:]) != traceID {
				t.Errorf("traceparent trace id %x, want %s", got, traceID)
			}
			if got := s.ParentSpanID(); hex.EncodeToString(got[:]) != parentID {
				t.Errorf("traceparent parent %x, want %s", got, parentID)
			}
		case "/items/{id}":
			if got := s.TraceID(); hex.EncodeToString(got[:]) != b3Trace {
				t.Errorf("b3 trace id %x, want %s", got, b3Trace)
			}
			if got := s.ParentSpanID(); hex.EncodeToString(got[:]) != b3Span {
				t.Errorf("b3 parent %x, want %s", got, b3Span)
			}
		case "/teapot":
			if !s.ParentSpanID().IsEmpty() {
				t.Errorf("invalid traceparent adopted: parent %v", s.ParentSpanID())
			}
		}
	}
}

func fdCount(t *testing.T) int {
	t.Helper()
	return len(fdTargets(t))
}

func fdTargets(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range fds {
		target, _ := os.Readlink("/proc/self/fd/" + fd.Name())
		out = append(out, fd.Name()+"->"+target)
	}
	return out
}

// TestEBPFHTTPRestartAndJunk kills and restarts a traced service, and runs a
// non-Go process and a Go program with a corrupt ELF section table in the
// match set.
func TestEBPFHTTPRestartAndJunk(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	exe := filepath.Join(dir, "svc-demo")
	buildDemo(t, exe, "")

	// Non-Go executable matching the glob.
	sleepPath, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	junkSleep := filepath.Join(dir, "svc-sleep")
	copyFile(t, sleepPath, junkSleep)
	// Go program whose section header table is overwritten: it runs (the
	// kernel only needs program headers) but ELF inspection must fail.
	corrupt := filepath.Join(dir, "svc-corrupt")
	copyFile(t, exe, corrupt)
	corruptSectionHeaders(t, corrupt)

	sink, tel, logs, stop := startReceiverObserved(t, filepath.Join(dir, "svc-*"))
	defer stop()
	sleeper := exec.Command(junkSleep, "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	_ = freePort(t) // initialise the runtime's network poller before counting fds
	time.Sleep(500 * time.Millisecond)
	// The base includes the sleeper's pidfd (held by os/exec until Wait).
	baseFDs := fdCount(t)
	baseTargets := fdTargets(t)
	corruptTarget := startTarget(t, corrupt, "corrupt", freePort(t))

	port := freePort(t)
	tg := startTarget(t, exe, "restart-demo", port)
	warmUp(t, sink, tg)
	for range 20 {
		get(t, tg.base+"/hello", nil)
	}
	waitSpans(t, sink, 20)
	// The corrupt binary still serves, untraced, and nothing crashed.
	if code := get(t, corruptTarget.base+"/hello", nil); code != 200 {
		t.Fatalf("corrupt target answered %d", code)
	}
	if n := counterValue(t, tel, "otelcol_receiver_ebpf_attach_failures"); n < 2 {
		t.Errorf("attach_failures = %d, want >= 2 (non-Go and corrupt)", n)
	}

	for round := range 2 {
		oldPid := tg.cmd.Process.Pid
		tg.stop()
		corruptTarget.stop()
		// After the poll notices the exits, every link and fd is released
		// (the test's own idle connections to the dead targets closed too).
		// A leaked fd stays; the receiver's discovery scan and the runtime
		// open fds for a moment, so one sample at or below the base within
		// the deadline is the pass, and a single sample after it proves
		// nothing.
		deadline := time.Now().Add(5 * time.Second)
		got := fdCount(t)
		for got > baseFDs && time.Now().Before(deadline) {
			client.CloseIdleConnections()
			time.Sleep(100 * time.Millisecond)
			got = fdCount(t)
		}
		if got > baseFDs {
			t.Errorf("round %d: fd count %d after target exit, base %d\nbase: %v\nnow:  %v", round, got, baseFDs, baseTargets, fdTargets(t))
		}
		sink.Reset()
		tg = startTarget(t, exe, "restart-demo", port)
		if tg.cmd.Process.Pid == oldPid {
			t.Fatalf("restart reused pid %d", oldPid)
		}
		corruptTarget = startTarget(t, corrupt, "corrupt", freePort(t))
		warmUp(t, sink, tg)
		for range 15 {
			get(t, tg.base+"/hello", nil)
		}
		spans := waitSpans(t, sink, 15)
		if got, _ := spans[0].resource.Get("process.pid"); got.Int() != int64(tg.cmd.Process.Pid) {
			t.Errorf("round %d: spans from pid %d, want new pid %d", round, got.Int(), tg.cmd.Process.Pid)
		}
	}
	if err := sleeper.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("non-Go process disturbed: %v", err)
	}
	// Three processes of the corrupt binary ran: one inspection, one warning.
	// The non-Go executable: one debug line.
	if n := logs.FilterMessage("Cannot instrument executable").Len(); n != 1 {
		t.Errorf("%d warnings for the corrupt binary, want 1", n)
	}
	if n := logs.FilterMessage("Skipping non-Go executable").Len(); n != 1 {
		t.Errorf("%d debug lines for the non-Go executable, want 1", n)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// corruptSectionHeaders fills the ELF section header table with garbage.
func corruptSectionHeaders(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	shoff := binary.LittleEndian.Uint64(b[0x28:])
	shentsize := uint64(binary.LittleEndian.Uint16(b[0x3a:]))
	shnum := uint64(binary.LittleEndian.Uint16(b[0x3c:]))
	end := shoff + shentsize*shnum
	if shoff == 0 || end > uint64(len(b)) {
		t.Fatalf("unexpected section header table at %d (+%d) in %d bytes", shoff, shentsize*shnum, len(b))
	}
	for i := shoff; i < end; i++ {
		b[i] = byte(i*131 + 7)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestEBPFReceiverSharedPipelines lists one receiver ID in a traces and a
// metrics pipeline: one instance, spans and runtime metrics of the same
// process under the same resource.
func TestEBPFReceiverSharedPipelines(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	exe := filepath.Join(dir, "shared-demo")
	buildDemo(t, exe, "-s -w")

	f := ebpfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfreceiver.Config)
	cfg.Discovery.Instrument = []ebpfreceiver.ProcessSelector{{ExePath: exe}}
	cfg.Discovery.PollInterval = 200 * time.Millisecond
	cfg.Metrics.CollectionInterval = 500 * time.Millisecond
	set := receivertest.NewNopSettings(f.Type())
	set.Logger = zaptest.NewLogger(t)
	traces, metrics := new(consumertest.TracesSink), new(consumertest.MetricsSink)
	tr, err := f.CreateTraces(context.Background(), set, cfg, traces)
	if err != nil {
		t.Fatal(err)
	}
	mr, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []component.Component{tr, mr} {
		if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, c := range []component.Component{tr, mr} {
			if err := c.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}()
	tg := startTarget(t, exe, "shared", freePort(t))
	warmUp(t, traces, tg)
	for range 5 {
		get(t, tg.base+"/hello", nil)
	}
	spans := waitSpans(t, traces, 5)
	deadline := time.Now().Add(10 * time.Second)
	for metrics.DataPointCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	found := false
	for _, md := range metrics.AllMetrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			res := md.ResourceMetrics().At(i).Resource().Attributes()
			pid, _ := res.Get("process.pid")
			name, _ := res.Get("service.name")
			if pid.Int() == int64(tg.cmd.Process.Pid) && name.AsString() == "shared" {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("no runtime metrics with the target's resource (pid %d, service.name shared); got %d data points", tg.cmd.Process.Pid, metrics.DataPointCount())
	}
	if name, _ := spans[0].resource.Get("service.name"); name.AsString() != "shared" {
		t.Errorf("span service.name %q", name.AsString())
	}
}

// testHTTPS serves HTTP/1.1 over TLS: the span says https, and the trace
// context scan works on the decrypted request head.
func testHTTPS(t *testing.T, sink *consumertest.TracesSink, tlsPort int) {
	sink.Reset()
	// A custom TLS config keeps net/http's client on HTTP/1.1.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	traceID, parentID := randomHex(16), randomHex(8)
	const n = 5
	for i := range n {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/hello", tlsPort), nil)
		if i == 0 {
			req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 1 {
			t.Fatalf("HTTPS request used HTTP/%d", resp.ProtoMajor)
		}
	}
	spans := waitSpans(t, sink, n)
	withParent := 0
	for _, s := range spans {
		if got := strAttr(s, "url.scheme"); got != "https" {
			t.Errorf("url.scheme %q, want https", got)
		}
		if intAttr(s, "server.port") != int64(tlsPort) || intAttr(s, "http.response.status_code") != 200 {
			t.Errorf("https span attrs %v", s.Attributes().AsRaw())
		}
		if id := s.TraceID(); hex.EncodeToString(id[:]) == traceID {
			withParent++
		}
	}
	if withParent != 1 {
		t.Errorf("%d https spans took the traceparent, want 1", withParent)
	}

	// HTTP/2 over TLS: spans with the status read from the HTTP/2 writer.
	sink.Reset()
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	defer h2.CloseIdleConnections()
	for _, path := range []string{"/hello", "/fail", "/teapot"} {
		resp, err := h2.Get(fmt.Sprintf("https://127.0.0.1:%d%s", tlsPort, path))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("expected HTTP/2, got HTTP/%d", resp.ProtoMajor)
		}
	}
	want := map[string]int64{"/hello": 200, "/fail": 500, "/teapot": 418}
	for _, s := range waitSpans(t, sink, 3) {
		path := strAttr(s, "url.path")
		if got := intAttr(s, "http.response.status_code"); got != want[path] {
			t.Errorf("h2 %s status %d, want %d", path, got, want[path])
		}
		if strAttr(s, "network.protocol.version") != "2" || strAttr(s, "url.scheme") != "https" {
			t.Errorf("h2 span attrs %v", s.Attributes().AsRaw())
		}
		if isErr := s.Status().Code() == ptrace.StatusCodeError; isErr != (path == "/fail") {
			t.Errorf("h2 %s error status %t", path, isErr)
		}
	}
}

// TestEBPFSpanAccounting runs with the smallest ring buffer, a burst of concurrent
// requests and a next consumer that refuses every second batch: every request is a
// span the next consumer took, a span it refused, or an event lost with its reason,
// and the receiver's counters say which, exactly:
//
//	requests        = events_received + events_lost{reason=ring_buffer_full}
//	events_received = spans_emitted + spans_refused + events_lost{reason=undecodable}
//
// (Undecodable events do not occur with the receiver's own BPF programs: that term
// is 0 here and is checked as such.)
func TestEBPFSpanAccounting(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	exe := filepath.Join(dir, "ring-demo")
	buildDemo(t, exe, "")
	f := ebpfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfreceiver.Config)
	cfg.Discovery.Instrument = []ebpfreceiver.ProcessSelector{{ExePath: exe}}
	cfg.Discovery.PollInterval = 200 * time.Millisecond
	cfg.RingBufferSize = 4 << 10
	tel := componenttest.NewTelemetry()
	defer func() { _ = tel.Shutdown(context.Background()) }()
	set := receivertest.NewNopSettings(f.Type())
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zaptest.NewLogger(t)
	sink := new(consumertest.TracesSink)
	next := &refusing.Traces{Every: 2, Next: sink}
	rcv, err := f.CreateTraces(context.Background(), set, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rcv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	tg := startTarget(t, exe, "ring", freePort(t))
	warmUp(t, sink, tg)

	type account struct{ received, emitted, refused, full, undecodable, accepted, turnedAway int64 }
	read := func() account {
		return account{
			received:    counterValue(t, tel, "otelcol_receiver_ebpf_events_received"),
			emitted:     counterValue(t, tel, "otelcol_receiver_ebpf_spans_emitted"),
			refused:     counterValue(t, tel, "otelcol_receiver_ebpf_spans_refused"),
			full:        counterWith(t, tel, "otelcol_receiver_ebpf_events_lost", "reason", "ring_buffer_full"),
			undecodable: counterWith(t, tel, "otelcol_receiver_ebpf_events_lost", "reason", "undecodable"),
			accepted:    int64(next.Accepted()),
			turnedAway:  int64(next.Refused()),
		}
	}
	since := func(a, b account) account {
		return account{a.received - b.received, a.emitted - b.emitted, a.refused - b.refused, a.full - b.full,
			a.undecodable - b.undecodable, a.accepted - b.accepted, a.turnedAway - b.turnedAway}
	}
	before := read()

	// Waves a drain interval apart, so the receiver drains several batches and the
	// next consumer refuses some of them.
	const waves, workers, perWorker = 4, 64, 2
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer c.CloseIdleConnections()
	for range waves {
		done := make(chan struct{})
		for range workers {
			go func() {
				defer func() { done <- struct{}{} }()
				for range perWorker {
					resp, err := c.Get(tg.base + "/hello")
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		for range workers {
			<-done
		}
		time.Sleep(300 * time.Millisecond)
	}
	const total = waves * workers * perWorker
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := since(read(), before); a.received+a.full >= total {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond) // longer than the drain interval
	a := since(read(), before)
	t.Logf("%d requests: %d events received (%d spans emitted, %d refused, %d undecodable), %d lost to a full 4 KiB ring",
		total, a.received, a.emitted, a.refused, a.undecodable, a.full)
	if a.received+a.full != total {
		t.Errorf("events received %d + lost (ring buffer full) %d = %d, want exactly %d requests", a.received, a.full, a.received+a.full, total)
	}
	if a.emitted+a.refused+a.undecodable != a.received {
		t.Errorf("emitted %d + refused %d + undecodable %d != received %d", a.emitted, a.refused, a.undecodable, a.received)
	}
	if a.emitted != a.accepted || a.refused != a.turnedAway {
		t.Errorf("counters say %d emitted, %d refused; the next consumer took %d and refused %d", a.emitted, a.refused, a.accepted, a.turnedAway)
	}
	if a.full == 0 || a.refused == 0 || a.undecodable != 0 {
		t.Errorf("the stream should have ring-buffer losses and refusals and no undecodable events: %+v", a)
	}
}

// testPanics: a handler that panics, with a string or with
// http.ErrAbortHandler, gives an error SERVER span; one that recovers its
// own panic gives an ordinary one.
func testPanics(t *testing.T, sink *consumertest.TracesSink, tg *target) {
	sink.Reset()
	// One connection per request: the client would resend a GET once on a
	// reused connection that closed without a response.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	const each = 3
	for range each {
		for _, p := range []string{"/panic", "/abort", "/recovered"} {
			resp, err := c.Get(tg.base + p)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if p == "/recovered" && (err != nil || resp.StatusCode != 200) {
				t.Fatalf("/recovered: %v", err)
			}
			if p != "/recovered" && err == nil {
				t.Fatalf("%s answered %d; net/http should have closed the connection", p, resp.StatusCode)
			}
		}
	}
	want := map[string]string{
		"/panic":     "Error error.type=string status=-1 msg=panic: boom",
		"/abort":     "Error error.type=http.ErrAbortHandler status=-1 msg=panic: net/http: abort Handler",
		"/recovered": "Unset error.type= status=200 msg=",
	}
	byRoute := map[string]int{}
	for _, s := range waitSpans(t, sink, 3*each) {
		route := strAttr(s, "http.route")
		byRoute[route]++
		got := fmt.Sprintf("%s error.type=%s status=%d msg=%s", s.Status().Code(), strAttr(s, "error.type"),
			intAttr(s, "http.response.status_code"), s.Status().Message())
		if got != want[route] {
			t.Errorf("%s span: %s, want %s", route, got, want[route])
		}
		if s.Kind() != ptrace.SpanKindServer || strAttr(s, "url.scheme") != "http" || s.Name() != "GET "+route {
			t.Errorf("%s span: kind %v name %q attrs %v", route, s.Kind(), s.Name(), s.Attributes().AsRaw())
		}
	}
	for r := range want {
		if byRoute[r] != each {
			t.Errorf("%s: %d spans, want %d (all %v)", r, byRoute[r], each, byRoute)
		}
	}
}

// testRedaction: a client call to a URL with credentials and signed-URL
// parameters; neither the client's url.full nor the downstream server's
// url.query carries them.
func testRedaction(t *testing.T, sink *consumertest.TracesSink, tg *target) {
	sink.Reset()
	const n = 2
	for range n {
		if code := get(t, tg.base+"/signed", nil); code != 200 {
			t.Fatalf("/signed: %d", code)
		}
	}
	const query = "X-Goog-Signature=REDACTED&keep=1&sig=REDACTED"
	clients, downstream := 0, 0
	for _, s := range waitSpans(t, sink, 3*n) {
		for _, secret := range []string{"s3cret", "alice", "deadbeef", "abc"} {
			for k, v := range s.Attributes().AsRaw() {
				if str, ok := v.(string); ok && strings.Contains(str, secret) {
					t.Errorf("%v span attribute %s=%q leaks %q", s.Kind(), k, str, secret)
				}
			}
		}
		switch {
		case s.Kind() == ptrace.SpanKindClient:
			clients++
			if got, want := strAttr(s, "url.full"), fmt.Sprintf("http://REDACTED:REDACTED@127.0.0.1:%d/hello?%s", tg.port, query); got != want {
				t.Errorf("client url.full %q, want %q", got, want)
			}
		case strAttr(s, "http.route") == "/hello":
			downstream++
			if got := strAttr(s, "url.query"); got != query {
				t.Errorf("server url.query %q, want %q", got, query)
			}
		}
	}
	if clients != n || downstream != n {
		t.Errorf("%d client and %d downstream server spans, want %d each", clients, downstream, n)
	}
}
