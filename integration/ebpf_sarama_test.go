package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/saramademo"
)

// TestEBPFSaramaSpans runs the built otelcol-goebpf binary with
// traces.kafka on against testdata/saramademo built four ways (sarama
// v1.61.1 with DWARF and stripped, v1.40.1 stripped: the newest and the
// oldest github.com/IBM/sarama the module proxy serves; and
// github.com/Shopify/sarama v1.38.1 stripped), each producing to and
// consuming from a real Kafka-protocol broker (kfake) started by the test,
// on a topic of 3 partitions. Per demo, after a warm-up: a SendMessage to
// partition 2, a SendMessages of 3 messages to partition 1 with an
// application-set traceparent header, and a SendMessage that fails (a
// message larger than MaxMessageBytes). Exactly
// 3 /produce server spans and 3 PRODUCER spans (children of their server
// spans; the first with the partition and offset SendMessage returned,
// the second with batch count 3, the third an Error without coordinates)
// and 4 CONSUMER spans: one per message consumed, with the coordinates the
// broker gave them (as the program read them) and the group: the three
// with a traceparent its children, the other a root.
func TestEBPFSaramaSpans(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	type demo struct {
		name, topic, addr string
		pid               int64
	}
	demos := []*demo{
		{name: "saramademo-dwarf", topic: "sarama1"},
		{name: "saramademo-stripped", topic: "sarama2"},
		{name: "saramademo-v1401-stripped", topic: "sarama3"},
		{name: "saramademo-shopify-stripped", topic: "sarama4"},
	}
	saramademo.Build(t, saramademo.Newest, false, dir, demos[0].name)
	saramademo.Build(t, saramademo.Newest, true, dir, demos[1].name)
	saramademo.Build(t, saramademo.Oldest, true, dir, demos[2].name)
	saramademo.Build(t, saramademo.Shopify, true, dir, demos[3].name)
	// The demos create their topics.
	broker := startKafkaBroker(t, dir, "unused")

	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
    traces:
      http: { server: true, client: false }
      kafka: { producer: true, consumer: true }
exporters:
  file:
    path: {{DIR}}/traces.json
    flush_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [file]
`, filepath.Join(dir, "saramademo-*")))
	out := c.Path("traces.json")
	// The spans of the test's polling (/consumed, /start) are left out.
	demoSpans := func() []pidSpan {
		var keep []pidSpan
		for _, s := range pidSpans(t, out) {
			if n := s.span.Name(); n != "GET /consumed" && n != "GET /start" {
				keep = append(keep, s)
			}
		}
		return keep
	}

	for _, d := range demos {
		d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		cmd := exec.Command(filepath.Join(dir, d.name), "-addr", d.addr, "-brokers", broker, "-topic", d.topic, "-group", "workers", "-partitions", "3")
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
	produce := func(d *demo, q url.Values, wantStatus int) []string {
		t.Helper()
		code, body, err := call(d, "/produce", q)
		if err != nil || code != wantStatus {
			t.Fatalf("%s /produce?%s: %d %q %v, want %d", d.name, q.Encode(), code, body, err, wantStatus)
		}
		return strings.Fields(body)
	}
	consumed := func(d *demo) []string {
		_, body, err := call(d, "/consumed", nil)
		if err != nil {
			return nil
		}
		return strings.Fields(body)
	}
	kindsByPid := func() map[int64]map[ptrace.SpanKind]bool {
		kinds := map[int64]map[ptrace.SpanKind]bool{}
		for _, s := range demoSpans() {
			if kinds[s.pid] == nil {
				kinds[s.pid] = map[ptrace.SpanKind]bool{}
			}
			kinds[s.pid][s.span.Kind()] = true
		}
		return kinds
	}
	// Warm-up: until each process is instrumented (a producer span), then
	// its consumer group is started (a group session that started before
	// the probe was attached has no group name) and a consumer span comes.
	// The demos wait for their topics at start: retry until they answer.
	eventually(t, 60*time.Second, "producer spans from each process", func() (bool, string) {
		// To partitions 1 and 2, so the test's messages have offsets > 0.
		for _, d := range demos {
			for _, p := range []string{"1", "2"} {
				if code, body, err := call(d, "/produce", url.Values{"n": {"1"}, "p": {p}}); err != nil || code != http.StatusOK {
					return false, fmt.Sprintf("%s: %d %s %v", d.name, code, body, err)
				}
			}
		}
		kinds, ready := kindsByPid(), 0
		for _, d := range demos {
			if kinds[d.pid][ptrace.SpanKindProducer] {
				ready++
			}
		}
		return ready == len(demos), fmt.Sprintf("%d of %d processes", ready, len(demos))
	})
	for _, d := range demos {
		if code, body, err := call(d, "/start", nil); err != nil || code != http.StatusOK {
			t.Fatalf("%s /start: %d %s %v", d.name, code, body, err)
		}
	}
	eventually(t, 60*time.Second, "consumer spans from each process", func() (bool, string) {
		kinds, ready := kindsByPid(), 0
		for _, d := range demos {
			if kinds[d.pid][ptrace.SpanKindConsumer] {
				ready++
			}
		}
		return ready == len(demos), fmt.Sprintf("%d of %d processes", ready, len(demos))
	})
	// Every warm-up message consumed and its span out before counting.
	before := map[*demo]int{}
	eventually(t, 20*time.Second, "warm-up messages consumed", func() (bool, string) {
		for _, d := range demos {
			n := len(consumed(d))
			time.Sleep(300 * time.Millisecond)
			if len(consumed(d)) != n {
				return false, d.name + " still consuming"
			}
			before[d] = n
		}
		return true, ""
	})
	time.Sleep(time.Second)
	base := len(demoSpans())

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tp := "00-" + traceID + "-" + parentID + "-01"
	sent := map[*demo][]string{}
	for _, d := range demos {
		sent[d] = append(sent[d], produce(d, url.Values{"n": {"1"}, "p": {"2"}}, http.StatusOK)...)
		sent[d] = append(sent[d], produce(d, url.Values{"n": {"3"}, "p": {"1"}, "tp": {tp}}, http.StatusOK)...)
		produce(d, url.Values{"n": {"1"}, "big": {"1"}}, http.StatusInternalServerError)
		if len(sent[d]) != 4 || !strings.HasPrefix(sent[d][0], "2:") || !strings.HasPrefix(sent[d][1], "1:") {
			t.Fatalf("%s: sent %v, want 4 messages, the first to partition 2, the others to 1", d.name, sent[d])
		}
	}
	for _, d := range demos {
		eventually(t, 20*time.Second, d.name+" consumed 4", func() (bool, string) {
			n := len(consumed(d)) - before[d]
			return n == 4, fmt.Sprintf("%d consumed", n)
		})
	}
	// Per demo: 3 /produce server spans, 3 producer spans, 4 consumer spans.
	perDemo := 3 + 3 + 4
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
	spans := all[min(base, len(all)):]
	for _, d := range demos {
		var servers, producers, consumers []ptrace.Span
		for _, s := range spans {
			if s.pid != d.pid {
				continue
			}
			switch s.span.Kind() {
			case ptrace.SpanKindServer:
				servers = append(servers, s.span)
			case ptrace.SpanKindProducer:
				producers = append(producers, s.span)
			case ptrace.SpanKindConsumer:
				consumers = append(consumers, s.span)
			default:
				t.Errorf("%s: unexpected %v span %q", d.name, s.span.Kind(), s.span.Name())
			}
		}
		if len(servers) != 3 || len(producers) != 3 || len(consumers) != 4 {
			t.Errorf("%s: %d /produce server, %d producer, %d consumer spans; want 3, 3, 4", d.name, len(servers), len(producers), len(consumers))
			continue
		}
		byStart := func(s []ptrace.Span) {
			sort.Slice(s, func(i, j int) bool { return s[i].StartTimestamp() < s[j].StartTimestamp() })
		}
		byStart(servers)
		byStart(producers)
		first := strings.SplitN(sent[d][0], ":", 2)
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
			wantPartition, wantOffset, wantBatch, wantErr := "", "", "", false
			switch i {
			case 0:
				wantPartition, wantOffset = first[0], first[1]
			case 1:
				wantBatch = "3"
			case 2:
				wantErr = true
			}
			if a["messaging.destination.partition.id"] != wantPartition || a["messaging.kafka.offset"] != wantOffset {
				t.Errorf("%s: partition %q offset %q, want %q %q", ctx, a["messaging.destination.partition.id"], a["messaging.kafka.offset"], wantPartition, wantOffset)
			}
			if a["messaging.batch.message_count"] != wantBatch {
				t.Errorf("%s: batch count %q, want %q", ctx, a["messaging.batch.message_count"], wantBatch)
			}
			if (p.Status().Code() == ptrace.StatusCodeError) != wantErr {
				t.Errorf("%s: status %v, want error %v", ctx, p.Status().Code(), wantErr)
			}
		}
		// Consumers: exactly the coordinates of the messages sent, each once.
		var got []string
		for _, s := range consumers {
			a := kafkaAttrs(s)
			ctx := fmt.Sprintf("%s consumer %q %v", d.name, s.Name(), a)
			if s.Name() != "receive "+d.topic || a["messaging.system"] != "kafka" || a["messaging.operation.type"] != "receive" ||
				a["messaging.operation.name"] != "receive" || a["messaging.destination.name"] != d.topic ||
				a["messaging.consumer.group.name"] != "workers" {
				t.Errorf("%s: want receive %s with messaging attributes and group workers", ctx, d.topic)
			}
			// The messages of partition 1 carry the traceparent header.
			if a["messaging.destination.partition.id"] == "1" {
				if s.TraceID().String() != traceID || s.ParentSpanID().String() != parentID {
					t.Errorf("%s: trace %s parent %s, want the traceparent's %s %s", ctx, s.TraceID(), s.ParentSpanID(), traceID, parentID)
				}
			} else if a["messaging.destination.partition.id"] == first[0] && a["messaging.kafka.offset"] == first[1] {
				// The one-message SendMessage's span carries the message's
				// partition and offset, so the receiver's Kafka join
				// (traces.kafka.join, on by default) continues its trace.
				if s.TraceID() != producers[0].TraceID() || s.ParentSpanID() != producers[0].SpanID() {
					t.Errorf("%s: trace %s parent %s, want joined to the SendMessage span %s %s", ctx, s.TraceID(), s.ParentSpanID(), producers[0].TraceID(), producers[0].SpanID())
				}
			} else if !s.ParentSpanID().IsEmpty() {
				t.Errorf("%s: parent %s, want none", ctx, s.ParentSpanID())
			}
			got = append(got, a["messaging.destination.partition.id"]+":"+a["messaging.kafka.offset"])
		}
		wantCoords := append([]string(nil), sent[d]...)
		sort.Strings(got)
		sort.Strings(wantCoords)
		if strings.Join(got, " ") != strings.Join(wantCoords, " ") {
			t.Errorf("%s: consumer spans at %v, want the messages sent: %v", d.name, got, wantCoords)
		}
	}
	if t.Failed() {
		var names []string
		for _, s := range spans {
			names = append(names, fmt.Sprintf("%d %v %q trace=%s parent=%s %v", s.pid, s.span.Kind(), s.span.Name(), s.span.TraceID(), s.span.ParentSpanID(), kafkaAttrs(s.span)))
		}
		t.Logf("spans:\n%s\ncollector:\n%s", strings.Join(names, "\n"), c.Logs.String())
	}
}
