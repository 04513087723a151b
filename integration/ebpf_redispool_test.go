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
	"strings"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/redis"
)

// TestEBPFRedisPoolMetrics: metrics.db_pools with traces.redis on (and
// traces.sql off), testdata/redisdemo's /slowpool runs 10 concurrent 1 s
// BLPOPs through a go-redis client of PoolSize 2 and PoolTimeout 1.5 s
// against a real redis-server: its pool (found by the Redis probe noting
// the client, read from memory) shows both connections used, requests
// pending (v9.23.0, which counts them), waits and their time (v9.23.0),
// and timeouts (both). Pools are named "redis <address>/<db>", the
// slow client's (max 2) apart from the main one (#2). go-redis v9.23.0
// and v8.11.5, each built with DWARF and stripped (the pool's layout from
// the offsets table by go-redis release).
func TestEBPFRedisPoolMetrics(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	srv := redis.Start(t)
	dir := t.TempDir()
	var demos []string
	v9Stripped, v8Stripped := redis.Demos[0], redis.Demos[2]
	v9Stripped.Stripped, v8Stripped.Stripped = true, true
	for _, d := range []redis.Demo{redis.Demos[0], redis.Demos[2], v9Stripped, v8Stripped} {
		exe := filepath.Join(dir, "redispool-"+d.Name())
		if b, err := os.ReadFile(redis.BuildDemo(t, "testdata/redisdemo", d)); err != nil {
			t.Fatal(err)
		} else if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
		demos = append(demos, exe)
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
    metrics:
      collection_interval: 250ms
      db_pools: true
exporters:
  file/traces:
    path: {{DIR}}/traces.json
    flush_interval: 100ms
  file/metrics:
    path: {{DIR}}/metrics.json
    flush_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [file/traces]
    metrics:
      receivers: [ebpf]
      exporters: [file/metrics]
`, filepath.Join(dir, "redispool-*")))
	for _, exe := range demos {
		t.Run(filepath.Base(exe), func(t *testing.T) {
			testRedisPool(t, c, exe, srv.Addr, !strings.Contains(exe, "v8-"))
		})
	}
}

func testRedisPool(t *testing.T, c *Collector, exe, redisAddr string, v9 bool) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	cmd := exec.Command(exe, "-addr", addr, "-redis", redisAddr, "-db", "3")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("redisdemo output:\n%s", logs.String())
		}
	})
	pid := cmd.Process.Pid
	get := func(path string) (string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
		}
		return string(body), nil
	}
	// Instrumented, and the main client's pool found: its metrics appear.
	eventually(t, 40*time.Second, "pool metrics of the process", func() (bool, string) {
		if _, err := get("/cmd?n=1"); err != nil {
			return false, err.Error()
		}
		n := len(poolPoints(t, c.Path("metrics.json"), pid))
		return n > 0, fmt.Sprintf("%d pool points", n)
	})
	body, err := get("/slowpool?n=10&ms=1000")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a collection after the end
	points := poolPoints(t, c.Path("metrics.json"), pid)
	slowPool := ""
	for _, p := range points {
		if p.metric == "db.client.connection.max" && p.value == 2 {
			slowPool = p.pool
		}
	}
	if slowPool == "" {
		t.Fatalf("no pool with db.client.connection.max 2 among %d points", len(points))
	}
	got := map[string]float64{}
	seen := map[string]bool{}
	for _, p := range points {
		if p.pool != slowPool {
			continue
		}
		m := p.metric
		if p.state != "" {
			m += "/" + p.state
		}
		got[m] = max(got[m], p.value)
		seen[m] = true
	}
	t.Logf("pool %q (/slowpool: %s): %v", slowPool, strings.TrimSpace(body), got)
	base := "redis " + redisAddr + "/3"
	if slowPool != base && slowPool != base+"#2" {
		t.Errorf("pool name %q, want %q or %q", slowPool, base, base+"#2")
	}
	if got["db.client.connection.count/used"] != 2 {
		t.Errorf("max used connections %v, want 2", got["db.client.connection.count/used"])
	}
	// 2 BLPOPs run at once, 2 more get a connection after ~1 s, the other
	// 6 give up after 1.5 s: timeouts, whatever the machine's load, since
	// no 4 BLPOPs of 1 s fit in 1.5 s on 2 connections. (v9.23.0 retries a
	// command whose wait timed out, up to MaxRetries 3: at most 40 waits.)
	if got["db.client.connection.timeouts"] < 1 || got["db.client.connection.timeouts"] > 40 {
		t.Errorf("timeouts %v, want 1-40", got["db.client.connection.timeouts"])
	}
	if !strings.HasPrefix(body, "failed ") {
		t.Errorf("/slowpool answered %q", body)
	}
	if v9 {
		if got["db.client.connection.pending_requests"] < 4 {
			t.Errorf("max pending requests %v, want at least 4 (8 wait at first)", got["db.client.connection.pending_requests"])
		}
		if got["db.client.connection.wait_count"] < 1 || got["db.client.connection.wait_duration"] < 0.5 {
			t.Errorf("wait count %v and duration %v s, want at least 1 wait of ~1 s", got["db.client.connection.wait_count"], got["db.client.connection.wait_duration"])
		}
		return
	}
	// v8.11.5 keeps neither pending requests nor waits: not reported.
	for _, m := range []string{"db.client.connection.pending_requests", "db.client.connection.wait_count", "db.client.connection.wait_duration"} {
		if seen[m] {
			t.Errorf("v8: %s reported (%v), but go-redis v8 does not keep it", m, got[m])
		}
	}
}
