package inject

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCloseRestores: after Close, a connection that was in the sockhash
// keeps working and sends its next request unmodified.
func TestCloseRestores(t *testing.T) {
	in, dir := attachedInjector(t)
	srv := startEchoServer(t)
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	path := writeSpec(t, [][]byte{[]byte(req), []byte(req)}, []string{"GET", "GET"})
	c := startTracked(t, in, dir, "raw", srv.addr, path)
	tp := traceParentN(3)
	if err := in.SetPending(c.conn, tp); err != nil {
		t.Fatal(err)
	}
	c.step()
	if err := in.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.step()
	if n, ok := c.finish(); n != 2 || ok != 2 {
		t.Fatalf("client: %d responses, %d 2xx; want 2, 2", n, ok)
	}
	want := "GET / HTTP/1.1\r\nHost: x\r\ntraceparent: " + string(tp[:]) + "\r\n\r\n" + req
	if got := srv.received(c.conn.Local.String()); string(got) != want {
		t.Errorf("server received %q, want %q", got, want)
	}
}

// TestReceiverCountsInsertedBytes: the receiving socket is an ordinary one;
// FIONREAD on it counts the inserted line with the rest (a reader sizing
// its buffer by FIONREAD reads the whole request).
func TestReceiverCountsInsertedBytes(t *testing.T) {
	in, dir := attachedInjector(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	path := writeSpec(t, [][]byte{[]byte(req)}, nil)
	c := startTracked(t, in, dir, "raw", ln.Addr().String(), path)
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := in.SetPending(c.conn, traceParentN(4)); err != nil {
		t.Fatal(err)
	}
	c.step()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	want := len(req) + len("traceparent: \r\n") + TraceParentLen
	var n int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		raw.Control(func(fd uintptr) { n, err = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if err != nil {
			t.Fatal(err)
		}
		if n >= want {
			break
		}
	}
	if n != want {
		t.Fatalf("FIONREAD on the receiving socket: %d, want %d", n, want)
	}
	got := make([]byte, n)
	if _, err := conn.Read(got); err != nil || !bytes.Contains(got, []byte("\r\ntraceparent: 00-")) {
		t.Errorf("read %q, %v", got, err)
	}
	c.finish()
}
