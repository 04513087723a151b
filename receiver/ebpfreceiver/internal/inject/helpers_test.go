package inject

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// openInjector opens an injector for one test and closes it after.
func openInjector(t testing.TB) *Injector {
	t.Helper()
	prereq.RequireRoot(t, "loading sockops and sk_msg programs")
	in, err := Open(Options{})
	if err != nil {
		prereq.Missing(t, "BPF sockops/sk_msg: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// attachedInjector opens an injector attached to a cgroup of the test's own.
func attachedInjector(t testing.TB) (*Injector, string) {
	t.Helper()
	in := openInjector(t)
	dir := testCgroup(t)
	if err := in.AttachCgroup(dir); err != nil {
		t.Fatal(err)
	}
	return in, dir
}

// writeSpec writes what injclient's raw mode sends: each write is one
// Write call; methods name the requests, in order, whose responses it reads.
func writeSpec(t testing.TB, writes [][]byte, methods []string) string {
	t.Helper()
	return writeSpecSendfile(t, writes, methods, nil)
}

// writeSpecSendfile is writeSpec with the writes sendfile marks sent from a
// file (sendfile(2)).
func writeSpecSendfile(t testing.TB, writes [][]byte, methods []string, sendfile []bool) string {
	t.Helper()
	return writeSpecFull(t, writes, methods, sendfile, false)
}

// writeSpecHeld is a spec with nothing to send whose client keeps the
// connection open until one more step (client.release), then closes it.
func writeSpecHeld(t testing.TB) string {
	t.Helper()
	return writeSpecFull(t, nil, nil, nil, true)
}

func writeSpecFull(t testing.TB, writes [][]byte, methods []string, sendfile []bool, hold bool) string {
	t.Helper()
	b, err := json.Marshal(struct {
		Writes   [][]byte `json:"writes"`
		Methods  []string `json:"methods"`
		Sendfile []bool   `json:"sendfile"`
		Hold     bool     `json:"hold"`
	}{writes, methods, sendfile, hold})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// cgroup2Root is where the cgroup v2 hierarchy is mounted.
func cgroup2Root(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		prereq.Missing(t, "mountinfo: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		// "... mountpoint ... - fstype source options"
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if f := strings.Fields(pre); len(f) >= 5 {
			return f[4]
		}
	}
	prereq.Missing(t, "no cgroup v2 hierarchy mounted")
	return ""
}

// testCgroup makes a cgroup of the test's own, removed after (its
// processes are the test's and have exited by then).
func testCgroup(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(cgroup2Root(t), fmt.Sprintf("inject-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		prereq.Missing(t, "make a cgroup: %v", err)
	}
	t.Cleanup(func() {
		// A process that just exited may still be listed for a moment.
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return dir
}

var (
	clientOnce sync.Once
	clientPath string
	clientErr  error
)

// clientBinary builds testdata/injclient once per test binary.
func clientBinary(t testing.TB) string {
	t.Helper()
	clientOnce.Do(func() {
		dir, err := os.MkdirTemp("", "injclient-")
		if err != nil {
			clientErr = err
			return
		}
		clientPath = filepath.Join(dir, "injclient")
		out, err := exec.Command("go", "build", "-o", clientPath, "./testdata/injclient").CombinedOutput()
		if err != nil {
			clientErr = fmt.Errorf("build injclient: %v\n%s", err, out)
		}
	})
	if clientErr != nil {
		t.Fatal(clientErr)
	}
	return clientPath
}

// echoServer is a plain net/http server outside every test cgroup. It
// answers each request with the traceparent values it parsed, one per
// line, and keeps every byte each connection received.
type echoServer struct {
	addr string
	mu   sync.Mutex
	raw  map[string]*bytes.Buffer // by the client's address
	done map[string]bool          // connections whose reads ended, by client address
	tps  map[string][]string      // traceparent values parsed, by client address
}

type recordingConn struct {
	net.Conn
	s   *echoServer
	key string
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.mu.Lock()
	c.s.raw[c.key].Write(p[:n])
	if err != nil {
		c.s.done[c.key] = true
	}
	c.s.mu.Unlock()
	return n, err
}

type recordingListener struct {
	net.Listener
	s *echoServer
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	key := c.RemoteAddr().String()
	l.s.mu.Lock()
	l.s.raw[key] = &bytes.Buffer{}
	l.s.mu.Unlock()
	return &recordingConn{Conn: c, s: l.s, key: key}, nil
}

func startEchoServer(t testing.TB) *echoServer {
	t.Helper()
	return startEchoServerOn(t, "127.0.0.1:0")
}

// startEchoServerOn starts the echo server on a loopback address of the
// caller's choice (an IPv6 one, say).
func startEchoServerOn(t testing.TB, addr string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		prereq.Missing(t, "listen on %s: %v", addr, err)
	}
	s := &echoServer{addr: ln.Addr().String(), raw: map[string]*bytes.Buffer{}, done: map[string]bool{}, tps: map[string][]string{}}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			vals := r.Header.Values("Traceparent")
			s.mu.Lock()
			s.tps[r.RemoteAddr] = append(s.tps[r.RemoteAddr], strings.Join(vals, ","))
			s.mu.Unlock()
			fmt.Fprintln(w, strings.Join(vals, "\n"))
		}),
		ReadHeaderTimeout: time.Minute,
	}
	go srv.Serve(recordingListener{Listener: ln, s: s})
	t.Cleanup(func() { srv.Close() })
	return s
}

// received is every byte the server got from client address from. It waits
// (at most 5 s) for the server to have read the connection to its end: the
// client may have closed it before the server accepted or read it.
func (s *echoServer) received(from string) []byte {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		b, done := s.raw[from], s.done[from]
		var out []byte
		if b != nil {
			out = bytes.Clone(b.Bytes())
		}
		s.mu.Unlock()
		if done || time.Now().After(deadline) {
			return out
		}
	}
}

// parsed is the traceparent header values the server parsed per request
// (comma-joined when several) from client address from.
func (s *echoServer) parsed(from string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tps[from]...)
}

// client is a running injclient.
type client struct {
	t     testing.TB
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	lines chan string
	conn  Conn
	errs  *bytes.Buffer
}

// startClient runs injclient with args inside cgroup dir (or in the test's
// own cgroup when dir is ""), and reads its connection's 4-tuple.
func startClient(t testing.TB, dir string, args ...string) *client {
	t.Helper()
	cmd := exec.Command(clientBinary(t), args...)
	if dir != "" {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, cmd: cmd, in: stdin, lines: make(chan string, 16), errs: &bytes.Buffer{}}
	cmd.Stderr = c.errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// pid is the client's process id.
func (c *client) pid() int { return c.cmd.Process.Pid }

// expect waits for the client's next line, which must start with prefix.
func (c *client) expect(prefix string) string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("injclient ended before %q: %s", prefix, c.errs)
		}
		if !strings.HasPrefix(line, prefix) {
			c.t.Fatalf("injclient said %q, want %q...", line, prefix)
		}
		return line
	case <-time.After(time.Minute):
		c.t.Fatalf("injclient: no %q within a minute", prefix)
	}
	return ""
}

// connected reads the "conn <local> <remote>" line.
func (c *client) connected() Conn {
	c.t.Helper()
	f := strings.Fields(c.expect("conn "))
	c.conn = Conn{Local: netip.MustParseAddrPort(f[1]), Remote: netip.MustParseAddrPort(f[2])}
	return c.conn
}

// step lets the client take its next step and waits for it.
func (c *client) step() {
	c.t.Helper()
	if _, err := io.WriteString(c.in, "go\n"); err != nil {
		c.t.Fatalf("injclient stdin: %v (%s)", err, c.errs)
	}
	c.expect("ok")
}

// release lets the client go on without waiting (the dial hook's go).
func (c *client) release() {
	c.t.Helper()
	if _, err := io.WriteString(c.in, "go\n"); err != nil {
		c.t.Fatalf("injclient stdin: %v (%s)", err, c.errs)
	}
}

// finish waits for "done <responses> <2xx>" and a clean exit.
func (c *client) finish() (responses, ok int) {
	c.t.Helper()
	line := c.expect("done ")
	fmt.Sscanf(line, "done %d %d", &responses, &ok)
	if err := c.cmd.Wait(); err != nil {
		c.t.Fatalf("injclient exited with %v: %s", err, c.errs)
	}
	return responses, ok
}

// traceParentN is a distinct, valid traceparent for request n.
func traceParentN(n int) TraceParent {
	var tid [16]byte
	var sid [8]byte
	for i := range tid {
		tid[i] = byte(n*7 + i + 1)
	}
	for i := range sid {
		sid[i] = byte(n*13 + i + 3)
	}
	return NewTraceParent(tid, sid, 1)
}
