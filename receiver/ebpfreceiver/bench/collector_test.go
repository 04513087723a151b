package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "go.opentelemetry.io/collector/config/configgrpc" // the exporter's gRPC compressors: zstd, snappy (and gzip)
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp exporter compresses by default
	"google.golang.org/grpc/stats"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// BenchmarkCollectorCPUPerSpan measures the collector's CPU per span, from
// the ring buffer to an OTLP exporter (issue 16's goal: ≤ 5 µs with
// stitching on). It runs the built distribution (bin/otelcol-goebpf, `make
// build`; OTELCOL_GOEBPF_BIN overrides the path) with the ebpf receiver
// (HTTP server and client spans, traces.propagation.stitch on or off),
// the batch processor and the otlp exporter to an OTLP/gRPC sink in this
// process that counts the spans and the bytes it received on the wire. The
// load is testdata/chain, stripped: front → back over HTTP/1.1 keep-alive,
// 5 spans per request to front, requests with ~1 KiB heads (a traceparent
// in the ones sent to front), at a fixed rate.
//
// CPU is the collector process's utime+stime (/proc/<pid>/stat) over the
// loaded phase, minus its idle rate (measured in the same collector run,
// before the load) times the phase's length, divided by the spans the sink
// received. utime+stime count 10 ms ticks, which blurs an idle rate of a
// few ms/s; the same figure from the threads' on-CPU nanoseconds
// (/proc/<pid>/task/*/schedstat) is printed next to it ("sched"). Bytes
// per span are the gRPC messages' wire length (compressed payload and its
// 5-byte gRPC prefix; HTTP/2 framing left out) over the loaded phase.
//
// Variants, all with stitching on unless said: "shipped", the exporter
// compression of config/agent.yaml (the headline); each other codec the
// gRPC exporter has: "gzip" (the otlp exporter's default), "zstd",
// "snappy", "none"; "shipped-stitch-off"; and with
// GOEBPF_BENCH_BASELINE_BIN=<another build> that build with the exporter's
// default (gzip, what the agent shipped before) for same-run ratios. The
// order is run forward, then reversed (so drifting background load hits
// every variant alike). Run as root:
//
//	make build && go test -run '^$' -bench CollectorCPUPerSpan -benchtime=1x ./receiver/ebpfreceiver/bench/
//
// GOEBPF_BENCH_RATE (requests/s to front, default 300), GOEBPF_BENCH_SECONDS
// (loaded phase, default 10) and GOEBPF_BENCH_ROUNDS (repeats of the order,
// every other one reversed; default 1) tune it.
// GOEBPF_BENCH_PPROF=<dir> saves a CPU profile of the collector (pprof
// extension) over each loaded phase; with GOEBPF_BENCH_PERF=1 too, a `perf
// record -g` of it (kernel time included; use an unstripped build).
func BenchmarkCollectorCPUPerSpan(b *testing.B) {
	prereq.RequireRoot(b, "the collector CPU benchmark")
	bin := collectorBin(b)
	rate := envInt("GOEBPF_BENCH_RATE", 300)
	seconds := envInt("GOEBPF_BENCH_SECONDS", 10)
	pairs := envInt("GOEBPF_BENCH_ROUNDS", 1)
	profDir := os.Getenv("GOEBPF_BENCH_PPROF")
	shipped := shippedCompression(b)

	exe := filepath.Join(b.TempDir(), "chain")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", exe, "./testdata/chain")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build chain: %v\n%s", err, out)
	}
	backAddr, frontAddr := freeAddr(b), freeAddr(b)
	startChain(b, exe, "back", backAddr)
	startChain(b, exe, "front", frontAddr, "http://"+backAddr)
	sink := startOTLPSink(b)

	// compression is the otlp exporter's setting.
	type variant struct {
		name        string
		bin         string
		stitch      bool
		compression string
	}
	on := variant{"shipped", bin, true, shipped}
	gzipOn := variant{"gzip", bin, true, "gzip"}
	order := []variant{on}
	if shipped == "gzip" {
		gzipOn = on
	} else {
		order = append(order, gzipOn)
	}
	for _, c := range []string{"zstd", "snappy", "none"} {
		if c != shipped {
			order = append(order, variant{c, bin, true, c})
		}
	}
	off := variant{"shipped-stitch-off", bin, false, shipped}
	order = append(order, off)
	var baseOn variant
	if base := os.Getenv("GOEBPF_BENCH_BASELINE_BIN"); base != "" {
		baseOn = variant{"baseline-gzip", base, true, "gzip"}
		order = slices.Insert(order, 1, baseOn)
	}
	type figures struct{ spans, cpuUs, idleUsPerS, usPerSpan, schedUsPerSpan, bytesPerSpan, ratio float64 }
	got := map[variant][]figures{}
	for pair := range pairs {
		for i := range 2 * len(order) { // forward, then reversed
			v := order[i%len(order)]
			if (pair*2+i/len(order))%2 == 1 {
				v = order[len(order)-1-i%len(order)]
			}
			label := fmt.Sprintf("%-18s stitch=%-5t compression=%-6s", v.name, v.stitch, v.compression)
			c := startDistribution(b, v.bin, exe, sink.addr, v.stitch, v.compression)
			// Until both services are instrumented: a request's 5 spans.
			deadline := time.Now().Add(60 * time.Second)
			for {
				n0 := sink.spans.Load()
				if err := driveOne(frontAddr); err != nil {
					b.Fatal(err)
				}
				time.Sleep(600 * time.Millisecond)
				if sink.spans.Load()-n0 >= 5 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("no spans from both services within 60 s; collector logs:\n%s", c.logs.String())
				}
			}
			// A short warm-up at the rate, then idle until the pipeline is empty.
			drive(b, frontAddr, rate, time.Second)
			sink.waitQuiet(time.Second)
			idleFor := 5 * time.Second
			i0, is0, it0 := procCPU(b, c.pid()), targetCPU(b, c.pid()), time.Now()
			time.Sleep(idleFor)
			i1, is1, it1 := procCPU(b, c.pid()), targetCPU(b, c.pid()), time.Now()
			idleRate := float64(i1-i0) / it1.Sub(it0).Seconds() // CPU ns per second
			schedIdleRate := float64(is1-is0) / it1.Sub(it0).Seconds()

			var prof chan []byte
			var perf *exec.Cmd
			run := pair*2*len(order) + i
			if profDir != "" {
				prof = c.profile(b, seconds)
				if os.Getenv("GOEBPF_BENCH_PERF") != "" {
					name := filepath.Join(profDir, fmt.Sprintf("perf-%d.data", run))
					perf = exec.Command("perf", "record", "-q", "-F", "999", "-g", "-o", name, "-p", strconv.Itoa(c.pid()), "--", "sleep", strconv.Itoa(seconds))
					if err := perf.Start(); err != nil {
						b.Fatalf("perf: %v", err)
					}
				}
			}
			s0, w0, r0 := sink.spans.Load(), sink.wireBytes.Load(), sink.rawBytes.Load()
			c0, cs0, t0 := procCPU(b, c.pid()), targetCPU(b, c.pid()), time.Now()
			reqs := drive(b, frontAddr, rate, time.Duration(seconds)*time.Second)
			sink.waitQuiet(time.Second)
			c1, cs1, t1 := procCPU(b, c.pid()), targetCPU(b, c.pid()), time.Now()
			spans := float64(sink.spans.Load() - s0)
			wire, raw := float64(sink.wireBytes.Load()-w0), float64(sink.rawBytes.Load()-r0)
			if perf != nil {
				_ = perf.Wait()
			}
			if prof != nil {
				name := filepath.Join(profDir, fmt.Sprintf("collector-%s-%d.pprof", v.name, run))
				if err := os.WriteFile(name, <-prof, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			c.stop(b)
			if spans == 0 {
				b.Fatalf("no spans received (%s)", label)
			}
			busy := float64(c1-c0) - idleRate*t1.Sub(t0).Seconds()
			schedBusy := float64(cs1-cs0) - schedIdleRate*t1.Sub(t0).Seconds()
			f := figures{spans: spans, cpuUs: float64(c1-c0) / 1e3, idleUsPerS: idleRate / 1e3, usPerSpan: busy / 1e3 / spans, schedUsPerSpan: schedBusy / 1e3 / spans, bytesPerSpan: wire / spans, ratio: raw / wire}
			got[v] = append(got[v], f)
			fmt.Printf("%s %d requests, %.0f spans (%.2f/request), collector CPU %.0f ms over %.1f s, idle %.0f µs/s, %.2f µs/span (schedstat: idle %.0f µs/s, %.2f µs/span), %.1f bytes/span on the wire (%.2fx compression)\n",
				label, reqs, spans, spans/float64(reqs), f.cpuUs/1e3, t1.Sub(t0).Seconds(), f.idleUsPerS, f.usPerSpan, schedIdleRate/1e3, f.schedUsPerSpan, f.bytesPerSpan, f.ratio)
		}
	}
	med := func(v variant, pick func(figures) float64) float64 {
		var vals []float64
		for _, f := range got[v] {
			vals = append(vals, pick(f))
		}
		return median(vals)
	}
	perSpan := func(f figures) float64 { return f.usPerSpan }
	schedPerSpan := func(f figures) float64 { return f.schedUsPerSpan }
	bytesPerSpan := func(f figures) float64 { return f.bytesPerSpan }
	fmt.Printf("median of %d runs each, %d spans/s (shipped = config/agent.yaml's compression: %s):\n", 2*pairs, rate*5, shipped)
	for _, v := range order {
		fmt.Printf("  %-18s %5.2f µs/span (sched %5.2f), %6.1f bytes/span\n", v.name, med(v, perSpan), med(v, schedPerSpan), med(v, bytesPerSpan))
	}
	b.ReportMetric(med(on, func(f figures) float64 { return f.spans }), "on-spans")
	b.ReportMetric(med(on, perSpan), "shipped-cpu-µs/span")
	b.ReportMetric(med(on, schedPerSpan), "shipped-sched-cpu-µs/span")
	b.ReportMetric(med(on, bytesPerSpan), "shipped-bytes/span")
	b.ReportMetric(med(on, func(f figures) float64 { return f.idleUsPerS }), "shipped-idle-cpu-µs/s")
	b.ReportMetric(med(gzipOn, perSpan), "gzip-cpu-µs/span")
	b.ReportMetric(med(gzipOn, bytesPerSpan), "gzip-bytes/span")
	b.ReportMetric(med(off, perSpan), "shipped-off-cpu-µs/span")
	b.ReportMetric(med(on, perSpan)/med(off, perSpan), "cpu-ratio-on/off")
	if baseOn.bin != "" {
		b.ReportMetric(med(baseOn, perSpan), "baseline-gzip-cpu-µs/span")
		b.ReportMetric(med(on, perSpan)/med(baseOn, perSpan), "cpu-ratio-shipped/baseline")
		b.ReportMetric(med(gzipOn, perSpan)/med(baseOn, perSpan), "cpu-ratio-gzip/baseline")
		b.ReportMetric(med(on, schedPerSpan)/med(baseOn, schedPerSpan), "sched-cpu-ratio-shipped/baseline")
	}
}

// shippedCompression is the otlp exporter compression config/agent.yaml
// sets for traces ("gzip", the exporter's default, when it sets none).
func shippedCompression(b *testing.B) string {
	raw, err := os.ReadFile("../../../config/agent.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var cfg struct {
		Exporters struct {
			Loadbalancing struct {
				Protocol struct {
					OTLP struct {
						Compression string `yaml:"compression"`
					} `yaml:"otlp"`
				} `yaml:"protocol"`
			} `yaml:"loadbalancing"`
		} `yaml:"exporters"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		b.Fatalf("config/agent.yaml: %v", err)
	}
	if c := cfg.Exporters.Loadbalancing.Protocol.OTLP.Compression; c != "" {
		return c
	}
	return "gzip"
}

func collectorBin(b *testing.B) string {
	bin := os.Getenv("OTELCOL_GOEBPF_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../../bin/otelcol-goebpf")
	}
	if _, err := os.Stat(bin); err != nil {
		prereq.Missing(b, "collector binary %s: %v (run `make build`)", bin, err)
	}
	return bin
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startChain(b *testing.B, exe, role string, args ...string) {
	cmd := exec.Command(exe, append([]string{role}, args...)...)
	cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME="+role, "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(b, role, args[0])
}

// otlpSink is an OTLP/gRPC trace server that counts what it receives.
type otlpSink struct {
	ptraceotlp.UnimplementedGRPCServer
	addr  string
	spans atomic.Int64
	// wireBytes: the received messages' wire length (compressed payload and
	// gRPC's 5-byte prefix); rawBytes: their length once decompressed.
	wireBytes, rawBytes atomic.Int64
}

// HandleRPC counts the bytes of each message received (stats.Handler).
func (s *otlpSink) HandleRPC(_ context.Context, st stats.RPCStats) {
	if in, ok := st.(*stats.InPayload); ok {
		s.wireBytes.Add(int64(in.WireLength))
		s.rawBytes.Add(int64(in.Length))
	}
}

func (s *otlpSink) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (s *otlpSink) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (s *otlpSink) HandleConn(context.Context, stats.ConnStats) {}

func (s *otlpSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

func startOTLPSink(b *testing.B) *otlpSink {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &otlpSink{addr: l.Addr().String()}
	srv := grpc.NewServer(grpc.StatsHandler(s))
	ptraceotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(srv.Stop)
	return s
}

// waitQuiet returns once no span has arrived for quiet.
func (s *otlpSink) waitQuiet(quiet time.Duration) {
	last, since := s.spans.Load(), time.Now()
	for time.Since(since) < quiet {
		time.Sleep(50 * time.Millisecond)
		if n := s.spans.Load(); n != last {
			last, since = n, time.Now()
		}
	}
}

// distribution is a running collector.
type distribution struct {
	cmd       *exec.Cmd
	logs      *lockedBuffer
	pprofAddr string
	done      chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.String()
}

// startDistribution runs the collector on a config of the receiver's
// defaults (HTTP spans, extraction, stitching as given), the batch
// processor's defaults and the otlp exporter (gzip, its default, unless
// compression says otherwise), its own metrics served on a
// free port as in a default deployment, and waits until it is ready.
func startDistribution(b *testing.B, bin, exe, sinkAddr string, stitch bool, compression string) *distribution {
	dir := b.TempDir()
	if compression == "" {
		compression = "gzip" // the otlp exporter's default
	}
	pprofAddr := freeAddr(b)
	telemetryHost, telemetryPort, _ := net.SplitHostPort(freeAddr(b))
	config := fmt.Sprintf(`
extensions:
  pprof:
    endpoint: %s
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
    traces:
      propagation:
        stitch: %t
processors:
  batch: {}
exporters:
  otlp:
    endpoint: %s
    tls: { insecure: true }
    compression: %s
service:
  extensions: [pprof]
  telemetry:
    metrics:
      readers:
        - pull: { exporter: { prometheus: { host: %s, port: %s } } }
  pipelines:
    traces: { receivers: [ebpf], processors: [batch], exporters: [otlp] }
`, pprofAddr, exe, stitch, sinkAddr, compression, telemetryHost, telemetryPort)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		b.Fatal(err)
	}
	d := &distribution{logs: &lockedBuffer{}, pprofAddr: pprofAddr, done: make(chan error, 1)}
	d.cmd = exec.Command(bin, "--config", cfg)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	b.Cleanup(func() { d.stop(b) })
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(d.logs.String(), "Everything is ready") {
		select {
		case err := <-d.done:
			d.done <- err
			b.Fatalf("collector exited (%v):\n%s", err, d.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatalf("collector not ready within 60 s:\n%s", d.logs.String())
		}
	}
	return d
}

func (d *distribution) pid() int { return d.cmd.Process.Pid }

func (d *distribution) stop(b *testing.B) {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		b.Errorf("collector did not stop within 30 s of SIGTERM")
	}
}

// profile starts a CPU profile of the collector over seconds; the channel
// delivers it.
func (d *distribution) profile(b *testing.B, seconds int) chan []byte {
	out := make(chan []byte, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", d.pprofAddr, seconds))
		if err != nil {
			b.Errorf("pprof: %v", err)
			out <- nil
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		out <- raw
	}()
	return out
}

// procCPU is a process's utime+stime in nanoseconds (/proc/<pid>/stat,
// fields 14 and 15, in clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const tick = int64(time.Second / 100) // USER_HZ
	return (utime + stime) * tick
}

// frontHead is the ~1 KiB of headers of a request to front, besides its
// traceparent.
var frontHead = http.Header{
	"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
	"Accept":          {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
	"Accept-Language": {"en-GB,en;q=0.9,fr;q=0.8"},
	"Authorization":   {"Bearer " + strings.Repeat("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9", 7)},
	"Cookie":          {"session=" + strings.Repeat("a1b2c3d4e5f6", 20) + "; theme=dark; consent=1"},
	"X-Request-Id":    {"5f0c6d1e-8a7b-4c3d-9e2f-1a0b9c8d7e6f"},
	"X-Forwarded-For": {"203.0.113.7, 10.0.0.12"},
}

var driver = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func driveOne(frontAddr string) error {
	var id [24]byte
	_, _ = rand.Read(id[:])
	req, _ := http.NewRequest(http.MethodGet, "http://"+frontAddr+"/work?user=42", nil)
	req.Header = frontHead.Clone()
	req.Header.Set("Traceparent", "00-"+hex.EncodeToString(id[:16])+"-"+hex.EncodeToString(id[16:])+"-01")
	resp, err := driver.Do(req)
	if err != nil {
		return fmt.Errorf("GET /work: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /work: %s", resp.Status)
	}
	return nil
}

// drive sends requests to front at rate per second for d (open loop, up to
// 16 in flight) and returns how many it sent.
func drive(b *testing.B, frontAddr string, rate int, d time.Duration) int {
	interval := time.Second / time.Duration(rate)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	n := 0
	start := time.Now()
	for next := start; next.Sub(start) < d; next = next.Add(interval) {
		time.Sleep(time.Until(next))
		sem <- struct{}{}
		wg.Add(1)
		n++
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := driveOne(frontAddr); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	return n
}
