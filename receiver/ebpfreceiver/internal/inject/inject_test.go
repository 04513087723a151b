package inject

import (
	"bytes"
	"strings"
	"testing"
)

// startTracked starts injclient in cgroup dir, tracked by in, and waits for
// its connection.
func startTracked(t *testing.T, in *Injector, dir string, args ...string) *client {
	t.Helper()
	c := startClient(t, dir, args...)
	if err := in.Track(c.pid()); err != nil {
		t.Fatal(err)
	}
	c.release()
	c.connected()
	return c
}

// TestInjectReachesPlainServer: a net/http client in a tracked process
// reaches a server the receiver does not instrument, which parses the
// offered traceparent on the first request; on the same keep-alive
// connection a second request with its own context gets that one, and a
// third with none gets nothing.
func TestInjectReachesPlainServer(t *testing.T) {
	in, dir := attachedInjector(t)
	srv := startEchoServer(t)
	c := startTracked(t, in, dir, "http", srv.addr, "3")

	tp0, tp1 := traceParentN(0), traceParentN(1)
	if err := in.SetPending(c.conn, tp0); err != nil {
		t.Fatal(err)
	}
	c.step()
	if err := in.SetPending(c.conn, tp1); err != nil {
		t.Fatal(err)
	}
	c.step()
	c.step() // nothing offered
	if n, ok := c.finish(); n != 3 || ok != 3 {
		t.Fatalf("client: %d responses, %d 2xx; want 3, 3", n, ok)
	}

	got := srv.parsed(c.conn.Local.String())
	want := []string{string(tp0[:]), string(tp1[:]), ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("server parsed traceparents %q, want %q", got, want)
	}
	raw := srv.received(c.conn.Local.String())
	if n := bytes.Count(raw, []byte("\r\ntraceparent: ")); n != 2 {
		t.Errorf("raw stream has %d inserted lines, want 2:\n%s", n, raw)
	}
	cnt, err := in.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cnt.Injected != 2 || cnt.SkippedNoPending != 1 || cnt.SocketsTracked != 1 {
		t.Errorf("counters %+v: want 2 injected, 1 skipped_no_pending, 1 socket tracked", cnt)
	}
}

// TestInjectIPv6: the connection key of an IPv6 socket matches what
// SetPending was given.
func TestInjectIPv6(t *testing.T) {
	in, dir := attachedInjector(t)
	srv := startEchoServerOn(t, "[::1]:0")
	req := "GET /v6 HTTP/1.1\r\nHost: x\r\n\r\n"
	c := startTracked(t, in, dir, "raw", srv.addr, writeSpec(t, [][]byte{[]byte(req)}, []string{"GET"}))
	if !c.conn.Local.Addr().Is6() {
		t.Fatalf("client connection %v is not IPv6", c.conn)
	}
	tp := traceParentN(6)
	if err := in.SetPending(c.conn, tp); err != nil {
		t.Fatal(err)
	}
	c.step()
	c.finish()
	want := "GET /v6 HTTP/1.1\r\nHost: x\r\ntraceparent: " + string(tp[:]) + "\r\n\r\n"
	if got := srv.received(c.conn.Local.String()); string(got) != want {
		t.Errorf("server received %q, want %q", got, want)
	}
}

// TestInjectNetHTTPPosts: net/http POSTs with 10 KB bodies (written in
// several writes after the head) on one keep-alive connection: every
// request's head gets its own context, the bodies arrive unchanged.
func TestInjectNetHTTPPosts(t *testing.T) {
	in, dir := attachedInjector(t)
	srv := startEchoServer(t)
	t.Setenv("INJCLIENT_POST_BYTES", "10000")
	c := startTracked(t, in, dir, "http", srv.addr, "3")
	var want []string
	for i := 0; i < 3; i++ {
		tp := traceParentN(10 + i)
		want = append(want, string(tp[:]))
		if err := in.SetPending(c.conn, tp); err != nil {
			t.Fatal(err)
		}
		c.step()
	}
	if n, ok := c.finish(); n != 3 || ok != 3 {
		t.Fatalf("client: %d responses, %d 2xx; want 3, 3", n, ok)
	}
	if got := srv.parsed(c.conn.Local.String()); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("server parsed traceparents %q, want %q", got, want)
	}
	raw := srv.received(c.conn.Local.String())
	if n := bytes.Count(raw, []byte("\r\ntraceparent: 00-")); n != 3 {
		t.Errorf("%d traceparent lines in the stream, want 3", n)
	}
	body := bytes.Repeat([]byte("\r\n\r\nGET / HTTP/1.1\r\n"), 10000/20+1)[:10000] // as injclient makes it
	if n := bytes.Count(raw, append([]byte("\r\n\r\n"), body...)); n != 3 {
		t.Errorf("%d intact bodies right after a head in the stream, want 3", n)
	}
	cnt, err := in.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cnt.Injected != 3 || cnt.MessageRuns <= 3 {
		t.Errorf("counters %+v: want 3 injected over more than 3 writes", cnt)
	}
	t.Logf("%d sk_msg runs for 3 requests", cnt.MessageRuns)
}
