package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver"
)

// rawRequest is one request as the echo server received it, byte for byte.
type rawRequest struct {
	from string // the client's address: one per connection
	head []byte // request line to the empty line, CRLFs included
	body []byte
}

// path is the request target.
func (r rawRequest) path() string {
	line, _, _ := bytes.Cut(r.head, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// headerLines are the head's header lines, in order, without CRLF.
func (r rawRequest) headerLines() []string {
	lines := strings.Split(strings.TrimSuffix(string(r.head), "\r\n\r\n"), "\r\n")
	return lines[1:]
}

// rawEchoServer is a plain HTTP/1.1 server the receiver does not
// instrument (it runs in the test process): it keeps every request's exact
// bytes and answers each with the traceparent values it got, one per line.
type rawEchoServer struct {
	addr string
	mu   sync.Mutex
	reqs map[string]rawRequest // by path
}

func startRawEchoServer(t *testing.T) *rawEchoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawEchoServer{addr: ln.Addr().String(), reqs: map[string]rawRequest{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *rawEchoServer) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		var head []byte
		for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			head = append(head, line...)
			if len(head) > 1<<20 {
				return
			}
		}
		r := rawRequest{from: c.RemoteAddr().String(), head: head}
		var tps []string
		n := 0
		for _, l := range r.headerLines() {
			name, value, _ := strings.Cut(l, ":")
			value = strings.TrimSpace(value)
			switch strings.ToLower(name) {
			case "content-length":
				n, _ = strconv.Atoi(value)
			case "traceparent":
				tps = append(tps, value)
			}
		}
		r.body = make([]byte, n)
		if _, err := io.ReadFull(br, r.body); err != nil {
			return
		}
		s.mu.Lock()
		s.reqs[r.path()] = r
		s.mu.Unlock()
		answer := strings.Join(tps, "\n")
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(answer), answer); err != nil {
			return
		}
	}
}

func (s *rawEchoServer) request(path string) (rawRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[path]
	return r, ok
}

// injectRequest and injectResult are testdata/injectclient's protocol.
type injectRequest struct {
	ID      int         `json:"id"`
	Session int         `json:"session"`
	Method  string      `json:"method"`
	URL     string      `json:"url"`
	Headers [][2]string `json:"headers"`
	Body    []byte      `json:"body"`
	// Insecure: the session trusts any certificate (first request only).
	Insecure bool `json:"insecure"`
}

type injectResult struct {
	ID     int    `json:"id"`
	Status int    `json:"status"`
	Err    string `json:"err"`
	Body   []byte `json:"body"`
}

// injectClient is a running testdata/injectclient.
type injectClient struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	results chan injectResult
	stderr  *syncBuffer
}

// cgroup2Dir makes a cgroup v2 directory of the test's own, removed after
// the processes in it (started later, so stopped first) are gone.
func cgroup2Dir(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	root := ""
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if f := strings.Fields(pre); ok && strings.HasPrefix(post, "cgroup2 ") && len(f) >= 5 {
			root = f[4]
			break
		}
	}
	if root == "" {
		prereq.Missing(t, "no cgroup v2 hierarchy mounted")
	}
	dir := filepath.Join(root, fmt.Sprintf("goebpf-inject-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		prereq.Missing(t, "make a cgroup: %v", err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return dir
}

// startInjectClient runs exe inside cgroup dir.
func startInjectClient(t *testing.T, exe, dir string) *injectClient {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(exe)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	c := &injectClient{cmd: cmd, results: make(chan injectResult, 4096), stderr: &syncBuffer{}}
	cmd.Stderr = c.stderr
	if c.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	go func() {
		dec := json.NewDecoder(stdout)
		for {
			var r injectResult
			if dec.Decode(&r) != nil {
				close(c.results)
				return
			}
			c.results <- r
		}
	}()
	return c
}

// run sends reqs (sessions in parallel, each session's in order) and
// returns their results by id.
func (c *injectClient) run(t *testing.T, reqs []injectRequest) map[int]injectResult {
	t.Helper()
	enc := json.NewEncoder(c.in)
	for _, r := range reqs {
		if err := enc.Encode(r); err != nil {
			t.Fatalf("send to injectclient: %v (stderr: %s)", err, c.stderr)
		}
	}
	out := map[int]injectResult{}
	timeout := time.After(60 * time.Second)
	for len(out) < len(reqs) {
		select {
		case r, ok := <-c.results:
			if !ok {
				t.Fatalf("injectclient ended: %s", c.stderr)
			}
			out[r.ID] = r
		case <-timeout:
			t.Fatalf("%d of %d results within a minute", len(out), len(reqs))
		}
	}
	return out
}

// startInjectingReceiver starts the receiver with traces.propagation.inject
// on, instrumenting exe, and waits until it instrumented pid.
func startInjectingReceiver(t *testing.T, exe string) (*consumertest.TracesSink, *componenttest.Telemetry, *observer.ObservedLogs, func()) {
	t.Helper()
	f := ebpfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfreceiver.Config)
	cfg.Discovery.Instrument = []ebpfreceiver.ProcessSelector{{ExePath: exe}}
	cfg.Discovery.PollInterval = 200 * time.Millisecond
	cfg.Traces.Propagation.Inject = true
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

// injectSetup builds the stripped client, starts the echo server and the
// client in a cgroup of its own, runs before (when not nil: the client
// is not instrumented yet), then starts the receiver and waits until it
// instrumented the client and tracks it for injection.
func injectSetup(t *testing.T, before func(*rawEchoServer, *injectClient)) (*rawEchoServer, *injectClient, *consumertest.TracesSink, *componenttest.Telemetry) {
	t.Helper()
	prereq.RequireRoot(t, "eBPF tests")
	exe := filepath.Join(t.TempDir(), "injectclient")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", exe, "./testdata/injectclient")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build injectclient: %v\n%s", err, out)
	}
	srv := startRawEchoServer(t)
	dir := cgroup2Dir(t)
	client := startInjectClient(t, exe, dir)
	if before != nil {
		before(srv, client)
	}
	sink, tel, logs, stop := startInjectingReceiver(t, exe)
	t.Cleanup(stop)
	pid := client.cmd.Process.Pid
	deadline := time.Now().Add(30 * time.Second)
	for {
		instrumented := false
		for _, e := range logs.FilterMessage("Instrumented process").All() {
			if e.ContextMap()["pid"] == int64(pid) {
				instrumented = true
			}
		}
		if instrumented {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client pid %d never instrumented", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, msg := range []string{"No traceparent injection for process", "traces.propagation.inject is on but"} {
		if n := logs.FilterMessageSnippet(msg).Len(); n > 0 {
			t.Fatalf("receiver logged %q: %v", msg, logs.FilterMessageSnippet(msg).All()[0].ContextMap())
		}
	}
	return srv, client, sink, tel
}

// clientSpansByPath waits for want client spans and returns them by
// url.full's path.
func clientSpansByPath(t *testing.T, sink *consumertest.TracesSink, want int) map[string]span {
	t.Helper()
	out := map[string]span{}
	for _, s := range waitSpans(t, sink, want) {
		if s.Kind() != ptrace.SpanKindClient {
			t.Fatalf("unexpected %v span %s", s.Kind(), s.Name())
		}
		u, err := url.Parse(strAttr(s, "url.full"))
		if err != nil {
			t.Fatalf("client span url.full: %v", err)
		}
		out[u.Path] = s
	}
	return out
}

func traceparentOf(s span) string {
	tid, sid := s.TraceID(), s.SpanID()
	return "00-" + hex.EncodeToString(tid[:]) + "-" + hex.EncodeToString(sid[:]) + "-01"
}

// injectCounters reads the receiver's injection telemetry.
type injectCounters struct {
	injected, skipped, ownTraceparent, notSent, notTracked, tls int64
}

func readInjectCounters(t *testing.T, tel *componenttest.Telemetry) injectCounters {
	t.Helper()
	return injectCounters{
		injected:       counterValue(t, tel, "otelcol_receiver_ebpf_inject_injected"),
		skipped:        counterValue(t, tel, "otelcol_receiver_ebpf_inject_skipped"),
		ownTraceparent: counterWith(t, tel, "otelcol_receiver_ebpf_inject_skipped", "reason", "has_traceparent"),
		notSent:        counterWith(t, tel, "otelcol_receiver_ebpf_inject_skipped", "reason", "not_sent"),
		notTracked:     counterWith(t, tel, "otelcol_receiver_ebpf_inject_skipped", "reason", "not_tracked"),
		tls:            counterWith(t, tel, "otelcol_receiver_ebpf_inject_skipped", "reason", "tls"),
	}
}

// waitInjectCounters waits until the counters account for n requests
// (injected + skipped >= n), then a drain interval more.
func waitInjectCounters(t *testing.T, tel *componenttest.Telemetry, base injectCounters, n int64) injectCounters {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := readInjectCounters(t, tel)
		if c.injected-base.injected+c.skipped-base.skipped >= n || time.Now().After(deadline) {
			time.Sleep(500 * time.Millisecond)
			return readInjectCounters(t, tel)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An instrumented, stripped net/http client calling a plain server the
// receiver does not instrument: each request the application sent without
// a traceparent arrives with exactly one, its client span's, as the head's
// last header line; requests that carry their own arrive untouched, and
// their client spans adopt the application's trace and parent; on a
// keep-alive connection each request gets its own span's context; several
// connections at once each get theirs. A connection opened before the
// receiver tracked the process is not in the inject object's live_conns:
// the client probe offers no context for its requests (none can go to a
// later request) and counts them as not_tracked. Every other offer carries
// its socket's cookie, or the sk_msg program would refuse it (counted
// stale_context, the request left without a traceparent).
func TestEBPFInjectReachesUninstrumentedServer(t *testing.T) {
	urlOf := func(srv *rawEchoServer, p string) string { return "http://" + srv.addr + p }
	srv, client, sink, tel := injectSetup(t, func(srv *rawEchoServer, c *injectClient) {
		c.run(t, []injectRequest{{ID: 0, Session: 0, Method: "GET", URL: urlOf(srv, "/early/0")}})
	})
	base := readInjectCounters(t, tel)
	own := "00-" + strings.Repeat("ab", 16) + "-" + strings.Repeat("cd", 8) + "-01"
	var reqs []injectRequest
	add := func(session int, path string, headers ...[2]string) {
		reqs = append(reqs, injectRequest{ID: len(reqs), Session: session, Method: "GET", URL: urlOf(srv, path), Headers: headers})
	}
	// The connection opened before the process was tracked.
	early := 2
	for i := 1; i <= early; i++ {
		add(0, fmt.Sprintf("/early/%d", i))
	}
	// Keep-alive: four requests on one connection.
	for i := range 4 {
		add(1, fmt.Sprintf("/ka/%d", i))
	}
	// The application's own traceparent (two spellings), then one without
	// on the same connection.
	add(2, "/own/0", [2]string{"traceparent", own})
	add(2, "/own/1", [2]string{"TraceParent", own})
	add(2, "/own/2")
	// TLS (HTTP/1.1): the bytes are encrypted before the socket; nothing is
	// offered, the connection is counted once as tls.
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join(r.Header.Values("Traceparent"), "\n"))
	}))
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	for i := range 2 {
		reqs = append(reqs, injectRequest{ID: len(reqs), Session: 8, Method: "GET", URL: fmt.Sprintf("%s/tls/%d", tlsSrv.URL, i), Insecure: true})
	}
	// Concurrent: five connections, three requests each.
	for s := 3; s < 8; s++ {
		for i := range 3 {
			add(s, fmt.Sprintf("/conc/%d/%d", s, i))
		}
	}
	for id, r := range client.run(t, reqs) {
		if r.Err != "" || r.Status != 200 {
			t.Fatalf("request %d (%s): status %d, error %q", id, reqs[id].URL, r.Status, r.Err)
		}
		if reqs[id].Session == 8 && len(r.Body) != 0 {
			t.Errorf("%s: the TLS server got traceparent %q, want none", reqs[id].URL, r.Body)
		}
	}
	spans := clientSpansByPath(t, sink, len(reqs))
	ownCount, injected := 0, 0
	conns := map[int]map[string]bool{}
	for _, q := range reqs {
		if q.Session == 8 {
			continue // TLS, checked above
		}
		path := strings.TrimPrefix(q.URL, "http://"+srv.addr)
		got, ok := srv.request(path)
		if !ok {
			t.Fatalf("server never got %s", path)
		}
		if conns[q.Session] == nil {
			conns[q.Session] = map[string]bool{}
		}
		conns[q.Session][got.from] = true
		var tps []string
		for _, l := range got.headerLines() {
			if name, v, _ := strings.Cut(l, ":"); strings.EqualFold(name, "traceparent") {
				tps = append(tps, strings.TrimSpace(v))
			}
		}
		if q.Session == 0 {
			if len(tps) != 0 {
				t.Errorf("%s, on a connection opened before tracking: traceparent %q, want none", path, tps)
			}
			continue
		}
		s, ok := spans[path]
		if !ok {
			t.Fatalf("no client span for %s", path)
		}
		if len(q.Headers) > 0 {
			ownCount++
			if len(tps) != 1 || tps[0] != own {
				t.Errorf("%s: the application's traceparent arrived as %q, want exactly [%s]", path, tps, own)
			}
			// The client span adopts the application's context.
			tid, parent := s.TraceID(), s.ParentSpanID()
			if got := "00-" + hex.EncodeToString(tid[:]) + "-" + hex.EncodeToString(parent[:]) + "-01"; got != own {
				t.Errorf("%s: client span's trace and parent %s, want the application's %s", path, got, own)
			}
			continue
		}
		lines := got.headerLines()
		want := "traceparent: " + traceparentOf(s)
		if len(tps) != 1 || lines[len(lines)-1] != want {
			t.Errorf("%s: traceparent headers %q (last header line %q), want exactly one last line %q", path, tps, lines[len(lines)-1], want)
			continue
		}
		injected++
	}
	for session, from := range conns {
		if len(from) != 1 {
			t.Errorf("session %d used %d connections, want 1 (keep-alive)", session, len(from))
		}
	}
	c := waitInjectCounters(t, tel, base, int64(len(reqs)))
	if got := c.injected - base.injected; got != int64(injected) {
		t.Errorf("inject_injected +%d, want +%d", got, injected)
	}
	if got := c.ownTraceparent - base.ownTraceparent; got != int64(ownCount) {
		t.Errorf("inject_skipped{reason=has_traceparent} +%d, want +%d", got, ownCount)
	}
	if got := c.notTracked - base.notTracked; got != int64(early) {
		t.Errorf("inject_skipped{reason=not_tracked} +%d, want +%d (the requests on the untracked connection)", got, early)
	}
	if got := c.notSent - base.notSent; got != 0 {
		t.Errorf("inject_skipped{reason=not_sent} +%d, want +0 (no offer for the untracked connection to withdraw)", got)
	}
	if got := c.tls - base.tls; got != 1 {
		t.Errorf("inject_skipped{reason=tls} +%d, want +1 (one TLS connection)", got)
	}
	if got := c.skipped - base.skipped; got != int64(ownCount+early+1) {
		t.Errorf("inject_skipped +%d in all, want +%d (own traceparents, untracked connection, TLS connection)", got, ownCount+early+1)
	}
}

// Header safety end to end: seeded random requests (0–100 headers with
// random mixed-case names and values, heads from a few bytes to past the
// 8 KiB scan limit, some with their own traceparent in random case, bodies
// full of CRLFs, request lines and traceparent lines) from the
// instrumented client, several keep-alive connections at once, to the raw
// echo server. Every request must succeed; every body must arrive byte for
// byte; every head must arrive with exactly the application's header lines
// plus, at most, one traceparent line, its client span's, as the last
// line, and never one when the application sent its own. A request whose
// head fits well inside one 4 KiB write, on a connection no earlier request
// made unfollowable, must get the line; every request left unchanged must
// be counted as skipped. INJECT_SEED=n replays another seed.
func TestEBPFInjectHeaderSafety(t *testing.T) {
	seed := int64(16)
	if v := os.Getenv("INJECT_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	t.Logf("INJECT_SEED=%d", seed)
	rng := rand.New(rand.NewSource(seed))
	srv, client, sink, tel := injectSetup(t, nil)
	base := readInjectCounters(t, tel)

	const tokenChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~"
	reserved := map[string]bool{"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
		"trailer": true, "te": true, "upgrade": true, "expect": true, "user-agent": true, "traceparent": true,
		"accept-encoding": true, "proxy-connection": true, "keep-alive": true}
	randToken := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = tokenChars[rng.Intn(len(tokenChars))]
		}
		return string(b)
	}
	randValue := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(0x21 + rng.Intn(0x7e-0x21+1)) // visible ASCII; spaces inside below
			if i > 0 && i < n-1 && rng.Intn(8) == 0 {
				b[i] = ' '
			}
		}
		return string(b)
	}
	mixCase := func(s string) string {
		b := []byte(s)
		for i := range b {
			if rng.Intn(2) == 0 {
				b[i] = bytes.ToUpper(b[i : i+1])[0]
			}
		}
		return string(b)
	}
	junk := []string{"\r\n\r\n", "traceparent: 00-11111111111111111111111111111111-2222222222222222-01\r\n",
		"GET /x HTTP/1.1\r\n", "\r\n", "Content-Length: 5\r\n\r\n"}
	randBody := func() []byte {
		var b []byte
		switch rng.Intn(3) {
		case 0:
			return nil
		case 1:
			b = make([]byte, rng.Intn(300))
		default:
			b = make([]byte, rng.Intn(20000))
		}
		rng.Read(b)
		for i := 0; i < len(b)/200+1 && len(b) > 100; i++ {
			j := junk[rng.Intn(len(junk))]
			copy(b[rng.Intn(len(b)-len(j)):], j)
		}
		return b
	}

	const sessions, perSession = 8, 10
	own := map[int]string{}
	var reqs []injectRequest
	for i := range perSession {
		for s := range sessions {
			id := len(reqs)
			var headers [][2]string
			n := rng.Intn(101)
			// Most heads stay under 4 KiB; some grow towards and past the limit.
			budget := 200 + rng.Intn(3000)
			if rng.Intn(6) == 0 {
				budget = 3000 + rng.Intn(7000)
			}
			size := 0
			for range n {
				name := randToken(1 + rng.Intn(24))
				if reserved[strings.ToLower(name)] {
					continue
				}
				value := randValue(rng.Intn(120) + 1)
				if size+len(name)+len(value)+4 > budget {
					break
				}
				size += len(name) + len(value) + 4
				headers = append(headers, [2]string{mixCase(name), value})
			}
			if rng.Intn(8) == 0 {
				tp := fmt.Sprintf("00-%032x-%016x-01", rng.Uint64(), rng.Uint64())
				own[id] = tp
				headers = append(headers, [2]string{mixCase("traceparent"), tp})
			}
			method := "GET"
			body := randBody()
			if len(body) > 0 {
				method = []string{"POST", "PUT", "PATCH"}[rng.Intn(3)]
			}
			reqs = append(reqs, injectRequest{ID: id, Session: s, Method: method,
				URL: fmt.Sprintf("http://%s/safety/%d/%d", srv.addr, s, i), Headers: headers, Body: body})
		}
	}
	for id, r := range client.run(t, reqs) {
		if r.Err != "" || r.Status != 200 {
			t.Fatalf("request %d: status %d, error %q: the client must never fail", id, r.Status, r.Err)
		}
	}
	spans := clientSpansByPath(t, sink, len(reqs))

	// Go's client adds these; the rest of the head is the application's.
	added := map[string]bool{"host": true, "user-agent": true, "content-length": true}
	injected, unchanged := 0, 0
	followable := map[int]bool{}
	for s := range sessions {
		followable[s] = true
	}
	for _, q := range reqs {
		path := strings.TrimPrefix(q.URL, "http://"+srv.addr)
		got, ok := srv.request(path)
		if !ok {
			t.Fatalf("server never got %s", path)
		}
		if !bytes.Equal(got.body, q.Body) {
			t.Errorf("%s: body of %d bytes arrived as %d bytes, not byte-identical", path, len(q.Body), len(got.body))
		}
		var app []string
		for _, l := range got.headerLines() {
			name, _, _ := strings.Cut(l, ":")
			if !added[strings.ToLower(name)] {
				app = append(app, l)
			}
		}
		var sent []string
		for _, h := range q.Headers {
			sent = append(sent, h[0]+": "+h[1])
		}
		tpLine := "traceparent: " + traceparentOf(spans[path])
		inserted := len(app) == len(sent)+1 && app[len(app)-1] == tpLine &&
			got.headerLines()[len(got.headerLines())-1] == tpLine
		if inserted {
			app = app[:len(app)-1]
		}
		slices.Sort(app)
		slices.Sort(sent)
		if !slices.Equal(app, sent) {
			t.Errorf("%s: the application's header lines changed:\n got %q\nwant %q", path, app, sent)
			continue
		}
		_, hasOwn := own[q.ID]
		headLen := len(got.head)
		if inserted {
			headLen -= len(tpLine) + 2
			injected++
			if hasOwn {
				t.Errorf("%s: a traceparent was added to a request that had its own", path)
			}
		} else {
			unchanged++
			if !hasOwn && followable[q.Session] && headLen < 3800 {
				t.Errorf("%s: head of %d bytes in one write on a followable connection, but nothing inserted", path, headLen)
			}
		}
		// A head past Go's 4 KiB write buffer is split across writes: the
		// connection's later boundaries are not followed.
		if headLen >= 3800 {
			followable[q.Session] = false
		}
	}
	c := waitInjectCounters(t, tel, base, int64(len(reqs)))
	if got := c.injected - base.injected; got != int64(injected) {
		t.Errorf("inject_injected +%d, the server saw %d insertions", got, injected)
	}
	if got := c.skipped - base.skipped; got < int64(unchanged) {
		t.Errorf("inject_skipped +%d, but %d requests were left unchanged", got, unchanged)
	}
	if injected < len(reqs)/3 {
		t.Errorf("only %d of %d requests injected: the test exercises too little", injected, len(reqs))
	}
	t.Logf("%d requests: %d injected, %d unchanged (%d with their own traceparent)", len(reqs), injected, unchanged, len(own))
}
