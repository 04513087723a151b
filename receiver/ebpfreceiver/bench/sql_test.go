package bench

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

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/postgres"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sqlclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// BenchmarkSQLProbes reports, for database/sql queries made by
// integration/testdata/sqldemo (lib/pq) to a real PostgreSQL, the sql
// probe's hits and BPF run time per query, with a short statement and one
// of more than 2 KiB (hits must not depend on the length), and the time
// per query of the SQL-bound handler traced and untraced (untraced
// and traced runs alternate over 3 rounds; medians compared), and the hits
// of a query in a transaction (begin, query, commit and the deferred
// rollback that finds the transaction done: 2+2+2+1), and of an exec of a
// prepared statement ((*Stmt).ExecContext: 2).
func BenchmarkSQLProbes(b *testing.B) {
	requireRoot(b)
	exe, addr, cmd := startSQLDemo(b)
	const n = 2000
	type mode struct {
		name, unit string
		long, tx   bool
		prep       bool
		progs      []string // the programs a query of the mode runs
	}
	prog := func(p string) string { return p[len("uprobe_"):] }
	queryProgs := []string{prog(sqlclient.ProgQueryEntry), prog(sqlclient.ProgQueryReturn)}
	modes := []mode{
		{"short (21 B)", "short", false, false, false, queryProgs},
		{"long (2.2 KiB)", "long", true, false, false, queryProgs},
		{"tx (begin, query, commit, deferred rollback)", "tx", false, true, false, append(append([]string{}, queryProgs...),
			prog(sqlclient.ProgBeginEntry), prog(sqlclient.ProgBeginReturn), prog(sqlclient.ProgCommitEntry),
			prog(sqlclient.ProgRollbackEntry), prog(sqlclient.ProgTxEndReturn))},
		{"prepared exec (Stmt.ExecContext)", "prep", false, false, true, []string{
			prog(sqlclient.ProgStmtExecEntry), prog(sqlclient.ProgExecReturn), prog(sqlclient.ProgExecEntry)}},
	}
	run := func(m mode) time.Duration {
		b.Helper()
		u := fmt.Sprintf("http://%s/bench?db=pg&n=%d&long=%d&tx=%d&prep=%d", addr, n, flag01(m.long), flag01(m.tx), flag01(m.prep))
		var body []byte
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get(u)
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %s: %s", u, resp.Status, body)
				}
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("GET %s: %v", u, err)
			}
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
		if err != nil {
			b.Fatalf("bench answer %q: %v", body, err)
		}
		return time.Duration(ns)
	}
	for _, m := range modes {
		run(m) // warm up: connections, plans
	}

	x, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := tracer.ResolveBinary(x)
	if err != nil {
		b.Fatal(err)
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		b.Fatal(err)
	}
	// Rounds alternate untraced and traced runs (the probes attached, then
	// detached), so that the machine's load drifts over both alike.
	const rounds = 3
	untraced, traced := map[string][]float64{}, map[string][]float64{}
	for r := 0; r < rounds; r++ {
		for _, m := range modes {
			untraced[m.unit] = append(untraced[m.unit], float64(run(m).Nanoseconds())/n)
		}
		att, err := tr.Attach(cmd.Process.Pid, cookie, bin, tracer.Probes{httpserver.Name: true, sqlclient.Name: true})
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range modes {
			_ = tr.Drain(time.Millisecond, func([]byte) {})
			// Drained while the queries run, as the receiver does (a ring
			// filling past its wakeup threshold makes every submit wake the
			// reader, which would be measured as the probes' cost).
			events := 0
			stop, stopped := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(stopped)
				for {
					select {
					case <-stop:
						_ = tr.Drain(300*time.Millisecond, func([]byte) { events++ })
						return
					default:
						_ = tr.Drain(50*time.Millisecond, func([]byte) { events++ })
					}
				}
			}()
			s0, _ := tr.ProgramStats()
			d := run(m)
			s1, _ := tr.ProgramStats()
			close(stop)
			<-stopped
			traced[m.unit] = append(traced[m.unit], float64(d.Nanoseconds())/n)
			var runs uint64
			var ns time.Duration
			var detail []string
			for _, p := range m.progs {
				r, t := s1[p].RunCount-s0[p].RunCount, s1[p].Runtime-s0[p].Runtime
				runs += r
				ns += t
				if r > 0 {
					detail = append(detail, fmt.Sprintf("%s %.2f×%.0f ns", p, float64(r)/n, float64(t.Nanoseconds())/float64(r)))
				}
			}
			fmt.Printf("round %d %-46s hits/query %.2f  BPF ns/query %.0f  events %d for %d queries (%s)\n",
				r+1, m.name, float64(runs)/n, float64(ns.Nanoseconds())/n, events, n, strings.Join(detail, ", "))
			if r == rounds-1 {
				b.ReportMetric(float64(runs)/n, "hits/query-"+m.unit)
				b.ReportMetric(float64(ns.Nanoseconds())/n, "BPF-ns/query-"+m.unit)
			}
		}
		att.Close()
	}
	// metrics.db_pools: the entries also note the query's *DB (a map
	// lookup per call): the short case again, with that on.
	trp, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, SQLPools: true})
	if err != nil {
		b.Fatal(err)
	}
	defer trp.Close()
	cookiep, err := trp.AddBinary(bin.Offsets)
	if err != nil {
		b.Fatal(err)
	}
	attp, err := trp.Attach(cmd.Process.Pid, cookiep, bin, tracer.Probes{httpserver.Name: true, sqlclient.Name: true})
	if err != nil {
		b.Fatal(err)
	}
	for r := 0; r < rounds; r++ {
		s0, _ := trp.ProgramStats()
		run(modes[0])
		s1, _ := trp.ProgramStats()
		_ = trp.Drain(300*time.Millisecond, func([]byte) {})
		var runs uint64
		var ns time.Duration
		for _, p := range modes[0].progs {
			runs += s1[p].RunCount - s0[p].RunCount
			ns += s1[p].Runtime - s0[p].Runtime
		}
		fmt.Printf("round %d %-46s hits/query %.2f  BPF ns/query %.0f\n", r+1, "short, db_pools on", float64(runs)/n, float64(ns.Nanoseconds())/n)
		if r == rounds-1 {
			b.ReportMetric(float64(runs)/n, "hits/query-short-pools")
			b.ReportMetric(float64(ns.Nanoseconds())/n, "BPF-ns/query-short-pools")
		}
	}
	pools, _ := trp.SQLPools()
	fmt.Printf("pools noted: %v\n", pools)
	attp.Close()
	for _, m := range modes {
		u, t := median(untraced[m.unit]), median(traced[m.unit])
		fmt.Printf("%-6s untraced %6.0f ns/query  traced %6.0f ns/query  ratio %.3f  (medians of %d rounds; untraced %v traced %v)\n",
			m.unit, u, t, t/u, rounds, round0(untraced[m.unit]), round0(traced[m.unit]))
		b.ReportMetric(t/u, "traced/untraced-"+m.unit)
	}
}

// startSQLDemo starts a real PostgreSQL and integration/testdata/sqldemo
// (unstripped, the host's Go) talking to it; it returns the demo's
// executable, its HTTP address and its process.
func startSQLDemo(b *testing.B) (exe, addr string, cmd *exec.Cmd) {
	b.Helper()
	pg := postgres.Start(b)
	exe = filepath.Join(b.TempDir(), "sqldemo")
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Dir = "../../../integration/testdata/sqldemo"
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build sqldemo: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	cmd = exec.Command(exe, "-addr", addr, "-pg", pg.URL)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return exe, addr, cmd
}

func flag01(on bool) int {
	if on {
		return 1
	}
	return 0
}

func round0(v []float64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}
