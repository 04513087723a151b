package tracer

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// runServer starts exe on a free loopback address (args(addr) gives its
// command line), waits until it accepts connections, and returns its pid and
// address; the process is killed at cleanup.
func runServer(t *testing.T, exe string, args func(addr string) []string) (int, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(exe, args(addr)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd.Process.Pid, addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s", exe, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resolveServer inspects the executable at path and resolves its probe sites.
func resolveServer(t *testing.T, path string) (*goexe.Executable, Binary) {
	t.Helper()
	exe, err := goexe.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := ResolveBinary(exe)
	if err != nil {
		t.Fatal(err)
	}
	return exe, bin
}

// attachServer loads a tracer with opts and attaches the server probes to pid;
// both are closed at cleanup.
func attachServer(t *testing.T, opts Options, pid int, bin Binary) (*Tracer, *Attachment) {
	t.Helper()
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, Probes{httpserver.Name: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })
	return tr, att
}
