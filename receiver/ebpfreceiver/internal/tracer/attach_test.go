package tracer

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
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
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{addr} })
	return pid, exe, "http://" + addr
}

// TestAttachBothWays attaches the server probes as uprobe_multi links (the
// default) and as perf_event uprobes (the fallback of kernels before 6.6):
// both count one entry and one return hit per request.
func TestAttachBothWays(t *testing.T) {
	prereq.RequireRoot(t, "attaching uprobes")
	pid, exe, base := startHelloServer(t)
	_, bin := resolveServer(t, exe)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, perf := range []bool{false, true} {
		t.Run(fmt.Sprintf("perf_event uprobes %v", perf), func(t *testing.T) {
			tr, att := attachServer(t, Options{RingBufferSize: 1 << 16, PerfEventUprobes: perf}, pid, bin)
			// ServeHTTP's entry and every RET, plus the panic path: runtime.gopanic's
			// entry and runtime.recovery's call of gogo (hit only when a program panics).
			want := 1 + len(bin.Func(httpserver.FuncServeHTTP).ReturnOffsets)
			if bin.Func(httpserver.FuncGopanic) == nil || bin.Func(httpserver.FuncRecovery) == nil {
				t.Fatal("panic probe sites not resolved")
			}
			want += 1 + len(bin.Func(httpserver.FuncRecovery).ReturnOffsets)
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
