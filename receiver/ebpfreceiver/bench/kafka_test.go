package bench

import (
	"bufio"
	"fmt"
	"io"
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

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkaconsumer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkaoffsets"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkaproducer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// BenchmarkKafkaProbes reports, for integration/testdata/kafkademo
// (kafka-go v0.4.51) producing to and consuming from a real Kafka-protocol
// broker (kfake, testdata/kafkademo/broker), the kafka probes' hits and
// BPF run time per WriteMessages call with 1 and with 10 messages (hits
// must not depend on the batch), and per message consumed (the demo's
// consumer reads every message it produces, in a consumer group). It
// measures twice in the same run: before the Kafka join (the producer and
// consumer probes alone) and with it (the producer's per-message notes and
// the kafkaoffsets probe on each batch sent), and prints the ratios.
func BenchmarkKafkaProbes(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	demoDir := "../../../integration/testdata/kafkademo"
	for _, pkg := range []struct{ name, dir string }{{"kafkademo", "."}, {"broker", "./broker"}} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, pkg.name), pkg.dir)
		build.Dir = demoDir
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", pkg.name, err, out)
		}
	}
	brokerAddr := startBroker(b, filepath.Join(dir, "broker"), "bench")
	addr := freeAddr(b)
	exe := filepath.Join(dir, "kafkademo")
	cmd := exec.Command(exe, "-addr", addr, "-brokers", brokerAddr, "-topic", "bench", "-group", "bench")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	get := func(path string) string {
		b.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + path)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %s: %s", path, resp.Status, body)
				}
				return strings.TrimSpace(string(body))
			}
			if time.Now().After(deadline) {
				b.Fatalf("GET %s: %v", path, err)
			}
		}
	}
	consumed := func() int64 {
		n, _ := strconv.ParseInt(get("/consumed"), 10, 64)
		return n
	}
	// settle waits until the consumer has read all that was produced.
	settle := func(want int64) int64 {
		b.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if n := consumed(); n >= want {
				return n
			}
		}
		b.Fatalf("consumer stuck at %d of %d messages", consumed(), want)
		return 0
	}
	const calls = 200
	produced := int64(0)
	produce := func(batch int) {
		get(fmt.Sprintf("/bench?n=%d&batch=%d", calls, batch))
		produced += int64(calls * batch)
	}
	produce(1) // warm up: metadata, the group's join
	settle(produced)

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
	prog := func(p string) string { return p[len("uprobe_"):] }
	producerProgs := []string{prog(kafkaproducer.ProgEntry), prog(kafkaproducer.ProgReturn), prog(kafkaoffsets.ProgDone), prog(kafkaoffsets.ProgComplete)}
	consumerProgs := []string{prog(kafkaconsumer.ProgEntry), prog(kafkaconsumer.ProgReturn)}
	sum := func(s0, s1 map[string]ebpf.ProgramStats, progs []string) (uint64, time.Duration) {
		var runs uint64
		var ns time.Duration
		for _, p := range progs {
			runs += s1[p].RunCount - s0[p].RunCount
			ns += s1[p].Runtime - s0[p].Runtime
		}
		return runs, ns
	}
	type figures struct{ hits, ns float64 }
	// phase attaches the probes without the producer's offsets (before the
	// Kafka join) or with them, and measures the last of 3 rounds per
	// batch size.
	phase := func(name string, offsets bool) map[int]figures {
		tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, KafkaOffsets: offsets})
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		cookie, err := tr.AddBinary(bin.Offsets)
		if err != nil {
			b.Fatal(err)
		}
		att, err := tr.Attach(cmd.Process.Pid, cookie, bin, tracer.Probes{httpserver.Name: true, kafkaproducer.Name: true, kafkaconsumer.Name: true, kafkaoffsets.Name: offsets})
		if err != nil {
			b.Fatal(err)
		}
		defer att.Close()
		// A message the consumer was already waiting for when the probes
		// were attached: its fetch's entry was not seen; one round makes it
		// pass.
		produce(1)
		settle(produced)
		out := map[int]figures{}
		const rounds = 3
		for r := 1; r <= rounds; r++ {
			for _, batch := range []int{1, 10} {
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
				c0 := consumed()
				s0, _ := tr.ProgramStats()
				produce(batch)
				c1 := settle(produced)
				s1, _ := tr.ProgramStats()
				close(stop)
				<-stopped
				pRuns, pNs := sum(s0, s1, producerProgs)
				cRuns, cNs := sum(s0, s1, consumerProgs)
				msgs := c1 - c0
				var detail []string
				for _, p := range append(append([]string{}, producerProgs...), consumerProgs...) {
					if r := s1[p].RunCount - s0[p].RunCount; r > 0 {
						detail = append(detail, fmt.Sprintf("%s %.2f/call %.0f ns", p, float64(r)/calls, float64((s1[p].Runtime-s0[p].Runtime).Nanoseconds())/float64(r)))
					}
				}
				fmt.Printf("%s round %d batch %2d: per program: %s\n", name, r, batch, strings.Join(detail, ", "))
				fmt.Printf("%s round %d batch %2d: producer hits/call %.2f BPF ns/call %.0f; consumer hits/message %.2f BPF ns/message %.0f (%d messages); events %d\n",
					name, r, batch, float64(pRuns)/calls, float64(pNs.Nanoseconds())/calls, float64(cRuns)/float64(msgs), float64(cNs.Nanoseconds())/float64(msgs), msgs, events)
				if r == rounds {
					out[batch] = figures{float64(pRuns) / calls, float64(pNs.Nanoseconds()) / calls}
					if offsets {
						unit := fmt.Sprintf("batch%d", batch)
						b.ReportMetric(float64(pRuns)/calls, "hits/call-"+unit)
						b.ReportMetric(float64(pNs.Nanoseconds())/calls, "BPF-ns/call-"+unit)
						b.ReportMetric(float64(cRuns)/float64(msgs), "hits/message-"+unit)
						b.ReportMetric(float64(cNs.Nanoseconds())/float64(msgs), "BPF-ns/message-"+unit)
					}
				}
			}
		}
		return out
	}
	before := phase("before (no offsets)", false)
	after := phase("after (offsets, join)", true)
	for _, batch := range []int{1, 10} {
		bf, af := before[batch], after[batch]
		fmt.Printf("batch %2d: producer hits/call %.2f -> %.2f, BPF ns/call %.0f -> %.0f (ratio %.2f)\n", batch, bf.hits, af.hits, bf.ns, af.ns, af.ns/bf.ns)
	}
}

// startBroker runs the kfake broker of integration/testdata/kafkademo built
// at exe with topics (comma-separated) and returns the address it listens on.
func startBroker(b *testing.B, exe, topics string) string {
	b.Helper()
	broker := exec.Command(exe, "-topics", topics)
	stdout, err := broker.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := broker.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = broker.Process.Kill(); _ = broker.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("broker: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return strings.TrimPrefix(strings.TrimSpace(line), "listening ")
}
