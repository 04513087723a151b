package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/redis"
)

// TestEBPFRedisWithDistribution runs the built otelcol-goebpf binary with
// traces.redis.enabled against testdata/redisdemo (go-redis v9.23.0,
// stripped: offsets from the table by module version) talking to a real redis-server: one HTTP request whose handler
// sends SET, GET (hit), GET (miss), INCR of a string (ERR), a pipeline of 3
// and a MULTI/EXEC of 2 gives exactly one SERVER span and six CLIENT spans,
// named after the operation, with db.* and server.* attributes, Error only
// for the ERR reply, each the child of the SERVER span.
func TestEBPFRedisWithDistribution(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	srv := redis.Start(t)
	// A copy of its own: the collector instruments this path only.
	demo := filepath.Join(t.TempDir(), "redis-dist-demo")
	d := redis.Demos[0]
	d.Stripped = true // go-redis's offsets from the table, as in most deployments
	if b, err := os.ReadFile(redis.BuildDemo(t, "testdata/redisdemo", d)); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(demo, b, 0o755); err != nil {
		t.Fatal(err)
	}
	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
    traces:
      http: { server: true, client: false }
      redis: { enabled: true }
exporters:
  file:
    path: {{DIR}}/traces.json
    flush_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [file]
`, demo))
	out := c.Path("traces.json")

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	app := exec.Command(demo, "-addr", addr, "-redis", srv.Addr, "-db", "3")
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Process.Kill(); _ = app.Wait() })
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) string {
		t.Helper()
		resp, err := hc.Get("http://" + addr + path)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	eventually(t, 30*time.Second, "first Redis span", func() (bool, string) {
		get("/cmd?n=1")
		_, cl := fileSpans(t, out)
		return len(cl) > 0, fmt.Sprintf("%d client spans", len(cl))
	})
	time.Sleep(time.Second)
	s0, c0 := fileSpans(t, out)
	if body := get("/redis"); body != "SET ok\nGET ok\nGET nil\nINCR ERR value is not an integer or out of range\nPIPELINE ok\nMULTI ok\n" {
		t.Fatalf("/redis answered %q", body)
	}
	wantServer, wantClient := len(s0)+1, len(c0)+6
	eventually(t, 15*time.Second, "all spans in the file", func() (bool, string) {
		s, cl := fileSpans(t, out)
		return len(s) >= wantServer && len(cl) >= wantClient, fmt.Sprintf("%d/%d server, %d/%d client", len(s), wantServer, len(cl), wantClient)
	})
	time.Sleep(time.Second) // extras would show up now
	s, cl := fileSpans(t, out)
	if len(s) != wantServer || len(cl) != wantClient {
		t.Fatalf("%d server and %d client spans, want exactly %d and %d", len(s), len(cl), wantServer, wantClient)
	}
	server := s[len(s0)]
	for i, w := range []struct {
		name  string
		batch int64
		code  string // "" for no error
	}{
		{"SET", 0, ""}, {"GET", 0, ""}, {"GET", 0, ""}, {"INCR", 0, "ERR"}, {"PIPELINE", 3, ""}, {"MULTI", 2, ""},
	} {
		sp := cl[len(c0)+i]
		want := map[string]any{
			"db.system.name":    "redis",
			"db.namespace":      "3",
			"db.operation.name": w.name,
			"server.address":    "127.0.0.1",
			"server.port":       int64(srv.Port),
		}
		if w.batch != 0 {
			want["db.operation.batch.size"] = w.batch
		}
		wantStatus := ptrace.StatusCodeUnset
		if w.code != "" {
			want["db.response.status_code"] = w.code
			want["error.type"] = w.code
			wantStatus = ptrace.StatusCodeError
		}
		got := sp.Attributes().AsRaw()
		if sp.Name() != w.name || fmt.Sprint(got) != fmt.Sprint(want) || sp.Status().Code() != wantStatus {
			t.Errorf("span %d: %q %v %v; want %q %v %v", i, sp.Name(), got, sp.Status().Code(), w.name, want, wantStatus)
		}
		if sp.TraceID() != server.TraceID() || sp.ParentSpanID() != server.SpanID() {
			t.Errorf("span %d (%s) is not the child of the HTTP server span", i, w.name)
		}
	}
}
