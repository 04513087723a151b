package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/postgres"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// poolPoint is one data point of a pool metric.
type poolPoint struct {
	metric, pool, state string
	value               float64
	ts                  time.Time
}

// poolPoints reads the db.client.connection.* points of the file
// exporter's metrics output for process pid.
func poolPoints(t *testing.T, path string, pid int) []poolPoint {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []poolPoint
	var u pmetric.JSONUnmarshaler
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		md, err := u.UnmarshalMetrics(sc.Bytes())
		if err != nil {
			continue // a line being written
		}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			if v, ok := rm.Resource().Attributes().Get("process.pid"); !ok || v.Int() != int64(pid) {
				continue
			}
			for j := 0; j < rm.ScopeMetrics().Len(); j++ {
				ms := rm.ScopeMetrics().At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					if m.Type() != pmetric.MetricTypeSum {
						continue
					}
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dp := dps.At(d)
						p := poolPoint{metric: m.Name(), ts: dp.Timestamp().AsTime()}
						if v, ok := dp.Attributes().Get("db.client.connection.pool.name"); ok {
							p.pool = v.Str()
						} else {
							continue
						}
						if v, ok := dp.Attributes().Get("db.client.connection.state"); ok {
							p.state = v.Str()
						}
						if dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
							p.value = dp.DoubleValue()
						} else {
							p.value = float64(dp.IntValue())
						}
						out = append(out, p)
					}
				}
			}
		}
	}
	return out
}

// TestEBPFSQLPoolMetrics: metrics.db_pools on, testdata/sqldemo's /slow
// runs 10 concurrent 1-second queries on a PostgreSQL pool of at most 2
// connections: while it lasts the pool's pending requests rise and both
// connections are used; afterwards its cumulative wait count is at least
// 8 and its wait duration several seconds. The pools (lib/pq's two and
// pgx's, on one server) are named after the database system and the
// server's address and database, read from their connectors ("postgresql
// 127.0.0.1:<port>/postgres", then #2, #3), and found without a probe of
// their own. Built by
// the host's Go and by Go 1.19, one after the other, each with DWARF and
// stripped (-ldflags=-s -w: the sql.DB layout from the rule by Go
// version): the stripped build sees the same used connections and wait
// count as the DWARF one, and pending requests in the same range.
func TestEBPFSQLPoolMetrics(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	pg := postgres.Start(t)
	dir := t.TempDir()
	exe := buildGo(t, "testdata/sqldemo", dir, "sqldemo-pool")
	exeStripped := filepath.Join(dir, "sqldemo-pool-stripped")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", exeStripped, ".")
	build.Dir = "testdata/sqldemo"
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("stripped build sqldemo: %v\n%s", err, out)
	}
	// Go 1.19 (older drivers, go119.mod): connRequests is a map there, a
	// connRequestSet from Go 1.23.
	const go119 = "/usr/lib/go-1.19/bin/go"
	if _, err := os.Stat(go119); err != nil {
		prereq.Missing(t, "Debian's golang-1.19-go is required: %v", err)
	}
	exe119 := filepath.Join(dir, "sqldemo-pool-go119")
	exe119Stripped := filepath.Join(dir, "sqldemo-pool-go119-stripped")
	for out, ldflags := range map[string]string{exe119: "", exe119Stripped: "-s -w"} {
		build := exec.Command(go119, "build", "-modfile=go119.mod", "-ldflags="+ldflags, "-o", out, ".")
		build.Dir = "testdata/sqldemo"
		build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go1.19 build sqldemo (-ldflags=%q): %v\n%s", ldflags, err, out)
		}
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
      sql: { enabled: true }
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
`, filepath.Join(dir, "sqldemo-pool*")))
	for _, pair := range [][2]string{{exe, exeStripped}, {exe119, exe119Stripped}} {
		var seen [2]poolFigures
		ok := true
		for i, exe := range pair {
			ok = t.Run(filepath.Base(exe), func(t *testing.T) { seen[i] = testPoolMetrics(t, c, exe, pg) }) && ok
		}
		if ok && (seen[1].used != seen[0].used || seen[1].waitCount != seen[0].waitCount) {
			t.Errorf("%s: stripped build saw %+v, the DWARF build %+v", filepath.Base(pair[1]), seen[1], seen[0])
		}
	}
}

// poolFigures are what a run of /slow made the slow pool show: its most
// pending requests and used connections, and its wait count.
type poolFigures struct{ pending, used, waitCount float64 }

func testPoolMetrics(t *testing.T, c *Collector, exe string, pg *postgres.Server) poolFigures {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	cmd := exec.Command(exe, "-addr", addr, "-pg", pg.URL)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sqldemo output:\n%s", logs.String())
		}
	})
	pid := cmd.Process.Pid
	get := func(path string) error {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
		}
		return nil
	}
	// Instrumented, and the main pool found: its metrics appear.
	eventually(t, 40*time.Second, "pool metrics of the process", func() (bool, string) {
		for _, db := range []string{"pg", "pgx"} {
			if err := get("/run?db=" + db); err != nil {
				return false, err.Error()
			}
		}
		n := len(poolPoints(t, c.Path("metrics.json"), pid))
		return n > 0, fmt.Sprintf("%d pool points", n)
	})
	start := time.Now()
	if err := get("/slow?n=10&ms=1000"); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	time.Sleep(time.Second) // a collection after the end
	// The slow pool is the one with max 2.
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
	var maxPending, maxUsed, waitCount, waitSeconds float64
	for _, p := range points {
		if p.pool != slowPool {
			continue
		}
		switch {
		case p.metric == "db.client.connection.pending_requests":
			maxPending = max(maxPending, p.value)
		case p.metric == "db.client.connection.count" && p.state == "used":
			maxUsed = max(maxUsed, p.value)
		case p.metric == "db.client.connection.wait_count":
			waitCount = max(waitCount, p.value)
		case p.metric == "db.client.connection.wait_duration":
			waitSeconds = max(waitSeconds, p.value)
		}
	}
	t.Logf("pool %q: /slow took %s; max pending %v, max used %v, wait count %v, waited %.1f s", slowPool, took, maxPending, maxUsed, waitCount, waitSeconds)
	base := fmt.Sprintf("postgresql 127.0.0.1:%d/postgres", pg.Port)
	names := map[string]bool{}
	for _, p := range points {
		names[p.pool] = true
	}
	if want := map[string]bool{base: true, base + "#2": true, base + "#3": true}; !maps.Equal(names, want) {
		t.Errorf("pool names %v, want %v", names, want)
	}
	if maxPending < 4 || maxPending > 8 {
		t.Errorf("max pending requests %v, want 4-8 (8 wait at first, 2 fewer every second)", maxPending)
	}
	if maxUsed != 2 {
		t.Errorf("max used connections %v, want 2", maxUsed)
	}
	if waitCount < 8 {
		t.Errorf("wait count %v, want at least 8", waitCount)
	}
	// 8 waits: 2 of ~1 s, 2 of ~2 s, 2 of ~3 s, 2 of ~4 s.
	if waitSeconds < 15 {
		t.Errorf("wait duration %.1f s, want at least 15 s", waitSeconds)
	}
	return poolFigures{maxPending, maxUsed, waitCount}
}
