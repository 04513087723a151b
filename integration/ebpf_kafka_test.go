package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// startKafkaBroker builds and starts testdata/kafkademo/broker (kfake: a
// broker in Go speaking the real Kafka protocol) on a free port of
// 127.0.0.1 with the given topics, one partition each, and stops it when
// the test ends. It returns the broker's address.
func startKafkaBroker(t *testing.T, dir string, topics ...string) string {
	t.Helper()
	bin := buildGo(t, "testdata/kafkademo/broker", dir, "kafka-broker")
	cmd := exec.Command(bin, "-port", strconv.Itoa(freePort(t)), "-topics", strings.Join(topics, ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("kafka broker: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("kafka broker said %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return addr
}

// kafkaAttrs is a span's attributes as strings.
func kafkaAttrs(s ptrace.Span) map[string]string {
	out := map[string]string{}
	for k, v := range s.Attributes().AsRaw() {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// TestEBPFKafkaSpans runs the built otelcol-goebpf binary with
// traces.kafka on against testdata/kafkademo (its own module: kafka-go
// v0.4.51 with DWARF and stripped, v0.4.42 stripped: the oldest release
// the module proxy serves after v0.2.0, which has no message headers),
// producing to and consuming from a real Kafka-protocol broker (kfake)
// started by the test. Per demo, after a warm-up: /produce?n=1 (the
// Writer names the topic), /produce?n=3 with the topic on each message and
// an application-set traceparent header, and a produce that fails (a
// message larger than BatchBytes). Exactly 3 server spans, 3 PRODUCER
// spans (children of their server spans, one per call whatever its size,
// batch count 3 on the batch, Error on the failure; partition 0 on the
// two sent, and the offset on the one-message send) and 4 CONSUMER spans
// (consecutive offsets, partition 0, the group; the first joined to its
// producer by the receiver's Kafka join: the producer span's child, in
// its trace with what the consumer did; the three others children of the
// traceparent's span, which wins over the join).
func TestEBPFKafkaSpans(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	type demo struct {
		name, topic, addr string
		stripped          bool
		pid               int64
	}
	demos := []*demo{
		{name: "kafkademo-dwarf", topic: "orders1"},
		{name: "kafkademo-stripped", topic: "orders2", stripped: true},
		{name: "kafkademo-v0442-stripped", topic: "orders3", stripped: true},
	}
	buildGo(t, "testdata/kafkademo", dir, demos[0].name)
	buildGo(t, "testdata/kafkademo", dir, demos[1].name, "-ldflags=-s -w")
	buildGo(t, "testdata/kafkademo", dir, demos[2].name, "-modfile=old.mod", "-ldflags=-s -w")
	broker := startKafkaBroker(t, dir, demos[0].topic, demos[1].topic, demos[2].topic)

	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
    traces:
      http: { server: true, client: true }
      kafka: { producer: true, consumer: true, join_wait: 1s }
exporters:
  file:
    path: {{DIR}}/traces.json
    flush_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [file]
`, filepath.Join(dir, "kafkademo-*")))
	out := c.Path("traces.json")
	// The spans of the test's polling of /consumed are left out.
	demoSpans := func() []pidSpan {
		var keep []pidSpan
		for _, s := range pidSpans(t, out) {
			if s.span.Name() != "GET /consumed" {
				keep = append(keep, s)
			}
		}
		return keep
	}

	for _, d := range demos {
		d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		cmd := exec.Command(filepath.Join(dir, d.name), "-addr", d.addr, "-brokers", broker, "-topic", d.topic, "-group", "workers", "-ack")
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		name := d.name
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, logs.String())
			}
		})
		d.pid = int64(cmd.Process.Pid)
	}
	call := func(d *demo, path string, q url.Values) (int, string, error) {
		resp, err := http.Get("http://" + d.addr + path + "?" + q.Encode())
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body)), nil
	}
	produce := func(d *demo, q url.Values, wantStatus int) {
		t.Helper()
		code, body, err := call(d, "/produce", q)
		if err != nil || code != wantStatus {
			t.Fatalf("%s /produce?%s: %d %q %v, want %d", d.name, q.Encode(), code, body, err, wantStatus)
		}
	}
	consumed := func(d *demo) int {
		_, body, err := call(d, "/consumed", nil)
		if err != nil {
			return -1
		}
		n, _ := strconv.Atoi(body)
		return n
	}
	// Warm-up, until each process is instrumented: a producer and a
	// consumer span from each. A fetch already waiting when the probe is
	// attached has no entry seen, so gets no span.
	eventually(t, 60*time.Second, "producer and consumer spans from each process", func() (bool, string) {
		kinds := map[int64]map[ptrace.SpanKind]bool{}
		for _, d := range demos {
			if code, body, err := call(d, "/produce", url.Values{"n": {"1"}}); err != nil || code != http.StatusOK {
				return false, fmt.Sprintf("%s: %d %s %v", d.name, code, body, err)
			}
		}
		for _, s := range demoSpans() {
			if kinds[s.pid] == nil {
				kinds[s.pid] = map[ptrace.SpanKind]bool{}
			}
			kinds[s.pid][s.span.Kind()] = true
		}
		ready := 0
		for _, d := range demos {
			if kinds[d.pid][ptrace.SpanKindProducer] && kinds[d.pid][ptrace.SpanKindConsumer] {
				ready++
			}
		}
		return ready == len(demos), fmt.Sprintf("%d of %d processes", ready, len(demos))
	})
	// Every warm-up message consumed and its span out before counting.
	before := map[*demo]int{}
	eventually(t, 20*time.Second, "warm-up messages consumed", func() (bool, string) {
		for _, d := range demos {
			n := consumed(d)
			time.Sleep(300 * time.Millisecond)
			if consumed(d) != n {
				return false, d.name + " still consuming"
			}
			before[d] = n
		}
		return true, ""
	})
	// Consumer spans of warm-up messages whose producer was not seen are
	// held for the join's wait (join_wait above) before they go out.
	time.Sleep(2 * time.Second)
	base := len(demoSpans())

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tp := "00-" + traceID + "-" + parentID + "-01"
	for _, d := range demos {
		produce(d, url.Values{"n": {"1"}}, http.StatusOK)
		eventually(t, 10*time.Second, d.name+" consumed 1", func() (bool, string) {
			n := consumed(d)
			return n == before[d]+1, fmt.Sprintf("%d consumed", n-before[d])
		})
		produce(d, url.Values{"n": {"3"}, "topic": {"message"}, "tp": {tp}}, http.StatusOK)
		produce(d, url.Values{"n": {"1"}, "big": {"1"}}, http.StatusInternalServerError)
	}
	// Per demo: 3 /produce server spans, 3 producer spans, 4 consumer
	// spans, and for each message the consumer's GET /ack: a client span
	// and its server span.
	perDemo := 3 + 3 + 4 + 4 + 4
	want := base + perDemo*len(demos)
	eventually(t, 20*time.Second, "all spans in the file", func() (bool, string) {
		n := len(demoSpans())
		return n >= want, fmt.Sprintf("%d/%d spans", n, want)
	})
	time.Sleep(time.Second) // extras would show up now
	all := demoSpans()
	if len(all) != want {
		t.Errorf("%d spans, want exactly %d (%d before, %d demos × %d)", len(all), want, base, len(demos), perDemo)
	}
	spans := all[base:]
	for _, d := range demos {
		var servers, acks, clients, producers, consumers []ptrace.Span
		for _, s := range spans {
			if s.pid != d.pid {
				continue
			}
			switch s.span.Kind() {
			case ptrace.SpanKindServer:
				if s.span.Name() == "GET /ack" {
					acks = append(acks, s.span)
				} else {
					servers = append(servers, s.span)
				}
			case ptrace.SpanKindClient:
				clients = append(clients, s.span)
			case ptrace.SpanKindProducer:
				producers = append(producers, s.span)
			case ptrace.SpanKindConsumer:
				consumers = append(consumers, s.span)
			default:
				t.Errorf("%s: unexpected %v span %q", d.name, s.span.Kind(), s.span.Name())
			}
		}
		if len(servers) != 3 || len(producers) != 3 || len(consumers) != 4 || len(clients) != 4 || len(acks) != 4 {
			t.Errorf("%s: %d /produce server, %d producer, %d consumer, %d client, %d /ack server spans; want 3, 3, 4, 4, 4",
				d.name, len(servers), len(producers), len(consumers), len(clients), len(acks))
			continue
		}
		byStart := func(s []ptrace.Span) {
			sort.Slice(s, func(i, j int) bool { return s[i].StartTimestamp() < s[j].StartTimestamp() })
		}
		byStart(servers)
		byStart(producers)
		// Producers: one per call, a child of its request's server span.
		for i, p := range producers {
			a := kafkaAttrs(p)
			ctx := fmt.Sprintf("%s producer %d %q %v", d.name, i, p.Name(), a)
			srv := servers[i]
			if p.TraceID() != srv.TraceID() || p.ParentSpanID() != srv.SpanID() {
				t.Errorf("%s: not a child of server span %q", ctx, srv.Name())
			}
			if p.Name() != "send "+d.topic || a["messaging.system"] != "kafka" || a["messaging.operation.type"] != "send" ||
				a["messaging.operation.name"] != "send" || a["messaging.destination.name"] != d.topic {
				t.Errorf("%s: want send %s with messaging attributes", ctx, d.topic)
			}
			wantBatch, wantErr := "", false
			switch i {
			case 1:
				wantBatch = "3"
			case 2:
				wantErr = true
			}
			if got := a["messaging.batch.message_count"]; (wantBatch == "" && got != "") || (wantBatch != "" && got != wantBatch) {
				t.Errorf("%s: batch count %q, want %q", ctx, got, wantBatch)
			}
			if (p.Status().Code() == ptrace.StatusCodeError) != wantErr {
				t.Errorf("%s: status %v, want error %v", ctx, p.Status().Code(), wantErr)
			}
			// The broker's answer: partition and (one message) offset.
			wantPart := map[int]string{0: "0", 1: "0"}[i]
			if a["messaging.destination.partition.id"] != wantPart {
				t.Errorf("%s: partition %q, want %q", ctx, a["messaging.destination.partition.id"], wantPart)
			}
			if _, ok := a["messaging.kafka.offset"]; ok != (i == 0) {
				t.Errorf("%s: offset %q, want one only on the one-message send", ctx, a["messaging.kafka.offset"])
			}
		}
		// Consumers: consecutive offsets of partition 0; the first
		// message has no parent, the three with a traceparent are its
		// children.
		sort.Slice(consumers, func(i, j int) bool {
			oi, _ := consumers[i].Attributes().Get("messaging.kafka.offset")
			oj, _ := consumers[j].Attributes().Get("messaging.kafka.offset")
			return oi.Int() < oj.Int()
		})
		first, _ := consumers[0].Attributes().Get("messaging.kafka.offset")
		for i, s := range consumers {
			a := kafkaAttrs(s)
			ctx := fmt.Sprintf("%s consumer %d %q %v", d.name, i, s.Name(), a)
			if s.Name() != "receive "+d.topic || a["messaging.system"] != "kafka" || a["messaging.operation.type"] != "receive" ||
				a["messaging.destination.name"] != d.topic || a["messaging.destination.partition.id"] != "0" ||
				a["messaging.consumer.group.name"] != "workers" {
				t.Errorf("%s: want receive %s with messaging attributes", ctx, d.topic)
			}
			if a["messaging.kafka.offset"] != strconv.FormatInt(first.Int()+int64(i), 10) {
				t.Errorf("%s: offsets not consecutive from %d", ctx, first.Int())
			}
			if s.Links().Len() != 0 {
				t.Errorf("%s: %d links, want none", ctx, s.Links().Len())
			}
			// What the consumer did with the message (its GET /ack) is
			// the consumer span's child, and /ack's server span the
			// client span's (stitched).
			var children []ptrace.Span
			for _, cl := range clients {
				if cl.ParentSpanID() == s.SpanID() && cl.TraceID() == s.TraceID() {
					children = append(children, cl)
				}
			}
			if len(children) != 1 {
				t.Errorf("%s: %d client children, want 1 (its GET /ack)", ctx, len(children))
			} else {
				served := 0
				for _, ak := range acks {
					if ak.ParentSpanID() == children[0].SpanID() && ak.TraceID() == s.TraceID() {
						served++
					}
				}
				if served != 1 {
					t.Errorf("%s: its GET /ack client span has %d server children, want 1", ctx, served)
				}
			}
			if i == 0 {
				// Joined: the one-message producer span is its parent.
				p := producers[0]
				if s.TraceID() != p.TraceID() || s.ParentSpanID() != p.SpanID() {
					t.Errorf("%s: trace %s parent %s, want the producer span's %s %s", ctx, s.TraceID(), s.ParentSpanID(), p.TraceID(), p.SpanID())
				}
				if po := kafkaAttrs(p)["messaging.kafka.offset"]; po != a["messaging.kafka.offset"] {
					t.Errorf("%s: producer span says offset %q", ctx, po)
				}
				continue
			}
			if s.TraceID().String() != traceID || s.ParentSpanID().String() != parentID {
				t.Errorf("%s: trace %s parent %s, want the traceparent's %s %s", ctx, s.TraceID(), s.ParentSpanID(), traceID, parentID)
			}
		}
	}
	if t.Failed() {
		var names []string
		for _, s := range spans {
			names = append(names, fmt.Sprintf("%d %v %q trace=%s parent=%s %v", s.pid, s.span.Kind(), s.span.Name(), s.span.TraceID(), s.span.ParentSpanID(), kafkaAttrs(s.span)))
		}
		t.Logf("spans:\n%s", strings.Join(names, "\n"))
	}
}
