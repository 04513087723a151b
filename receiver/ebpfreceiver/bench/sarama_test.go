package bench

import (
	"bufio"
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
// SendMessages of 10: hits must not depend on the batch), and per message
// and per fetched batch consumed (the demo's consumer group reads every
// message it produces). Each round times 200 sends with the probes
// detached, then attached: the ratio of the two.
func BenchmarkSaramaProbes(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	exe := saramademo.Build(b, saramademo.Newest, true, dir, "saramademo")
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "broker"), "./broker")
	build.Dir = "../../../integration/testdata/kafkademo"
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build broker: %v\n%s", err, out)
	}
	broker := exec.Command(filepath.Join(dir, "broker"), "-topics", "unused")
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
	brokerAddr := strings.TrimPrefix(strings.TrimSpace(line), "listening ")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
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
	const calls = 200
	produced := int64(0)
	produce := func(batch int) time.Duration {
		ns, _ := strconv.ParseInt(get(fmt.Sprintf("/bench?n=%d&batch=%d", calls, batch)), 10, 64)
		produced += int64(calls * batch)
		return time.Duration(ns)
	}
	produce(1) // warm up: metadata
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
	producerProgs := []string{prog(saramaproducer.ProgSendEntry), prog(saramaproducer.ProgSendReturn), prog(saramaproducer.ProgSendManyEntry), prog(saramaproducer.ProgSendManyReturn)}
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
		for _, batch := range []int{1, 10} {
			// Untraced: the same sends with the probes detached (the
			// consumer group running in both cases).
			att.Close()
			untraced := produce(batch)
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
			traced := produce(batch)
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
			fmt.Printf("round %d batch %2d: per program run: %s\n", r, batch, strings.Join(detail, ", "))
			fmt.Printf("round %d batch %2d: producer hits/call %.2f BPF ns/call %.0f; consumer hits/message %.2f BPF ns/message %.0f, %d fetched batches: hits/batch %.2f BPF ns/batch %.0f (%d messages); events %d; %d sends %v traced, %v untraced (x%.2f)\n",
				r, batch, float64(pRuns)/calls, float64(pNs.Nanoseconds())/calls,
				float64(cRuns)/float64(msgs), float64(cNs.Nanoseconds())/float64(msgs),
				batches, float64(cRuns)/float64(batches), float64(cNs.Nanoseconds())/float64(batches), msgs, events,
				calls, traced, untraced, float64(traced)/float64(untraced))
			if r == rounds {
				unit := fmt.Sprintf("batch%d", batch)
				b.ReportMetric(float64(pRuns)/calls, "hits/call-"+unit)
				b.ReportMetric(float64(pNs.Nanoseconds())/calls, "BPF-ns/call-"+unit)
				b.ReportMetric(float64(cRuns)/float64(msgs), "hits/message-"+unit)
				b.ReportMetric(float64(cNs.Nanoseconds())/float64(msgs), "BPF-ns/message-"+unit)
				b.ReportMetric(float64(cRuns)/float64(batches), "hits/fetch-"+unit)
			}
		}
	}
}
