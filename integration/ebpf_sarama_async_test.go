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

// TestEBPFSaramaAsyncSpans runs the built otelcol-goebpf binary with
// traces.kafka on against testdata/saramademo built with sarama v1.61.1
// and v1.40.1, both stripped, each producing to and consuming from a real
// Kafka-protocol broker (kfake) started by the test, on a topic of 3
// partitions. Per demo, after a warm-up: 3 messages to partition 1 handed
// to an AsyncProducer's Input(), one async message larger than
// MaxMessageBytes (it fails), and one SyncProducer SendMessage to
// partition 2, one async message to partition 2 with an application-set
// traceparent header, and one async message to partition 0 with
// RequiredAcks NoResponse. Exactly 7 PRODUCER spans: 3 "send {topic}" roots with the
// partition and offset the program got back on Successes() (starting
// before they end: at their request's build), one Error
// span with error.type and no coordinates, and the SendMessage's span
// (the async probe leaves a SyncProducer's messages to the sync one),
// the traceparent message's span, a child of the header's span, and the
// no-ack message's span without coordinates (sarama never set its
// offset); and 6 CONSUMER spans, each joined to the producer span of its
// message (same trace, the producer span as parent), but the no-ack
// message's, a root, and the traceparent message's, the header's child.
func TestEBPFSaramaAsyncSpans(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	type demo struct {
		name, topic, addr string
		pid               int64
	}
	demos := []*demo{
		{name: "saramaasync-stripped", topic: "async1"},
		{name: "saramaasync-v1401-stripped", topic: "async2"},
	}
	saramademo.Build(t, saramademo.Newest, true, dir, demos[0].name)
	saramademo.Build(t, saramademo.Oldest, true, dir, demos[1].name)
	broker := startKafkaBroker(t, dir, "unused")

	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
    traces:
      http: { server: false, client: false }
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
`, filepath.Join(dir, "saramaasync-*")))
	out := c.Path("traces.json")

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
	get := func(d *demo, path string, q url.Values) []string {
		t.Helper()
		code, body, err := call(d, path, q)
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s %s?%s: %d %q %v", d.name, path, q.Encode(), code, body, err)
		}
		return strings.Fields(body)
	}
	kindsByPid := func() map[int64]map[ptrace.SpanKind]bool {
		kinds := map[int64]map[ptrace.SpanKind]bool{}
		for _, s := range pidSpans(t, out) {
			if kinds[s.pid] == nil {
				kinds[s.pid] = map[ptrace.SpanKind]bool{}
			}
			kinds[s.pid][s.span.Kind()] = true
		}
		return kinds
	}
	// Warm-up: async sends until each process is instrumented, then the
	// consumer group starts and a consumer span comes.
	eventually(t, 60*time.Second, "producer spans from each process", func() (bool, string) {
		for _, d := range demos {
			for _, p := range []string{"1", "2"} {
				if code, body, err := call(d, "/async", url.Values{"n": {"1"}, "p": {p}}); err != nil || code != http.StatusOK {
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
		get(d, "/start", nil)
	}
	before := map[*demo]int{}
	eventually(t, 60*time.Second, "consumer spans, warm-up consumed", func() (bool, string) {
		kinds := kindsByPid()
		for _, d := range demos {
			if !kinds[d.pid][ptrace.SpanKindConsumer] {
				return false, d.name + ": no consumer span"
			}
			n := len(get(d, "/consumed", nil))
			time.Sleep(300 * time.Millisecond)
			if len(get(d, "/consumed", nil)) != n {
				return false, d.name + " still consuming"
			}
			before[d] = n
		}
		return true, ""
	})
	// Warm-up consumer spans without a producer span (sent before the
	// probes attached) are held for traces.kafka.join_wait (2s) first.
	time.Sleep(3 * time.Second)
	base := len(pidSpans(t, out))

	async, sync, noAck, withTP := map[*demo][]string{}, map[*demo][]string{}, map[*demo][]string{}, map[*demo][]string{}
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tp := "00-" + traceID + "-" + parentID + "-01"
	for _, d := range demos {
		async[d] = get(d, "/async", url.Values{"n": {"3"}, "p": {"1"}})
		if failed := get(d, "/async", url.Values{"n": {"1"}, "big": {"1"}}); len(failed) != 1 || failed[0] != "error" {
			t.Fatalf("%s: big async message: %v, want error", d.name, failed)
		}
		sync[d] = get(d, "/produce", url.Values{"n": {"1"}, "p": {"2"}})
		withTP[d] = get(d, "/async", url.Values{"n": {"1"}, "p": {"2"}, "tp": {tp}})
		noAck[d] = get(d, "/async", url.Values{"n": {"1"}, "p": {"0"}, "noack": {"1"}})
		if len(noAck[d]) != 1 || !strings.HasPrefix(noAck[d][0], "0:") {
			t.Fatalf("%s: no-ack async message: %v, want one to partition 0", d.name, noAck[d])
		}
		if len(async[d]) != 3 || len(sync[d]) != 1 {
			t.Fatalf("%s: async %v sync %v, want 3 and 1 messages", d.name, async[d], sync[d])
		}
	}
	for _, d := range demos {
		eventually(t, 20*time.Second, d.name+" consumed 6", func() (bool, string) {
			n := len(get(d, "/consumed", nil)) - before[d]
			return n == 6, fmt.Sprintf("%d consumed", n)
		})
	}
	perDemo := 7 + 6
	want := base + perDemo*len(demos)
	eventually(t, 20*time.Second, "all spans in the file", func() (bool, string) {
		n := len(pidSpans(t, out))
		return n >= want, fmt.Sprintf("%d/%d spans", n, want)
	})
	time.Sleep(3 * time.Second) // extras, even held ones, would show up now
	all := pidSpans(t, out)
	if len(all) != want {
		t.Errorf("%d spans, want exactly %d (%d before, %d demos × %d)", len(all), want, base, len(demos), perDemo)
	}
	spans := all[min(base, len(all)):]
	for _, d := range demos {
		var producers, consumers []ptrace.Span
		for _, s := range spans {
			if s.pid != d.pid {
				continue
			}
			switch s.span.Kind() {
			case ptrace.SpanKindProducer:
				producers = append(producers, s.span)
			case ptrace.SpanKindConsumer:
				consumers = append(consumers, s.span)
			default:
				t.Errorf("%s: unexpected %v span %q", d.name, s.span.Kind(), s.span.Name())
			}
		}
		if len(producers) != 7 || len(consumers) != 6 {
			t.Errorf("%s: %d producer, %d consumer spans; want 7, 6", d.name, len(producers), len(consumers))
			continue
		}
		// Producer spans by the coordinates they carry ("error" for none).
		byCoords := map[string]ptrace.Span{}
		for _, p := range producers {
			a := kafkaAttrs(p)
			ctx := fmt.Sprintf("%s producer %q %v", d.name, p.Name(), a)
			if p.Name() != "send "+d.topic || a["messaging.system"] != "kafka" || a["messaging.operation.type"] != "send" ||
				a["messaging.operation.name"] != "send" || a["messaging.destination.name"] != d.topic {
				t.Errorf("%s: want send %s with messaging attributes", ctx, d.topic)
			}
			isTP := len(withTP[d]) == 1 && a["messaging.destination.partition.id"]+":"+a["messaging.kafka.offset"] == withTP[d][0]
			if isTP && (p.TraceID().String() != traceID || p.ParentSpanID().String() != parentID) {
				t.Errorf("%s: trace %s parent %s, want the traceparent header's %s %s", ctx, p.TraceID(), p.ParentSpanID(), traceID, parentID)
			}
			if !isTP && !p.ParentSpanID().IsEmpty() {
				t.Errorf("%s: parent %s, want a root", ctx, p.ParentSpanID())
			}
			if a["messaging.batch.message_count"] != "" {
				t.Errorf("%s: batch count %q, want none", ctx, a["messaging.batch.message_count"])
			}
			key := "error"
			if a["messaging.destination.partition.id"] == "" && p.Status().Code() != ptrace.StatusCodeError {
				key = "noack" // no offset: RequiredAcks NoResponse
			} else if p.Status().Code() == ptrace.StatusCodeError {
				if et, _ := p.Attributes().Get("error.type"); et.Str() == "" {
					t.Errorf("%s: Error without error.type", ctx)
				}
				if a["messaging.destination.partition.id"] != "" || a["messaging.kafka.offset"] != "" {
					t.Errorf("%s: failed message with coordinates", ctx)
				}
			} else {
				key = a["messaging.destination.partition.id"] + ":" + a["messaging.kafka.offset"]
			}
			if _, dup := byCoords[key]; dup {
				t.Errorf("%s: two producer spans at %s", ctx, key)
			}
			byCoords[key] = p
		}
		wantKeys := append(append(append([]string{"error", "noack"}, async[d]...), sync[d]...), withTP[d]...)
		var gotKeys []string
		for k := range byCoords {
			gotKeys = append(gotKeys, k)
		}
		sort.Strings(gotKeys)
		sort.Strings(wantKeys)
		if strings.Join(gotKeys, " ") != strings.Join(wantKeys, " ") {
			t.Errorf("%s: producer spans at %v, want %v", d.name, gotKeys, wantKeys)
		}
		// An acknowledged message's span runs from its batch's request
		// build to the acknowledgment; a failed one's starts and ends at
		// the failure.
		for _, k := range async[d] {
			if p, ok := byCoords[k]; ok && p.StartTimestamp() >= p.EndTimestamp() {
				t.Errorf("%s: async span %s starts at %v, not before its end %v", d.name, k, p.StartTimestamp(), p.EndTimestamp())
			}
		}
		if p, ok := byCoords["error"]; ok && p.StartTimestamp() != p.EndTimestamp() {
			t.Errorf("%s: failed async span lasts %v, want 0", d.name, p.EndTimestamp().AsTime().Sub(p.StartTimestamp().AsTime()))
		}
		// Each consumer span joined to its message's producer span; the
		// no-ack message's (partition 0) is not joined (its producer span
		// has no offset).
		for _, s := range consumers {
			a := kafkaAttrs(s)
			key := a["messaging.destination.partition.id"] + ":" + a["messaging.kafka.offset"]
			if len(withTP[d]) == 1 && key == withTP[d][0] {
				// Its traceparent header makes it the header's child: a
				// sibling of the producer span, in the same trace.
				if s.TraceID().String() != traceID || s.ParentSpanID().String() != parentID {
					t.Errorf("%s consumer at %s: trace %s parent %s, want the traceparent's", d.name, key, s.TraceID(), s.ParentSpanID())
				}
				continue
			}
			if a["messaging.destination.partition.id"] == "0" {
				if !s.ParentSpanID().IsEmpty() {
					t.Errorf("%s consumer at %s (no-ack message): parent %s, want none", d.name, key, s.ParentSpanID())
				}
				continue
			}
			p, ok := byCoords[key]
			if !ok {
				t.Errorf("%s consumer %q at %s: no producer span there", d.name, s.Name(), key)
				continue
			}
			if s.TraceID() != p.TraceID() || s.ParentSpanID() != p.SpanID() {
				t.Errorf("%s consumer at %s: trace %s parent %s, want joined to producer span %s %s", d.name, key, s.TraceID(), s.ParentSpanID(), p.TraceID(), p.SpanID())
			}
		}
	}
	if t.Failed() {
		var names []string
		for _, s := range spans {
			names = append(names, fmt.Sprintf("%d %v %q trace=%s parent=%s status=%v %v", s.pid, s.span.Kind(), s.span.Name(), s.span.TraceID(), s.span.ParentSpanID(), s.span.Status().Code(), kafkaAttrs(s.span)))
		}
		t.Logf("spans:\n%s\ncollector:\n%s", strings.Join(names, "\n"), c.Logs.String())
	}
}
