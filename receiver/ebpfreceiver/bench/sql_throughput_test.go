package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sqlclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// BenchmarkSQLHandlerThroughput measures the throughput of a SQL-bound
// HTTP handler traced and untraced: integration/testdata/sqldemo's
// /bench?db=pg&n=1 runs one query (lib/pq, QueryRowContext...Scan) against
// a real PostgreSQL per request, requested one after the other by one
// client over a kept-alive connection. Rounds of requests alternate
// between untraced and traced (the HTTP server and sql probes attached
// before the round and detached after it, the ring buffer drained while
// it runs, as the receiver does). Each pair of adjacent rounds gives one
// ratio, traced throughput / untraced throughput; the order inside a pair
// alternates (untraced first, then traced first), so that a drift of the
// shared machine's load touches both sides alike. Reported: the median of
// the pairs' ratios, its interquartile range and extremes, and the median
// throughput of each side. SQL_THROUGHPUT_PAIRS (default 60) and
// SQL_THROUGHPUT_REQUESTS (requests per round, default 500) change the
// amount of work.
func BenchmarkSQLHandlerThroughput(b *testing.B) {
	requireRoot(b)
	exe, addr, cmd := startSQLDemo(b)
	pairs := envIntStrict(b, "SQL_THROUGHPUT_PAIRS", 60)
	perRound := envIntStrict(b, "SQL_THROUGHPUT_REQUESTS", 500)
	url := fmt.Sprintf("http://%s/bench?db=pg&n=1", addr)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	request := func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
		}
		return nil
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := request(); err == nil {
			break
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
	}
	// round is the throughput (requests/s) of perRound requests.
	round := func() float64 {
		start := time.Now()
		for i := 0; i < perRound; i++ {
			if err := request(); err != nil {
				b.Fatal(err)
			}
		}
		return float64(perRound) / time.Since(start).Seconds()
	}

	x, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := tracer.ResolveBinary(x)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	traced := func() float64 {
		att, err := tr.Attach(cmd.Process.Pid, cookie, bin, tracer.Probes{httpserver.Name: true, sqlclient.Name: true})
		if err != nil {
			b.Fatal(err)
		}
		defer att.Close()
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			for {
				select {
				case <-stop:
					_ = tr.Drain(100*time.Millisecond, func([]byte) { events++ })
					return
				default:
					_ = tr.Drain(50*time.Millisecond, func([]byte) { events++ })
				}
			}
		}()
		defer func() { close(stop); <-stopped }()
		return round()
	}
	round()    // warm up: connections, plans
	traced()   // and the first attach
	events = 0 // counted from here: 2 per traced request (HTTP and SQL spans)

	var ratios, untracedRPS, tracedRPS []float64
	for p := 0; p < pairs; p++ {
		var u, t float64
		if p%2 == 0 {
			u = round()
			t = traced()
		} else {
			t = traced()
			u = round()
		}
		untracedRPS, tracedRPS = append(untracedRPS, u), append(tracedRPS, t)
		ratios = append(ratios, t/u)
	}
	// Hits per request, in one more traced round with the kernel's run
	// statistics on (off during the pairs: they add a clock read per
	// program run).
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	s0, _ := tr.ProgramStats()
	traced()
	s1, _ := tr.ProgramStats()
	stats.Close()
	var hits uint64
	var bpfTime time.Duration
	for p, st := range s1 {
		hits += st.RunCount - s0[p].RunCount
		bpfTime += st.Runtime - s0[p].Runtime
	}
	s := slices.Clone(ratios)
	slices.Sort(s)
	q := func(f float64) float64 { return s[int(f*float64(len(s)-1)+0.5)] }
	fmt.Printf("SQL-bound handler (1 PostgreSQL query per request, 1 client), %d pairs of %d-request rounds:\n", pairs, perRound)
	fmt.Printf("  untraced median %.0f req/s (%.0f-%.0f), traced median %.0f req/s (%.0f-%.0f)\n",
		median(untracedRPS), slices.Min(untracedRPS), slices.Max(untracedRPS), median(tracedRPS), slices.Min(tracedRPS), slices.Max(tracedRPS))
	fmt.Printf("  throughput ratio traced/untraced: median %.3f, interquartile %.3f-%.3f, min %.3f, max %.3f\n",
		q(0.5), q(0.25), q(0.75), s[0], s[len(s)-1])
	fmt.Printf("  events %d for %d traced requests; time added per request (medians) %.1f µs; probe hits per request %.2f, BPF time per request %.1f µs\n",
		events, pairs*perRound, (1/median(tracedRPS)-1/median(untracedRPS))*1e6, float64(hits)/float64(perRound), float64(bpfTime.Nanoseconds())/float64(perRound)/1e3)
	fmt.Printf("  ratios in run order: %v\n", round3(ratios))
	b.ReportMetric(q(0.5), "traced/untraced-median")
	b.ReportMetric(q(0.25), "traced/untraced-p25")
	b.ReportMetric(q(0.75), "traced/untraced-p75")
	b.ReportMetric(median(untracedRPS), "untraced-req/s")
	b.ReportMetric(median(tracedRPS), "traced-req/s")
	b.ReportMetric(float64(hits)/float64(perRound), "hits/request")
}

// envInt is the positive integer in the environment variable name, else
// def.
func envIntStrict(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func round3(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int(x*1000+0.5)) / 1000
	}
	return out
}
