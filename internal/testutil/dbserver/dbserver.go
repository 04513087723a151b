// Package dbserver is what the postgres and mariadb test helpers share:
// a free port, a scratch directory another user may own, and a server
// process stopped at cleanup with its output kept for failures.
package dbserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ScratchDir makes a directory under the system temp dir that other users
// can traverse (t.TempDir's are 0700, and PostgreSQL refuses to run as
// root), removed at cleanup.
func ScratchDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatalf("scratch dir: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("scratch dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Buffer is a goroutine-safe output buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Process is a running server.
type Process struct {
	Name   string
	cmd    *exec.Cmd
	Output *Buffer
	exited chan struct{}
	err    error
	once   sync.Once
}

// Start starts cmd with its output captured.
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	p := &Process{Name: name, cmd: cmd, Output: &Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Output, p.Output
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.exited:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends sig and waits up to 20 s, then kills the process.
func (p *Process) Stop(sig syscall.Signal) error {
	var err error
	p.once.Do(func() {
		if done, _ := p.Exited(); done {
			return
		}
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			err = fmt.Errorf("%s did not stop within 20s of %v; killed", p.Name, sig)
		}
	})
	return err
}

// WaitReady runs ready until it succeeds, the process exits or timeout
// passes.
func (p *Process) WaitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if done, err := p.Exited(); done {
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.Name, err, p.Output)
		}
		if last = ready(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.Join(fmt.Errorf("%s not ready after %s", p.Name, timeout), last)
}
