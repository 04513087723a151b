package bench

import (
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

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/saramademo"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/saramaconsumer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/saramaproducer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// BenchmarkSaramaProbes reports, for integration/testdata/saramademo
// (github.com/IBM/sarama v1.61.1, stripped) producing to and consuming
// from a real Kafka-protocol broker (kfake, kafkademo's broker), the sarama
// probes' hits and BPF run time per SyncProducer call (SendMessage, and
// SendMessages of 10: hits must not depend on the batch), per message
// handed to an AsyncProducer (rounds of 1 and of 100 messages, the
// producer flushing every 1 and 100 messages: hits are per batch), and per
// message and per fetched batch consumed (the demo's consumer group reads
// every message it produces). Each round times the sends (200 sync calls,
// 200 async rounds of 1, 20 async rounds of 100) with the probes detached,
// then attached: the ratio of the two.
func BenchmarkSaramaProbes(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	exe := saramademo.Build(b, saramademo.Newest, true, dir, "saramademo")
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "broker"), "./broker")
	build.Dir = "../../../integration/testdata/kafkademo"
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build broker: %v\n%s", err, out)
	}
	brokerAddr := startBroker(b, filepath.Join(dir, "broker"), "unused")
	addr := freeAddr(b)
	cmd := exec.Command(exe, "-addr", addr, "-brokers", brokerAddr, "-topic", "bench", "-partitions", "1", "-group", "bench")
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
	consumed := func() int64 { return int64(len(strings.Fields(get("/consumed")))) }
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
	type mode struct {
		name         string
		path         string
		calls, batch int
	}
	modes := []mode{
		{"sync", "/bench", 200, 1}, {"sync", "/bench", 200, 10},
		{"async", "/asyncbench", 200, 1}, {"async", "/asyncbench", 20, 100},
	}
	produced := int64(0)
	produce := func(m mode) time.Duration {
		ns, _ := strconv.ParseInt(get(fmt.Sprintf("%s?n=%d&batch=%d", m.path, m.calls, m.batch)), 10, 64)
		produced += int64(m.calls * m.batch)
		return time.Duration(ns)
	}
	for _, m := range modes {
		produce(m) // warm up: metadata, the async producers
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
	attach := func() *tracer.Attachment {
		att, err := tr.Attach(cmd.Process.Pid, cookie, bin, tracer.Probes{httpserver.Name: true, saramaproducer.Name: true, saramaconsumer.Name: true})
		if err != nil {
			b.Fatal(err)
		}
		return att
	}
	att := attach()
	defer func() { att.Close() }()
	// The group starts once the probes are attached, so its session's
	// Consume entry is seen (the group's name); the backlog's events are
	// drained before counting.
	get("/start")
	settle(produced)
	_ = tr.Drain(300*time.Millisecond, func([]byte) {})
	prog := func(p string) string { return p[len("uprobe_"):] }
	// The async programs run for a SyncProducer's messages too (the sync
	// producer is an AsyncProducer inside; they send no span for them).
	producerProgs := []string{prog(saramaproducer.ProgSendEntry), prog(saramaproducer.ProgSendReturn), prog(saramaproducer.ProgSendManyEntry), prog(saramaproducer.ProgSendManyReturn),
		prog(saramaproducer.ProgAsyncSuccesses), prog(saramaproducer.ProgAsyncErrors), prog(saramaproducer.ProgAsyncError),
		prog(saramaproducer.ProgAsyncBuild), prog(saramaproducer.ProgAsyncSuccess)}
	consumerProgs := []string{prog(saramaconsumer.ProgParseEntry), prog(saramaconsumer.ProgParseReturn), prog(saramaconsumer.ProgConsumeEntry)}
	parseReturn := prog(saramaconsumer.ProgParseReturn)
	sum := func(s0, s1 map[string]ebpf.ProgramStats, progs []string) (uint64, time.Duration) {
		var runs uint64
		var ns time.Duration
		for _, p := range progs {
			runs += s1[p].RunCount - s0[p].RunCount
			ns += s1[p].Runtime - s0[p].Runtime
		}
		return runs, ns
	}
	const rounds = 3
	for r := 1; r <= rounds; r++ {
		for _, m := range modes {
			batch, calls := m.batch, m.calls
			// Untraced: the same sends with the probes detached (the
			// consumer group running in both cases).
			att.Close()
			untraced := produce(m)
			settle(produced)
			att = attach()
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
			traced := produce(m)
			c1 := settle(produced)
			s1, _ := tr.ProgramStats()
			close(stop)
			<-stopped
			pRuns, pNs := sum(s0, s1, producerProgs)
			cRuns, cNs := sum(s0, s1, consumerProgs)
			msgs := c1 - c0
			batches := s1[parseReturn].RunCount - s0[parseReturn].RunCount
			var detail []string
			for _, p := range append(append([]string{}, producerProgs...), consumerProgs...) {
				if r := s1[p].RunCount - s0[p].RunCount; r > 0 {
					detail = append(detail, fmt.Sprintf("%s %.0f ns", p, float64((s1[p].Runtime-s0[p].Runtime).Nanoseconds())/float64(r)))
				}
			}
			fmt.Printf("round %d %s batch %3d: per program run: %s\n", r, m.name, batch, strings.Join(detail, ", "))
			fmt.Printf("round %d %s batch %3d: producer hits/call %.2f BPF ns/call %.0f, hits/message %.3f; consumer hits/message %.2f BPF ns/message %.0f, %d fetched batches: hits/batch %.2f BPF ns/batch %.0f (%d messages); events %d; %d sends %v traced, %v untraced (x%.2f)\n",
				r, m.name, batch, float64(pRuns)/float64(calls), float64(pNs.Nanoseconds())/float64(calls), float64(pRuns)/float64(calls*batch),
				float64(cRuns)/float64(msgs), float64(cNs.Nanoseconds())/float64(msgs),
				batches, float64(cRuns)/float64(batches), float64(cNs.Nanoseconds())/float64(batches), msgs, events,
				calls, traced, untraced, float64(traced)/float64(untraced))
			if r == rounds {
				unit := fmt.Sprintf("%s-batch%d", m.name, batch)
				b.ReportMetric(float64(pRuns)/float64(calls), "hits/call-"+unit)
				b.ReportMetric(float64(pRuns)/float64(calls*batch), "hits/produced-message-"+unit)
				b.ReportMetric(float64(pNs.Nanoseconds())/float64(calls), "BPF-ns/call-"+unit)
				b.ReportMetric(float64(cRuns)/float64(msgs), "hits/message-"+unit)
				b.ReportMetric(float64(cNs.Nanoseconds())/float64(msgs), "BPF-ns/message-"+unit)
				b.ReportMetric(float64(cRuns)/float64(batches), "hits/fetch-"+unit)
			}
		}
	}
}
