// Package bench measures what the HTTP probes cost the traced program:
// probe hits per request, target CPU per request (traced, untraced, and the
// same uprobes running empty BPF programs) and throughput with a ~1 ms
// handler. Run as root:
//
//	go test -run '^$' -bench . -benchtime=1x ./receiver/ebpfreceiver/bench/
//
// Figures are printed with b.ReportMetric, never asserted.
package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

const (
	wrkDuration = "4s"
	rounds      = 3
)

type mode int

const (
	untraced mode = iota
	emptyProbes
	traced
)

func (m mode) String() string { return [...]string{"untraced", "empty", "traced"}[m] }

// probed is a tracer attached to the target, draining and converting
// events the way the receiver does.
type probed struct {
	tr   *tracer.Tracer
	att  *tracer.Attachment
	stop chan struct{}
	wg   sync.WaitGroup
}

func attach(b *testing.B, pid int, bin tracer.Binary, empty bool) *probed {
	b.Helper()
	tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true, EmptyPrograms: empty})
	if err != nil {
		b.Fatal(err)
	}
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		b.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, tracer.Probes{Server: true, Client: true})
	if err != nil {
		b.Fatal(err)
	}
	p := &probed{tr: tr, att: att, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			td := ptrace.NewTraces()
			ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
			err := tr.Drain(200*time.Millisecond, func(raw []byte) {
				ev, err := tracer.Decode(raw)
				if err != nil {
					return
				}
				switch e := ev.(type) {
				case *tracer.ServerEvent:
					httpspan.AppendServer(ss, e, httpspan.Clock{})
				case *tracer.ClientEvent:
					httpspan.AppendClient(ss, e, httpspan.Clock{})
				}
			})
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *probed) close() {
	close(p.stop)
	_ = p.att.Close()
	_ = p.tr.Close()
	p.wg.Wait()
}

func requireRoot(b *testing.B) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			b.Fatal("the probe benchmark needs root (CI=true)")
		}
		b.Skip("the probe benchmark needs root")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Fatal("wrk not found: install it (Debian package wrk)")
	}
}

// targetCPU is the target's on-CPU time in nanoseconds summed over its
// threads (/proc/<pid>/task/*/schedstat, first field). Uprobe handlers run
// in the probed thread, so their cost is included.
func targetCPU(b *testing.B, pid int) int64 {
	b.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("no tasks for pid %d", pid)
	}
	var sum int64
	for _, f := range tasks {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue // thread exited
		}
		v, _ := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
		sum += v
	}
	return sum
}

var (
	reqLine = regexp.MustCompile(`(\d+) requests in`)
	rpsLine = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
)

// wrk runs a load and returns the request count and rate.
func wrk(b *testing.B, url string, threads, conns int) (int64, float64) {
	b.Helper()
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", wrkDuration, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	m1, m2 := reqLine.FindSubmatch(out), rpsLine.FindSubmatch(out)
	if m1 == nil || m2 == nil {
		b.Fatalf("cannot parse wrk output:\n%s", out)
	}
	n, _ := strconv.ParseInt(string(m1[1]), 10, 64)
	rps, _ := strconv.ParseFloat(string(m2[1]), 64)
	return n, rps
}

func get(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func BenchmarkHTTPProbes(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	exe := filepath.Join(dir, "httpdemo")
	build := exec.Command("go", "build", "-o", exe, "../../../integration/testdata/httpdemo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build httpdemo: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// GOMAXPROCS=1 pins the target's work to one CPU so CPU per request is
	// not blurred by scheduling across the shared machine.
	target := exec.Command(exe, "-addr", addr)
	target.Env = append(os.Environ(), "GOMAXPROCS=1")
	if err := target.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = target.Process.Kill(); _ = target.Wait() }()
	base := "http://" + addr
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 200 {
			b.Fatal("target did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ins, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := tracer.ResolveBinary(ins)
	if err != nil {
		b.Fatal(err)
	}
	pid := target.Process.Pid
	client := &http.Client{}

	// Probe hits per request, read from the programs' own per-CPU counters.
	p := attach(b, pid, bin, false)
	const n = 2000
	for range 50 {
		get(b, client, base+"/hello")
	}
	h0, _ := p.tr.Hits()
	for range n {
		get(b, client, base+"/hello")
	}
	h1, _ := p.tr.Hits()
	var serverHits uint64
	for i := range h1 {
		serverHits += h1[i] - h0[i]
	}
	for range n {
		get(b, client, base+"/chain")
	}
	h2, _ := p.tr.Hits()
	clientHits := (h2[tracer.HitClientEntry] - h1[tracer.HitClientEntry]) + (h2[tracer.HitClientReturn] - h1[tracer.HitClientReturn])
	p.close()
	b.ReportMetric(float64(serverHits)/n, "hits/server-req")
	b.ReportMetric(float64(clientHits)/n, "hits/client-req")

	// CPU per request and throughput, rounds interleaved so drifting
	// background load on the shared machine hits every mode alike.
	cpu := map[mode][]float64{}
	rps := map[mode][]float64{}
	for round := range rounds {
		for _, m := range []mode{untraced, emptyProbes, traced} {
			var pr *probed
			if m != untraced {
				pr = attach(b, pid, bin, m == emptyProbes)
			}
			wrk(b, base+"/hello", 1, 4) // warm-up
			c0 := targetCPU(b, pid)
			reqs, _ := wrk(b, base+"/hello", 1, 4)
			c1 := targetCPU(b, pid)
			cpu[m] = append(cpu[m], float64(c1-c0)/float64(reqs))
			_, r := wrk(b, base+"/work", 2, 8)
			rps[m] = append(rps[m], r)
			if pr != nil {
				pr.close()
			}
			b.Logf("round %d %-8s cpu/req %.0f ns, /work %.0f req/s", round, m, cpu[m][round], r)
		}
	}
	u, e, t := median(cpu[untraced]), median(cpu[emptyProbes]), median(cpu[traced])
	b.ReportMetric(u, "untraced-cpu-ns/req")
	b.ReportMetric(e, "empty-probes-cpu-ns/req")
	b.ReportMetric(t, "traced-cpu-ns/req")
	b.ReportMetric((t-u)/(e-u), "cost-ratio(traced-untraced)/(empty-untraced)")
	b.ReportMetric(median(rps[traced])/median(rps[untraced]), "throughput-ratio-1ms-handler")
	b.ReportMetric(median(rps[untraced]), "untraced-1ms-req/s")
	b.ReportMetric(median(rps[traced]), "traced-1ms-req/s")
}
