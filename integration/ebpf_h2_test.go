package integration

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// h2Toolchains build testdata/h2demo: the oldest toolchain supported
// (Debian's Go 1.19) and the local one (the newest).
var h2Toolchains = []string{"debian-1.19", "local"}

// writeSelfSigned writes a throwaway certificate for 127.0.0.1 and its key
// as PEM files in dir.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "h2demo"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// h2Client sends every request over one HTTP/2 connection: TLS (ALPN h2)
// for https URLs, h2c with prior knowledge for http URLs.
func h2Client(h2c bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// h2Get sends one request and returns its status and the local address of
// the connection it went on; it fails the test unless HTTP/2 was spoken.
func h2Get(t *testing.T, c *http.Client, url, traceparent string) (int, string) {
	t.Helper()
	var local string
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr().String() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, url, nil)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	// About 1 KiB of ordinary headers around the traceparent.
	req.Header.Set("user-agent", "h2-test/1.0 "+strings.Repeat("x", 100))
	req.Header.Set("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	req.Header.Set("cookie", "session="+strings.Repeat("c", 400))
	req.Header.Set("x-request-id", randomHex(16))
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, ""
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("GET %s spoke HTTP/%d.%d, want HTTP/2", url, resp.ProtoMajor, resp.ProtoMinor)
	}
	return resp.StatusCode, local
}

// TestEBPFHTTP2Server traces net/http's bundled HTTP/2 server, built with
// the oldest and the newest toolchain, stripped and not, over TLS (ALPN h2)
// and, where net/http has it (Go >= 1.24), h2c: one SERVER span per
// stream with the HTTP/1 server's attributes and network.protocol.version
// 2, concurrent streams on one connection each with its own incoming
// traceparent (or none), 500s as errors, a client call from the handler as
// the span's child (over HTTP/2: stitched to the server span of the stream
// it sent), and no other span.
func TestEBPFHTTP2Server(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	covered := tableMinors(t)
	type build struct{ name, exe, version string }
	var builds []build
	toolchains := h2Toolchains
	if v := os.Getenv("GOEBPF_TOOLCHAINS"); v != "" { // e.g. "local" to reproduce one case
		toolchains = strings.Split(v, ",")
	}
	for _, tc := range toolchains {
		exe := filepath.Join(dir, "h2demo-"+tc)
		builds = append(builds, build{tc, exe, buildWith(t, "testdata/h2demo", tc, exe, false)})
		v := buildWith(t, "testdata/h2demo", tc, exe+"-stripped", true)
		if !covered[goMinor(v)] {
			t.Fatalf("the offsets table has no entry for %s: stripped builds cannot be traced", v)
		}
		builds = append(builds, build{tc + "-stripped", exe + "-stripped", v})
	}
	sink, _, stop := startReceiver(t, filepath.Join(dir, "h2demo-*"))
	defer stop()
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			port, tlsPort := freePort(t), freePort(t)
			tg := startTarget(t, b.exe, "h2demo", port, "-tls-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort), "-cert", certFile, "-key", keyFile)
			defer tg.stop()
			tlsBase := fmt.Sprintf("https://127.0.0.1:%d", tlsPort)
			warmUpH2(t, sink, tlsBase)
			t.Run("tls", func(t *testing.T) { testH2Streams(t, sink, tlsBase, false, tlsPort, tlsPort) })
			if goMinor(b.version) >= 24 {
				t.Run("h2c", func(t *testing.T) { testH2Streams(t, sink, tg.base, true, port, tlsPort) })
			}
		})
	}
}

// warmUpH2 sends /chain over HTTP/2 until its server and client spans both
// arrive (the process is instrumented), then empties the sink.
func warmUpH2(t *testing.T, sink *consumertest.TracesSink, base string) {
	t.Helper()
	c := h2Client(false)
	defer c.CloseIdleConnections()
	sink.Reset()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h2Get(t, c, base+"/chain", "")
		time.Sleep(100 * time.Millisecond)
		var server, clientSeen bool
		for _, s := range collect(sink) {
			server = server || s.Kind() == ptrace.SpanKindServer && strAttr(s, "network.protocol.version") == "2"
			clientSeen = clientSeen || s.Kind() == ptrace.SpanKindClient
		}
		if server && clientSeen {
			time.Sleep(700 * time.Millisecond)
			sink.Reset()
			return
		}
	}
	t.Fatalf("%s never traced", base)
}

func testH2Streams(t *testing.T, sink *consumertest.TracesSink, base string, h2c bool, port, tlsPort int) {
	sink.Reset()
	c := h2Client(h2c)
	defer c.CloseIdleConnections()
	// The connection first, so that the concurrent requests share it.
	if code, _ := h2Get(t, c, base+"/hello", ""); code != 200 {
		t.Fatalf("/hello: %d", code)
	}
	// Concurrent streams, each in flight for 200 ms: the even ones carry
	// a traceparent of their own, the odd ones none.
	const streams = 8
	traceIDs, parentIDs := make([]string, streams), make([]string, streams)
	conns := make([]string, streams)
	var wg sync.WaitGroup
	for i := range streams {
		tp := ""
		if i%2 == 0 {
			traceIDs[i], parentIDs[i] = randomHex(16), randomHex(8)
			tp = "00-" + traceIDs[i] + "-" + parentIDs[i] + "-01"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, local := h2Get(t, c, fmt.Sprintf("%s/echo/%d?ms=200", base, i), tp)
			if code != 200 {
				t.Errorf("/echo/%d: %d", i, code)
			}
			conns[i] = local
		}()
	}
	wg.Wait()
	for i := range conns {
		if conns[i] != conns[0] {
			t.Fatalf("streams went over several connections: %v", conns)
		}
	}
	const fails = 2
	for range fails {
		if code, _ := h2Get(t, c, base+"/fail", ""); code != 500 {
			t.Errorf("/fail: %d", code)
		}
	}
	if code, _ := h2Get(t, c, base+"/chain", ""); code != 200 {
		t.Errorf("/chain: %d", code)
	}
	// Calls over HTTP/2 (TLS) from the handler, answered 200 and 500.
	for _, to := range []string{"/echo/down", "/fail/down"} {
		if code, _ := h2Get(t, c, base+"/chainh2?to="+to, ""); code != 200 {
			t.Errorf("/chainh2?to=%s: %d", to, code)
		}
	}
	// A handler that panics: net/http resets the stream.
	if resp, err := c.Get(base + "/panic"); err == nil {
		resp.Body.Close()
		t.Errorf("/panic answered %d", resp.StatusCode)
	}
	// /hello, the streams, the fails, /chain's server and client spans and
	// the HTTP/1.1 server span of the request /chain made; each /chainh2's
	// server and client spans and the server span of its HTTP/2 request;
	// /panic.
	spans := waitSpans(t, sink, 1+streams+fails+3+2*3+1)

	scheme := "https"
	if h2c {
		scheme = "http"
	}
	byID := map[string]span{}
	for _, s := range spans {
		byID[s.SpanID().String()] = s
	}
	var downstream span
	var clients, h2Down []span
	h2Spans := 0
	for _, s := range spans {
		if s.Kind() == ptrace.SpanKindClient {
			clients = append(clients, s)
			continue
		}
		path := strAttr(s, "url.path")
		if strAttr(s, "network.protocol.version") != "2" {
			if path != "/hello" || strAttr(s, "network.protocol.version") != "1.1" {
				t.Errorf("unexpected span %s %v", s.Name(), s.Attributes().AsRaw())
			}
			downstream = s
			continue
		}
		h2Spans++
		wantScheme, wantPort := scheme, port
		if strings.HasSuffix(path, "/down") {
			// The requests the /chainh2 handlers sent over TLS: stitched
			// over HTTP/2 to their client spans (checked below).
			h2Down = append(h2Down, s)
			wantScheme, wantPort = "https", tlsPort
		}
		if got := strAttr(s, "url.scheme"); got != wantScheme {
			t.Errorf("%s: url.scheme %q, want %s", path, got, wantScheme)
		}
		if got := intAttr(s, "server.port"); got != int64(wantPort) {
			t.Errorf("%s: server.port %d, want %d", path, got, wantPort)
		}
		if got := strAttr(s, "server.address"); got != "127.0.0.1" {
			t.Errorf("%s: server.address %q", path, got)
		}
		if got := strAttr(s, "client.address"); got != "127.0.0.1" || intAttr(s, "client.port") <= 0 {
			t.Errorf("%s: client %q:%d", path, got, intAttr(s, "client.port"))
		}
		if got := strAttr(s, "http.request.method"); got != "GET" {
			t.Errorf("%s: method %q", path, got)
		}
		isErr := s.Status().Code() == ptrace.StatusCodeError
		switch {
		case path == "/panic":
			if !isErr || strAttr(s, "error.type") != "string" || intAttr(s, "http.response.status_code") != -1 || s.Status().Message() != "panic: boom" {
				t.Errorf("/panic: error %t, error.type %q, status %d, message %q", isErr, strAttr(s, "error.type"), intAttr(s, "http.response.status_code"), s.Status().Message())
			}
		case strings.HasPrefix(path, "/fail"):
			if intAttr(s, "http.response.status_code") != 500 || !isErr {
				t.Errorf("%s: status %d, error %t", path, intAttr(s, "http.response.status_code"), isErr)
			}
		case intAttr(s, "http.response.status_code") != 200 || isErr:
			t.Errorf("%s: status %d, error %t", path, intAttr(s, "http.response.status_code"), isErr)
		}
		if strings.HasSuffix(path, "/down") {
			continue
		}
		if !strings.HasPrefix(path, "/echo/") {
			if !s.ParentSpanID().IsEmpty() {
				t.Errorf("%s has parent %s, sent none", path, s.ParentSpanID())
			}
			continue
		}
		var i int
		if _, err := fmt.Sscanf(path, "/echo/%d", &i); err != nil || i < 0 || i >= streams {
			t.Errorf("path %q", path)
			continue
		}
		tid, pid := s.TraceID(), s.ParentSpanID()
		if i%2 == 0 && (hex.EncodeToString(tid[:]) != traceIDs[i] || hex.EncodeToString(pid[:]) != parentIDs[i]) {
			t.Errorf("stream %d: trace %s parent %s, want the traceparent it sent (%s, %s)", i, tid, pid, traceIDs[i], parentIDs[i])
		}
		if i%2 == 1 && !pid.IsEmpty() {
			t.Errorf("stream %d sent no traceparent but has parent %s", i, pid)
		}
	}
	if want := 1 + streams + fails + 1 + 2 + 2 + 1; h2Spans != want {
		t.Errorf("%d HTTP/2 server spans, want %d", h2Spans, want)
	}
	if len(h2Down) != 2 {
		t.Errorf("%d server spans of the requests /chainh2 sent, want 2", len(h2Down))
	}
	// Each client span is the child of the server span of the handler
	// that made it, and reports the status its server sent.
	if len(clients) != 3 {
		t.Fatalf("%d client spans, want 3", len(clients))
	}
	for _, cl := range clients {
		parent, ok := byID[cl.ParentSpanID().String()]
		if !ok || parent.TraceID() != cl.TraceID() || parent.Kind() != ptrace.SpanKindServer {
			t.Errorf("client span %s %v is not the child of a server span", cl.Name(), cl.Attributes().AsRaw())
			continue
		}
		full, code := strAttr(cl, "url.full"), intAttr(cl, "http.response.status_code")
		isErr := cl.Status().Code() == ptrace.StatusCodeError
		switch strAttr(parent, "url.path") {
		case "/chain":
			if downstream.ParentSpanID() != cl.SpanID() || downstream.TraceID() != cl.TraceID() {
				t.Errorf("the HTTP/1.1 request /chain made is not the child of its client span (stitching)")
			}
			if code != 200 || isErr {
				t.Errorf("/chain's client span: %d, error %t", code, isErr)
			}
		case "/chainh2":
			want := fmt.Sprintf("https://127.0.0.1:%d/", tlsPort)
			switch {
			case strings.HasSuffix(full, "/echo/down"):
				if code != 200 || isErr {
					t.Errorf("client span %s: %d, error %t", full, code, isErr)
				}
			case strings.HasSuffix(full, "/fail/down"):
				if code != 500 || !isErr {
					t.Errorf("client span %s: %d, error %t", full, code, isErr)
				}
			default:
				t.Errorf("client span url.full %q", full)
			}
			if !strings.HasPrefix(full, want) {
				t.Errorf("client span url.full %q, want %s...", full, want)
			}
			// Stitched over HTTP/2: the server span of the stream the
			// client span sent is its child.
			children := 0
			for _, d := range h2Down {
				if d.ParentSpanID() == cl.SpanID() && d.TraceID() == cl.TraceID() && strings.HasSuffix(full, strAttr(d, "url.path")) {
					children++
				}
			}
			if children != 1 {
				t.Errorf("client span %s parents %d server spans of its stream, want 1", full, children)
			}
		default:
			t.Errorf("client span under %s", parent.Name())
		}
	}
}

// TestEBPFHTTP2XNetServer traces golang.org/x/net/http2's own server, served
// as h2c through its h2c package, and its own client, with this module's
// x/net (v0.60.0) and v0.30.0: one SERVER span per stream (the server runs
// handlers itself, without ServeHTTP), concurrent streams with their own
// traceparents, a 500 as an error, calls from the handler (net/http's
// client over HTTP/1.1, x/net's Transport over h2c, with the stream's
// status) as the stream span's children, the streams x/net's client opens
// stitched to its client spans, and no span for the HTTP/1
// request that hands the connection over (counted in h2c_handoffs).
// Without DWARF x/net's server layout is unknown: its streams' spans have
// no status, and the receiver says why, once.
func TestEBPFHTTP2XNetServer(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		// xnet is the golang.org/x/net version ("": this module's, v0.60.0,
		// where the client's implementation is roundTripOpt; v0.30.0 has
		// it in RoundTripOpt).
		xnet     string
		stripped bool
	}{
		{"unstripped", "", false},
		{"x-net-v0.30.0", "v0.30.0", false},
		// Stripped: the offsets table by x/net release (the newest and the
		// oldest it lists).
		{"stripped-" + xnetNewest, xnetNewest, true},
		{"stripped-" + xnetOld, xnetOld, true},
		// Stripped, of a version the table does not list: no x/net probe.
		{"stripped-unlisted", xnetUnlisted, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exe := filepath.Join(dir, "h2xnet-"+tc.name)
			buildXNet(t, exe, tc.xnet, tc.stripped)
			sink, tel, logs, stop := startReceiverObserved(t, exe)
			defer stop()
			port, tlsPort := freePort(t), freePort(t)
			certFile, keyFile := writeSelfSigned(t, t.TempDir())
			tg := startTarget(t, exe, "h2xnet", port, "-tls-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort), "-cert", certFile, "-key", keyFile)
			defer tg.stop()
			if tc.xnet == xnetUnlisted {
				testXNetUnlisted(t, sink, tel, logs, tg)
				return
			}
			warmUp(t, sink, tg) // over HTTP/1.1 (the probes are attached, any warning logged)
			if warned := logs.FilterMessageSnippet("golang.org/x/net/http2's own server"); warned.Len() != 0 {
				t.Errorf("%d warnings about x/net's layout: %v", warned.Len(), warned.All()[0].ContextMap())
			}
			handoffs0 := counterValue(t, tel, "otelcol_receiver_ebpf_h2c_handoffs")
			testXNetStreams(t, sink, tg)
			// The test's one h2c connection, once it is closed.
			waitFor(t, "one h2c handoff counted", func() bool {
				return counterValue(t, tel, "otelcol_receiver_ebpf_h2c_handoffs")-handoffs0 == 1
			})
			// h2c by Upgrade: the upgraded request is stream 1, one span;
			// the HTTP/1 request that carried it is a handoff.
			sink.Reset()
			if code := h2cUpgradeGet(t, fmt.Sprintf("127.0.0.1:%d", port), "/echo/up"); code != "200" {
				t.Errorf("upgraded request: status %q", code)
			}
			spans := waitSpans(t, sink, 1)
			if s := spans[0]; strAttr(s, "url.path") != "/echo/up" || strAttr(s, "network.protocol.version") != "2" || intAttr(s, "http.response.status_code") != 200 {
				t.Errorf("upgraded request's span %s %v", s.Name(), s.Attributes().AsRaw())
			}
			waitFor(t, "the upgrade counted as an h2c handoff", func() bool {
				return counterValue(t, tel, "otelcol_receiver_ebpf_h2c_handoffs")-handoffs0 == 2
			})
			// x/net's server behind net/http's over TLS: its runHandler
			// calls ServeHTTP; one span per stream, x/net's.
			sink.Reset()
			c := h2Client(false)
			defer c.CloseIdleConnections()
			traceID, parentID := randomHex(16), randomHex(8)
			tlsBase := fmt.Sprintf("https://127.0.0.1:%d", tlsPort)
			if code, _ := h2Get(t, c, tlsBase+"/echo/tls", "00-"+traceID+"-"+parentID+"-01"); code != 200 {
				t.Errorf("/echo/tls: %d", code)
			}
			if code, _ := h2Get(t, c, tlsBase+"/fail", ""); code != 500 {
				t.Errorf("/fail over TLS: %d", code)
			}
			for _, s := range waitSpans(t, sink, 2) {
				tid, pid := s.TraceID(), s.ParentSpanID()
				switch path := strAttr(s, "url.path"); path {
				case "/echo/tls":
					if hex.EncodeToString(tid[:]) != traceID || hex.EncodeToString(pid[:]) != parentID || intAttr(s, "http.response.status_code") != 200 {
						t.Errorf("/echo/tls span: trace %s parent %s status %d", tid, pid, intAttr(s, "http.response.status_code"))
					}
				case "/fail":
					if intAttr(s, "http.response.status_code") != 500 || s.Status().Code() != ptrace.StatusCodeError {
						t.Errorf("/fail over TLS: status %d", intAttr(s, "http.response.status_code"))
					}
				default:
					t.Errorf("unexpected span %s", s.Name())
				}
				if strAttr(s, "url.scheme") != "https" || strAttr(s, "network.protocol.version") != "2" || intAttr(s, "server.port") != int64(tlsPort) {
					t.Errorf("TLS span attributes %v", s.Attributes().AsRaw())
				}
			}
		})
	}
}

// buildXNet builds testdata/h2xnet with this module's golang.org/x/net, or,
// given a version, in a module of its own requiring that version.
func buildXNet(t *testing.T, exe, version string, stripped bool) {
	t.Helper()
	args := []string{"build", "-o", exe}
	if stripped {
		args = append(args, "-ldflags=-s -w")
	}
	run := func(dir string, args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	if version == "" {
		run(".", append(args, "./testdata/h2xnet")...)
		return
	}
	src := t.TempDir()
	code, err := os.ReadFile("testdata/h2xnet/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	mod := "module h2xnet\n\ngo 1.22\n\nrequire golang.org/x/net " + version + "\n"
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	run(src, "mod", "tidy")
	run(src, append(args, ".")...)
}

func testXNetStreams(t *testing.T, sink *consumertest.TracesSink, tg *target) {
	sink.Reset()
	c := h2Client(true)
	if code, _ := h2Get(t, c, tg.base+"/hello", ""); code != 200 {
		t.Fatalf("/hello: %d", code)
	}
	const streams = 6
	traceIDs, parentIDs := make([]string, streams), make([]string, streams)
	var wg sync.WaitGroup
	conns := make([]string, streams)
	for i := range streams {
		tp := ""
		if i%2 == 0 {
			traceIDs[i], parentIDs[i] = randomHex(16), randomHex(8)
			tp = "00-" + traceIDs[i] + "-" + parentIDs[i] + "-01"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, conns[i] = h2Get(t, c, fmt.Sprintf("%s/echo/%d?ms=200", tg.base, i), tp)
		}()
	}
	wg.Wait()
	for i := range conns {
		if conns[i] != conns[0] {
			t.Fatalf("streams went over several connections: %v", conns)
		}
	}
	if code, _ := h2Get(t, c, tg.base+"/fail", ""); code != 500 {
		t.Errorf("/fail: %d", code)
	}
	if code, _ := h2Get(t, c, tg.base+"/chain", ""); code != 200 {
		t.Errorf("/chain: %d", code)
	}
	// Calls with x/net's own client (h2c), answered 200 and 500.
	for _, to := range []string{"/echo/down", "/fail/down"} {
		if code, _ := h2Get(t, c, tg.base+"/chainxnet?to="+to, ""); code != 200 {
			t.Errorf("/chainxnet?to=%s: %d", to, code)
		}
	}
	// A panic x/net's server recovers (the stream is reset), and one the
	// handler recovers itself.
	if resp, err := c.Get(tg.base + "/panic"); err == nil {
		resp.Body.Close()
		t.Errorf("/panic answered %d", resp.StatusCode)
	}
	if code, _ := h2Get(t, c, tg.base+"/recovered", ""); code != 200 {
		t.Errorf("/recovered: %d", code)
	}
	c.CloseIdleConnections() // ends the HTTP/1 request that handed the connection over
	// /hello, the streams, /fail, /chain, its client span and the HTTP/1.1
	// server span of its request; per /chainxnet its span, its client span
	// and the span of the stream it opened; /panic, /recovered; nothing for
	// the handoff.
	spans := waitSpans(t, sink, 1+streams+1+3+2*3+2)
	byID := map[string]span{}
	for _, s := range spans {
		byID[s.SpanID().String()] = s
	}
	var chain, client, downstream span
	var xnetClients, xnetDown []span
	for _, s := range spans {
		path := strAttr(s, "url.path")
		switch {
		case s.Kind() == ptrace.SpanKindClient && byID[s.ParentSpanID().String()].Name() == "GET /chainxnet":
			xnetClients = append(xnetClients, s)
			continue
		case s.Kind() == ptrace.SpanKindClient:
			client = s
			continue
		case strAttr(s, "network.protocol.version") == "1.1" && path == "/hello":
			downstream = s
			continue
		case strAttr(s, "network.protocol.version") != "2":
			t.Errorf("unexpected span %s %v", s.Name(), s.Attributes().AsRaw())
			continue
		}
		if strAttr(s, "url.scheme") != "http" || intAttr(s, "server.port") != int64(tg.port) || strAttr(s, "client.address") != "127.0.0.1" || strAttr(s, "http.request.method") != "GET" {
			t.Errorf("%s: attributes %v", path, s.Attributes().AsRaw())
		}
		isErr := s.Status().Code() == ptrace.StatusCodeError
		wantCode := int64(200)
		if strings.HasPrefix(path, "/fail") {
			wantCode = 500
		}
		if path == "/panic" {
			if !isErr || strAttr(s, "error.type") != "string" || intAttr(s, "http.response.status_code") != -1 || s.Status().Message() != "panic: boom" {
				t.Errorf("/panic: error %t, error.type %q, status %d, message %q", isErr, strAttr(s, "error.type"), intAttr(s, "http.response.status_code"), s.Status().Message())
			}
			continue
		}
		if intAttr(s, "http.response.status_code") != wantCode || isErr != (wantCode == 500) {
			t.Errorf("%s: status %d, error %t", path, intAttr(s, "http.response.status_code"), isErr)
		}
		if path == "/chain" {
			chain = s
		}
		if strings.HasSuffix(path, "/down") {
			// The streams x/net's client opened: stitched (checked below).
			xnetDown = append(xnetDown, s)
			continue
		}
		var i int
		if _, err := fmt.Sscanf(path, "/echo/%d", &i); err != nil {
			if !s.ParentSpanID().IsEmpty() {
				t.Errorf("%s has parent %s, sent none", path, s.ParentSpanID())
			}
			continue
		}
		tid, pid := s.TraceID(), s.ParentSpanID()
		if i%2 == 0 && (hex.EncodeToString(tid[:]) != traceIDs[i] || hex.EncodeToString(pid[:]) != parentIDs[i]) {
			t.Errorf("stream %d: trace %s parent %s, want the traceparent it sent (%s, %s)", i, tid, pid, traceIDs[i], parentIDs[i])
		}
		if i%2 == 1 && !pid.IsEmpty() {
			t.Errorf("stream %d sent no traceparent but has parent %s", i, pid)
		}
	}
	if client.ParentSpanID() != chain.SpanID() || client.TraceID() != chain.TraceID() || chain.TraceID().IsEmpty() {
		t.Errorf("the client span /chain made is not its child")
	}
	if downstream.ParentSpanID() != client.SpanID() || downstream.TraceID() != client.TraceID() {
		t.Errorf("the HTTP/1.1 request /chain made is not the child of its client span (stitching)")
	}
	// x/net's client: a CLIENT span per call, the child of the handler's
	// span, with the status of the stream's response.
	if len(xnetClients) != 2 {
		t.Fatalf("%d client spans under /chainxnet, want 2", len(xnetClients))
	}
	for _, cl := range xnetClients {
		full, code, isErr := strAttr(cl, "url.full"), intAttr(cl, "http.response.status_code"), cl.Status().Code() == ptrace.StatusCodeError
		want := int64(200)
		if strings.HasSuffix(full, "/fail/down") {
			want = 500
		}
		if code != want || isErr != (want == 500) || !strings.HasPrefix(full, tg.base+"/") {
			t.Errorf("x/net client span %s: status %d, error %t", full, code, isErr)
		}
		if cl.TraceID() != byID[cl.ParentSpanID().String()].TraceID() {
			t.Errorf("x/net client span %s is not in its parent's trace", full)
		}
		// Stitched over HTTP/2 (x/net's client to x/net's server): the
		// server span of the stream it opened is its child.
		children := 0
		for _, d := range xnetDown {
			if d.ParentSpanID() == cl.SpanID() && d.TraceID() == cl.TraceID() && strings.HasSuffix(full, strAttr(d, "url.path")) {
				children++
			}
		}
		if children != 1 {
			t.Errorf("x/net client span %s parents %d server spans of its stream, want 1", full, children)
		}
	}
}

// Versions of golang.org/x/net the stripped variants are built with: the
// newest and the oldest release the offsets table lists (RoundTripOpt is
// the client's implementation there, roundTripOpt in the newest), and a
// pseudo-version between v0.46.0 and v0.47.0, which the table does not
// list.
const (
	xnetNewest   = "v0.63.0"
	xnetOld      = "v0.1.0"
	xnetUnlisted = "v0.46.1-0.20251013234738-63d1a5100f82"
)

// testXNetUnlisted: a stripped binary of an x/net version the offsets
// table does not list gets one warning naming the version, and no x/net
// probe: no span for x/net's streams nor for its client's calls, while
// net/http's HTTP/1.1 requests are traced.
func testXNetUnlisted(t *testing.T, sink *consumertest.TracesSink, tel *componenttest.Telemetry, logs *observer.ObservedLogs, tg *target) {
	const warning = "golang.org/x/net/http2's own server"
	waitFor(t, "the warning about x/net's layout", func() bool {
		return logs.FilterMessageSnippet(warning).Len() > 0
	})
	// The HTTP/1 server probe is attached: an HTTP/1.1 request is traced.
	waitFor(t, "an HTTP/1.1 request traced", func() bool {
		get(t, tg.base+"/hello", nil)
		time.Sleep(300 * time.Millisecond)
		return sink.SpanCount() > 0
	})
	warnings := logs.FilterMessageSnippet(warning).All()
	if len(warnings) != 1 {
		t.Errorf("%d warnings, want 1", len(warnings))
	}
	if msg := fmt.Sprint(warnings[0].ContextMap()["error"]); !strings.Contains(msg, xnetUnlisted) {
		t.Errorf("the warning does not name x/net %s: %s", xnetUnlisted, msg)
	}
	time.Sleep(700 * time.Millisecond)
	sink.Reset()
	handoffs0 := counterValue(t, tel, "otelcol_receiver_ebpf_h2c_handoffs")
	c := h2Client(true)
	for range 3 {
		if code, _ := h2Get(t, c, tg.base+"/hello", ""); code != 200 {
			t.Errorf("/hello over h2c: %d", code)
		}
	}
	c.CloseIdleConnections()
	waitFor(t, "one h2c handoff counted", func() bool {
		return counterValue(t, tel, "otelcol_receiver_ebpf_h2c_handoffs")-handoffs0 == 1
	})
	// And by Upgrade (the HTTP server probe sees x/net's serveConn).
	if code := h2cUpgradeGet(t, strings.TrimPrefix(tg.base, "http://"), "/hello"); code != "200" {
		t.Errorf("upgraded request: status %q", code)
	}
	waitFor(t, "the upgrade counted as an h2c handoff", func() bool {
		return counterValue(t, tel, "otelcol_receiver_ebpf_h2c_handoffs")-handoffs0 == 2
	})
	// An HTTP/1.1 request whose handler calls with x/net's client: its
	// server span only (no client span, no span for the stream it opened).
	if code := get(t, tg.base+"/chainxnet?to=/echo/down", nil); code != 200 {
		t.Errorf("/chainxnet over HTTP/1.1: %d", code)
	}
	// Exactly one span (waitSpans fails on more): none for the h2c streams
	// above either.
	if s := waitSpans(t, sink, 1)[0]; strAttr(s, "url.path") != "/chainxnet" || s.Kind() != ptrace.SpanKindServer || strAttr(s, "network.protocol.version") != "1.1" {
		t.Errorf("span %s %v, want the HTTP/1.1 server span of /chainxnet", s.Name(), s.Attributes().AsRaw())
	}
}

// h2cUpgradeGet sends GET path as an HTTP/1.1 request asking to upgrade to
// h2c (RFC 7540 3.2, as curl --http2 does), then speaks HTTP/2 on the
// connection until stream 1 (the upgraded request) ends; returns the
// status it got.
func h2cUpgradeGet(t *testing.T, addr, path string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n", path, addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d", resp.StatusCode)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	status := ""
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 {
				status = f.PseudoValue("status")
				if f.StreamEnded() {
					return status
				}
			}
		case *http2.DataFrame:
			if f.StreamID == 1 && f.StreamEnded() {
				return status
			}
		case *http2.GoAwayFrame, *http2.RSTStreamFrame:
			t.Fatalf("stream 1 ended by %v", f.Header().Type)
		}
	}
}
