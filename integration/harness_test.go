// Package integration runs the built distribution binary against real programs and real
// peers. `make test` builds bin/otelcol-goebpf first and points OTELCOL_GOEBPF_BIN at it.
package integration

import (
	"bytes"
	"context"
	"net"
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

// collectorBinary returns the path of the built distribution.
func collectorBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_GOEBPF_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../bin/otelcol-goebpf")
	}
	if _, err := os.Stat(bin); err != nil {
		prereq.Missing(t, "collector binary %s: %v (run `make build`)", bin, err)
	}
	return bin
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Collector is a running distribution binary.
type Collector struct {
	Cmd  *exec.Cmd
	Dir  string // a temp dir for the config and whatever the test's exporters write
	Logs *syncBuffer
	Args []string // the binary's arguments, for Restart
	done chan error
}

// startCollector writes config (after replacing every `{{DIR}}` with the collector's
// temp dir) and runs the binary with it, waiting until the collector reports it is ready.
// The collector is stopped with SIGTERM at the end of the test; its logs are printed if
// the test failed.
func startCollector(t *testing.T, config string, env ...string) *Collector {
	t.Helper()
	dir := t.TempDir()
	config = strings.ReplaceAll(config, "{{DIR}}", dir)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfgPath}
	if !strings.Contains(config, "telemetry:") {
		// The collector's own metrics would bind 127.0.0.1:8888, which any other
		// collector on the machine (another test, another build) may hold.
		args = append(args, "--set=service::telemetry::metrics::level=none")
	}
	return runCollector(t, dir, args, env...)
}

// runCollector starts the binary with args in dir and waits until it reports ready.
func runCollector(t *testing.T, dir string, args []string, env ...string) *Collector {
	t.Helper()
	c := launchCollector(t, dir, nil, args, env...)
	c.WaitForLog(t, "Everything is ready", 60*time.Second)
	return c
}

// launchCollector starts the binary with args in dir, run through the command
// prefix wrap (for example setpriv and its options) when given, without
// waiting for it to be ready.
func launchCollector(t *testing.T, dir string, wrap []string, args []string, env ...string) *Collector {
	t.Helper()
	c := &Collector{Dir: dir, Logs: &syncBuffer{}, Args: args, done: make(chan error, 1)}
	argv := append(append(wrap[:len(wrap):len(wrap)], collectorBinary(t)), args...)
	c.Cmd = exec.Command(argv[0], argv[1:]...)
	c.Cmd.Env = append(os.Environ(), env...)
	c.Cmd.Stdout, c.Cmd.Stderr = c.Logs, c.Logs
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.Cmd.Wait() }()
	t.Cleanup(func() {
		c.Stop(t)
		if t.Failed() {
			t.Logf("collector logs:\n%s", c.Logs.String())
		}
	})
	return c
}

// WaitForLog waits until the collector's output contains s.
func (c *Collector) WaitForLog(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(c.Logs.String(), s) {
			return
		}
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("collector exited (%v) before logging %q:\n%s", err, s, c.Logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("collector did not log %q within %s:\n%s", s, timeout, c.Logs.String())
}

// Stop sends SIGTERM and waits for a clean exit (exporters flush on shutdown).
func (c *Collector) Stop(t *testing.T) {
	t.Helper()
	if c.Cmd.ProcessState != nil {
		return
	}
	_ = c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Errorf("collector exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = c.Cmd.Process.Kill()
		t.Errorf("collector did not stop within 30s of SIGTERM")
	}
}

// Kill ends the collector with SIGKILL (no shutdown, nothing flushed) and waits for it.
func (c *Collector) Kill(t *testing.T) {
	t.Helper()
	if c.Cmd.ProcessState != nil {
		return
	}
	_ = c.Cmd.Process.Kill()
	err := <-c.done
	c.done <- err
}

// Restart runs the binary again with the same arguments in the same directory (its
// config, file_storage queues and output files), once the previous run has ended,
// and waits until it is ready.
func (c *Collector) Restart(t *testing.T) *Collector {
	t.Helper()
	if c.Cmd.ProcessState == nil {
		t.Fatalf("restart of a collector that is still running")
	}
	return runCollector(t, c.Dir, c.Args)
}

// Path returns a file path inside the collector's temp dir.
func (c *Collector) Path(name string) string { return filepath.Join(c.Dir, name) }

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, last)
}

// runBinary runs the collector binary with args and returns its combined output.
func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, collectorBinary(t), args...).CombinedOutput()
	return string(out), err
}

// buildGo builds the Go package at pkgDir into dir/name with the local toolchain and
// extra flags, returning the binary's path.
func buildGo(t *testing.T, pkgDir, dir, name string, flags ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = pkgDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkgDir, err, b)
	}
	return out
}

// WaitExit waits until the collector exits by itself and returns its exit error.
func (c *Collector) WaitExit(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("collector still running after %s:\n%s", timeout, c.Logs.String())
		return nil
	}
}
