package tracer

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

const helloServer = `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hi")) })
	http.ListenAndServe(os.Args[1], nil)
}
`

// startHelloServer builds and runs a minimal net/http server and returns its
// pid, executable and base URL.
func startHelloServer(t *testing.T) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"main.go": helloServer, "go.mod": "module hello\n\ngo 1.24\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "hello")
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(exe, addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("hello server did not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd.Process.Pid, exe, "http://" + addr
}

// TestAttachBothWays attaches the server probes as uprobe_multi links (the
// default) and as perf_event uprobes (the fallback of kernels before 6.6):
// both count one entry and one return hit per request.
func TestAttachBothWays(t *testing.T) {
	prereq.RequireRoot(t, "attaching uprobes")
	pid, exe, base := startHelloServer(t)
	ins, err := goexe.Inspect(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := ResolveBinary(ins)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, perf := range []bool{false, true} {
		t.Run(fmt.Sprintf("perf_event uprobes %v", perf), func(t *testing.T) {
			tr, err := New(Options{RingBufferSize: 1 << 16, PerfEventUprobes: perf})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			cookie, err := tr.AddBinary(bin.Offsets)
			if err != nil {
				t.Fatal(err)
			}
			att, err := tr.Attach(pid, cookie, bin, Probes{Server: true})
			if err != nil {
				t.Fatal(err)
			}
			defer att.Close()
			// ServeHTTP's entry and every RET, plus the panic path: runtime.gopanic's
			// entry and runtime.recovery's call of gogo (hit only when a program panics).
			want := 1 + len(bin.ServeHTTP.ReturnOffsets)
			if bin.Gopanic == nil || bin.RecoveryResume == nil {
				t.Fatal("panic probe sites not resolved")
			}
			want += 1 + len(bin.RecoveryResume.ReturnOffsets)
			if att.Links() != want {
				t.Errorf("%d probe sites attached, want %d (ServeHTTP entry and every RET, gopanic entry, recovery's gogo call)", att.Links(), want)
			}
			before, err := tr.Hits()
			if err != nil {
				t.Fatal(err)
			}
			const n = 10
			for range n {
				resp, err := client.Get(base + "/hello")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			after, err := tr.Hits()
			if err != nil {
				t.Fatal(err)
			}
			entry := after[HitServerEntry] - before[HitServerEntry]
			ret := after[HitServerReturn] - before[HitServerReturn]
			if entry != n || ret != n {
				t.Errorf("%d entry and %d return hits for %d requests", entry, ret, n)
			}
		})
	}
}
