// Package redis starts a real redis-server for tests: on 127.0.0.1, on a port
// of its own, without persistence, in a temporary directory, stopped at test
// cleanup.
//
// The binary is found in $REDIS_SERVER_BIN, then as redis-server on $PATH
// (the Debian package redis-server). When it is missing, Start fails the test
// under CI=true and skips it otherwise (package prereq), naming the package.
package redis

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// Server is one running redis-server process.
type Server struct {
	// Addr is host:port ("127.0.0.1:40123").
	Addr string
	// Port is Addr's port.
	Port int

	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
	once   sync.Once
}

// Binary returns the path of redis-server.
func Binary() (string, error) {
	if p := os.Getenv("REDIS_SERVER_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("REDIS_SERVER_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	return "", errors.New("no redis-server binary: install the Debian package redis-server or set REDIS_SERVER_BIN")
}

// Start runs redis-server on 127.0.0.1 with a free port (no RDB snapshots,
// no append-only file, its directory a temporary one), waits until it
// answers PING and registers its shutdown with t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		prereq.Missing(t, "%v", err)
	}
	dir := t.TempDir()
	// The kernel picks the port and it is released just before redis binds
	// it; another process may take it in between, so try a few times.
	var lastErr error
	for range 3 {
		s, err := start(bin, dir)
		if err == nil {
			t.Cleanup(func() {
				if err := s.Stop(); err != nil {
					t.Errorf("stop redis-server: %v", err)
				}
				if t.Failed() {
					t.Logf("redis-server output:\n%s", s.Output())
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func start(bin, dir string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port:   port,
		output: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server exited before it answered: %s\n%s", s.cmd.ProcessState, s.Output())
		default:
		}
		if err := s.Do("PING"); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			_ = s.Stop()
			return nil, fmt.Errorf("redis-server at %s not answering PING: %v\n%s", s.Addr, err, s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Do sends one command (RESP, arguments as bulk strings) on a connection
// of its own and returns an error for an error reply or a failed exchange.
func (s *Server) Do(args ...string) error {
	_, err := s.Reply(args...)
	return err
}

// Reply sends one command and returns the first line of the reply ("+PONG",
// ":3", "$5"); an error reply ("-ERR ...") is returned as an error.
func (s *Server) Reply(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: read reply: %w", args[0], err)
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("%s: %s", args[0], line[1:])
	}
	return line, nil
}

// Stop shuts redis-server down (SIGTERM, SIGKILL after 5 s) and waits for it
// to exit; safe to call more than once.
func (s *Server) Stop() error {
	var err error
	s.once.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		if sigErr := s.cmd.Process.Signal(syscall.SIGTERM); sigErr != nil {
			err = fmt.Errorf("signal redis-server: %w", sigErr)
		}
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	return err
}

// Output is what redis-server has written so far.
func (s *Server) Output() string { return s.output.String() }

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
