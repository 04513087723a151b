package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/postgres"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/redis"
)

// TestEBPFKafkaJoinOrdersWorker is the Kafka join end to end: two
// unmodified stripped Go services of testdata/ordersworker, built here,
// traced by the built collector (traces.sql, traces.redis, traces.kafka
// on, the join at its defaults but a 1 s wait): orders (GET /order: a
// SELECT on a real PostgreSQL, a GET on a real redis-server, one kafka-go
// message to a kfake broker) and worker (kafka-go consumer group: an
// INSERT on the same PostgreSQL per message). N orders make exactly N
// traces, each with exactly 6 spans across both processes: orders' SERVER
// span, its SQL, Redis and PRODUCER children (the producer with the
// partition and offset the broker gave), worker's CONSUMER span (the
// producer span's child, same offset) and its SQL INSERT child.
//
// With OTELCOL_GOEBPF_TEST_KAFKA_JOIN=off the collector runs with
// traces.kafka.join: false, and the test fails: orders and worker spans
// are then 2N separate traces.
func TestEBPFKafkaJoinOrdersWorker(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	pg := postgres.Start(t)
	rd := redis.Start(t)
	if pg == nil || rd == nil {
		return
	}
	dir := t.TempDir()
	orders := buildGo(t, "testdata/ordersworker/orders", dir, "ow-orders", "-ldflags=-s -w")
	worker := buildGo(t, "testdata/ordersworker/worker", dir, "ow-worker", "-ldflags=-s -w")
	const topic = "orders"
	broker := startKafkaBroker(t, dir, topic)

	join := "true"
	if os.Getenv("OTELCOL_GOEBPF_TEST_KAFKA_JOIN") == "off" {
		join = "false"
	}
	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
    traces:
      http: { server: true, client: false }
      sql: { enabled: true }
      redis: { enabled: true }
      kafka: { producer: true, consumer: true, join: %s, join_wait: 1s }
exporters:
  file:
    path: {{DIR}}/traces.json
    flush_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [file]
`, filepath.Join(dir, "ow-*"), join))
	out := c.Path("traces.json")

	ordersAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	workerAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	start := func(bin string, args ...string) int64 {
		cmd := exec.Command(bin, args...)
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", filepath.Base(bin), logs.String())
			}
		})
		return int64(cmd.Process.Pid)
	}
	ordersPID := start(orders, "-addr", ordersAddr, "-db", pg.URL, "-redis", rd.Addr, "-brokers", broker, "-topic", topic)
	workerPID := start(worker, "-addr", workerAddr, "-db", pg.URL, "-brokers", broker, "-topic", topic, "-group", "workers")

	get := func(addr, path string) (int, string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body)), nil
	}
	stored := func() int {
		_, body, err := get(workerAddr, "/stored")
		if err != nil {
			return -1
		}
		n, _ := strconv.Atoi(body)
		return n
	}
	// The spans of the test's polling of /stored are left out.
	spansNow := func() []pidSpan {
		var keep []pidSpan
		for _, s := range pidSpans(t, out) {
			if s.span.Name() != "GET /stored" {
				keep = append(keep, s)
			}
		}
		return keep
	}
	order := func(id int) error {
		code, body, err := get(ordersAddr, fmt.Sprintf("/order?id=%d", id))
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d: %s", code, body)
		}
		return err
	}

	// Warm-up, until both processes are instrumented: every kind of span
	// seen from each (a probe attached mid-call misses that call).
	eventually(t, 60*time.Second, "spans of every kind from both services", func() (bool, string) {
		if err := order(0); err != nil {
			return false, err.Error()
		}
		seen := map[string]bool{}
		for _, s := range spansNow() {
			seen[fmt.Sprintf("%d/%v/%s", s.pid, s.span.Kind(), kafkaAttrs(s.span)["db.system.name"])] = true
		}
		var missing []string
		for _, k := range []string{
			fmt.Sprintf("%d/Server/", ordersPID), fmt.Sprintf("%d/Client/postgresql", ordersPID), fmt.Sprintf("%d/Client/redis", ordersPID),
			fmt.Sprintf("%d/Producer/", ordersPID), fmt.Sprintf("%d/Consumer/", workerPID), fmt.Sprintf("%d/Client/postgresql", workerPID),
		} {
			if !seen[k] {
				missing = append(missing, k)
			}
		}
		return len(missing) == 0, fmt.Sprintf("missing %v", missing)
	})
	// Every warm-up order stored, and its spans out (held ones after the
	// join's wait), before counting.
	eventually(t, 20*time.Second, "warm-up orders stored", func() (bool, string) {
		n := stored()
		time.Sleep(300 * time.Millisecond)
		return stored() == n && n > 0, fmt.Sprintf("%d stored", n)
	})
	time.Sleep(2 * time.Second)
	base := len(spansNow())
	storedBefore := stored()

	const n = 5
	for id := 1; id <= n; id++ {
		if err := order(id); err != nil {
			t.Fatalf("order %d: %v", id, err)
		}
	}
	eventually(t, 20*time.Second, "orders stored", func() (bool, string) {
		got := stored() - storedBefore
		return got == n, fmt.Sprintf("%d/%d stored", got, n)
	})
	const perOrder = 6
	want := base + n*perOrder
	eventually(t, 20*time.Second, "all spans in the file", func() (bool, string) {
		got := len(spansNow())
		return got >= want, fmt.Sprintf("%d/%d spans", got, want)
	})
	time.Sleep(1500 * time.Millisecond) // extras would show up now
	all := spansNow()
	if len(all) != want {
		t.Errorf("%d spans, want exactly %d (%d before, %d orders × %d)", len(all), want, base, n, perOrder)
	}
	spans := all[min(base, len(all)):]
	byTrace := map[string][]pidSpan{}
	var traceOrder []string
	for _, s := range spans {
		id := s.span.TraceID().String()
		if byTrace[id] == nil {
			traceOrder = append(traceOrder, id)
		}
		byTrace[id] = append(byTrace[id], s)
	}
	if len(byTrace) != n {
		t.Errorf("%d traces, want exactly %d (one per order across both services)", len(byTrace), n)
	}
	ids := map[string]bool{}
	for _, tid := range traceOrder {
		checkOrderTrace(t, tid, byTrace[tid], ordersPID, workerPID, topic, ids)
	}
	if len(ids) != n && len(byTrace) == n {
		t.Errorf("orders %v traced, want %d different ones", ids, n)
	}
	if t.Failed() {
		var lines []string
		for _, s := range spans {
			lines = append(lines, fmt.Sprintf("%d %v %q trace=%s span=%s parent=%s %v", s.pid, s.span.Kind(), s.span.Name(), s.span.TraceID(), s.span.SpanID(), s.span.ParentSpanID(), kafkaAttrs(s.span)))
		}
		t.Logf("spans after the warm-up:\n%s", strings.Join(lines, "\n"))
	}
}

// checkOrderTrace checks the 6 spans of one order's trace.
func checkOrderTrace(t *testing.T, tid string, trace []pidSpan, ordersPID, workerPID int64, topic string, ids map[string]bool) {
	t.Helper()
	find := func(pid int64, kind ptrace.SpanKind, system string) []ptrace.Span {
		var out []ptrace.Span
		for _, s := range trace {
			if s.pid == pid && s.span.Kind() == kind && kafkaAttrs(s.span)["db.system.name"] == system {
				out = append(out, s.span)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].StartTimestamp() < out[j].StartTimestamp() })
		return out
	}
	servers := find(ordersPID, ptrace.SpanKindServer, "")
	selects := find(ordersPID, ptrace.SpanKindClient, "postgresql")
	gets := find(ordersPID, ptrace.SpanKindClient, "redis")
	producers := find(ordersPID, ptrace.SpanKindProducer, "")
	consumers := find(workerPID, ptrace.SpanKindConsumer, "")
	inserts := find(workerPID, ptrace.SpanKindClient, "postgresql")
	if len(trace) != 6 || len(servers) != 1 || len(selects) != 1 || len(gets) != 1 || len(producers) != 1 || len(consumers) != 1 || len(inserts) != 1 {
		t.Errorf("trace %s: %d spans: %d server, %d SQL, %d Redis, %d producer (orders); %d consumer, %d SQL (worker); want 6: 1 of each",
			tid, len(trace), len(servers), len(selects), len(gets), len(producers), len(consumers), len(inserts))
		return
	}
	srv, sel, get, prod, cons, ins := servers[0], selects[0], gets[0], producers[0], consumers[0], inserts[0]
	ctx := func(s ptrace.Span) string {
		return fmt.Sprintf("trace %s: %v %q %v", tid, s.Kind(), s.Name(), kafkaAttrs(s))
	}
	a := kafkaAttrs(srv)
	if srv.Name() != "GET /order" || !srv.ParentSpanID().IsEmpty() || !strings.HasPrefix(a["url.query"], "id=") {
		t.Errorf("%s: want the root GET /order", ctx(srv))
	}
	ids[a["url.query"]] = true
	for _, c := range []struct {
		s            ptrace.Span
		parent       ptrace.Span
		name, op, co string
	}{
		{sel, srv, "SELECT products", "SELECT", "products"},
		{get, srv, "GET", "GET", ""},
		{ins, cons, "INSERT orders", "INSERT", "orders"},
	} {
		a := kafkaAttrs(c.s)
		if c.s.ParentSpanID() != c.parent.SpanID() {
			t.Errorf("%s: parent %s, want %q %s", ctx(c.s), c.s.ParentSpanID(), c.parent.Name(), c.parent.SpanID())
		}
		if c.s.Name() != c.name || a["db.operation.name"] != c.op || (c.co != "" && a["db.collection.name"] != c.co) {
			t.Errorf("%s: want %q (operation %s, collection %q)", ctx(c.s), c.name, c.op, c.co)
		}
	}
	pa, ca := kafkaAttrs(prod), kafkaAttrs(cons)
	if prod.ParentSpanID() != srv.SpanID() || prod.Name() != "send "+topic || pa["messaging.destination.name"] != topic ||
		pa["messaging.destination.partition.id"] != "0" || pa["messaging.kafka.offset"] == "" || pa["messaging.system"] != "kafka" {
		t.Errorf("%s: want send %s, child of the server span, partition 0 and its offset", ctx(prod), topic)
	}
	// The join: the consumer span is the producer span's child.
	if cons.ParentSpanID() != prod.SpanID() || cons.Name() != "receive "+topic || ca["messaging.destination.name"] != topic ||
		ca["messaging.destination.partition.id"] != "0" || ca["messaging.kafka.offset"] != pa["messaging.kafka.offset"] ||
		ca["messaging.consumer.group.name"] != "workers" {
		t.Errorf("%s: want receive %s, the producer span's child (%s), offset %s", ctx(cons), topic, prod.SpanID(), pa["messaging.kafka.offset"])
	}
}

// TestEBPFKafkaJoinConcurrentProducers: several goroutines of one process
// producing at once on one synchronous kafka-go Writer (testdata/kafkademo
// /burst, stripped, kafka-go v0.4.51, a kfake broker): goroutine g makes 5
// WriteMessages calls of g+1 messages, so the Writer's batches mix the
// messages of several calls. Every one of the 50 CONSUMER spans must be
// the child of the PRODUCER span of the very call that sent its message
// (told by the message's value, which the demo's consumer reports with
// its offset, and by the producer spans: one goroutine's calls have their
// own message count and follow one another), and each producer span has
// exactly as many consumer children as it sent messages. Then one message
// through a Writer with RequiredAcks none: no offset or partition on its
// producer span, its consumer span unjoined. Twice: as built
// (kafka-go's (*writeBatch).complete inlined into writeBatch: the probe is
// at its call of runtime.closechan) and with kafka-go's inlining off (the
// probe is at writeBatch's call of complete).
func TestEBPFKafkaJoinConcurrentProducers(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	t.Run("inlined", func(t *testing.T) { testKafkaConcurrentProducers(t) })
	t.Run("complete-called", func(t *testing.T) {
		testKafkaConcurrentProducers(t, "-gcflags=github.com/segmentio/kafka-go=-l")
	})
}

func testKafkaConcurrentProducers(t *testing.T, buildFlags ...string) {
	dir := t.TempDir()
	const topic = "burst"
	bin := buildGo(t, "testdata/kafkademo", dir, "kafkaburst", append([]string{"-ldflags=-s -w"}, buildFlags...)...)
	broker := startKafkaBroker(t, dir, topic)
	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
    traces:
      http: { server: true, client: false }
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
`, bin))
	out := c.Path("traces.json")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	cmd := exec.Command(bin, "-addr", addr, "-brokers", broker, "-topic", topic, "-group", "burst")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("kafkaburst output:\n%s", logs.String())
		}
	})
	get := func(path string) (string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
		}
		return strings.TrimSpace(string(body)), nil
	}
	consumed := func() int {
		body, err := get("/consumed")
		if err != nil {
			return -1
		}
		n, _ := strconv.Atoi(body)
		return n
	}
	// The spans of the test's own polling are left out.
	spansNow := func() []pidSpan {
		var keep []pidSpan
		for _, s := range pidSpans(t, out) {
			if s.span.Name() != "GET /consumed" && s.span.Name() != "GET /values" {
				keep = append(keep, s)
			}
		}
		return keep
	}
	eventually(t, 60*time.Second, "producer and consumer spans", func() (bool, string) {
		if _, err := get("/produce?n=1"); err != nil {
			return false, err.Error()
		}
		kinds := map[ptrace.SpanKind]bool{}
		for _, s := range spansNow() {
			kinds[s.span.Kind()] = true
		}
		return kinds[ptrace.SpanKindProducer] && kinds[ptrace.SpanKindConsumer], fmt.Sprintf("kinds %v", kinds)
	})
	before := 0
	eventually(t, 20*time.Second, "warm-up messages consumed", func() (bool, string) {
		n := consumed()
		time.Sleep(300 * time.Millisecond)
		before = consumed()
		return before == n && n > 0, fmt.Sprintf("%d consumed", n)
	})
	time.Sleep(2 * time.Second) // held consumer spans of the warm-up go out
	base := len(spansNow())

	const goroutines, calls = 4, 5
	messages := calls * goroutines * (goroutines + 1) / 2
	if _, err := get(fmt.Sprintf("/burst?g=%d&calls=%d", goroutines, calls)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "burst consumed", func() (bool, string) {
		n := consumed() - before
		return n == messages, fmt.Sprintf("%d/%d consumed", n, messages)
	})
	want := base + 1 + goroutines*calls + messages // /burst, producers, consumers
	eventually(t, 20*time.Second, "all spans in the file", func() (bool, string) {
		n := len(spansNow())
		return n >= want, fmt.Sprintf("%d/%d spans", n, want)
	})
	time.Sleep(1500 * time.Millisecond) // extras would show up now
	all := spansNow()
	if len(all) != want {
		t.Fatalf("%d spans, want exactly %d (%d before, 1 server, %d producer, %d consumer)", len(all), want, base, goroutines*calls, messages)
	}
	// The consumer's view: offset -> "burst g=.. c=.. m=..".
	body, err := get("/values")
	if err != nil {
		t.Fatal(err)
	}
	type origin struct{ g, c, m int }
	sent := map[string]origin{}
	for _, line := range strings.Split(body, "\n") {
		off, v, _ := strings.Cut(line, " ")
		var o origin
		if _, err := fmt.Sscanf(v, "burst g=%d c=%d m=%d", &o.g, &o.c, &o.m); err == nil {
			sent[off] = o
		}
	}
	if len(sent) != messages {
		t.Fatalf("the consumer reports %d burst messages, want %d", len(sent), messages)
	}
	// Producer spans by goroutine (its message count), in call order.
	byCount := map[int][]ptrace.Span{}
	var consumers []ptrace.Span
	for _, s := range all[base:] {
		switch s.span.Kind() {
		case ptrace.SpanKindProducer:
			n := 1
			if v, ok := s.span.Attributes().Get("messaging.batch.message_count"); ok {
				n = int(v.Int())
			}
			byCount[n] = append(byCount[n], s.span)
		case ptrace.SpanKindConsumer:
			consumers = append(consumers, s.span)
		}
	}
	for g := 0; g < goroutines; g++ {
		p := byCount[g+1]
		if len(p) != calls {
			t.Fatalf("%d producer spans of %d messages, want %d", len(p), g+1, calls)
		}
		sort.Slice(p, func(i, j int) bool { return p[i].StartTimestamp() < p[j].StartTimestamp() })
		for _, s := range p {
			if a := kafkaAttrs(s); a["messaging.destination.partition.id"] != "0" {
				t.Errorf("producer span %s (%d messages): partition %q, want 0", s.SpanID(), g+1, a["messaging.destination.partition.id"])
			}
		}
	}
	children := map[string]int{}
	for _, s := range consumers {
		a := kafkaAttrs(s)
		o, ok := sent[a["messaging.kafka.offset"]]
		if !ok {
			t.Errorf("consumer span at offset %q: not a burst message", a["messaging.kafka.offset"])
			continue
		}
		p := byCount[o.g+1][o.c]
		if s.ParentSpanID() != p.SpanID() || s.TraceID() != p.TraceID() {
			t.Errorf("consumer span of g=%d c=%d m=%d (offset %s): trace %s parent %s, want its producer span %s %s",
				o.g, o.c, o.m, a["messaging.kafka.offset"], s.TraceID(), s.ParentSpanID(), p.TraceID(), p.SpanID())
			continue
		}
		children[p.SpanID().String()]++
		if o.g == 0 {
			// A one-message call's span carries the offset.
			if po := kafkaAttrs(p)["messaging.kafka.offset"]; po != a["messaging.kafka.offset"] {
				t.Errorf("producer span %s: offset %q, its message's is %s", p.SpanID(), po, a["messaging.kafka.offset"])
			}
		}
	}
	for g := 0; g < goroutines; g++ {
		for c, p := range byCount[g+1] {
			if n := children[p.SpanID().String()]; n != g+1 {
				t.Errorf("producer span of g=%d c=%d: %d consumer children, want %d", g, c, n, g+1)
			}
		}
	}

	// A Writer with RequiredAcks none (kafka-go's default) gets no produce
	// response: kafka-go leaves the message's Offset as the caller set it
	// (0). Its producer span must not claim a partition or offset, and its
	// consumer span stays unjoined.
	base, before = len(all), consumed()
	if _, err := get("/produce?n=1&acks=none"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the no-ack message consumed", func() (bool, string) {
		n := consumed() - before
		return n == 1, fmt.Sprintf("%d/1 consumed", n)
	})
	want = base + 3 // its /produce, producer and (after the join's wait) consumer spans
	eventually(t, 20*time.Second, "the no-ack message's spans in the file", func() (bool, string) {
		n := len(spansNow())
		return n >= want, fmt.Sprintf("%d/%d spans", n, want)
	})
	time.Sleep(1500 * time.Millisecond)
	all = spansNow()
	if len(all) != want {
		t.Fatalf("%d spans, want exactly %d (%d before, 1 server, 1 producer, 1 consumer)", len(all), want, base)
	}
	for _, s := range all[base:] {
		a := kafkaAttrs(s.span)
		switch s.span.Kind() {
		case ptrace.SpanKindProducer:
			if _, ok := a["messaging.kafka.offset"]; ok {
				t.Errorf("no-ack producer span %s: offset %q, want none (the broker gave none)", s.span.SpanID(), a["messaging.kafka.offset"])
			}
			if _, ok := a["messaging.destination.partition.id"]; ok {
				t.Errorf("no-ack producer span %s: partition %q, want none", s.span.SpanID(), a["messaging.destination.partition.id"])
			}
		case ptrace.SpanKindConsumer:
			if !s.span.ParentSpanID().IsEmpty() {
				t.Errorf("no-ack consumer span (offset %s): parent %s, want none (unjoined)", a["messaging.kafka.offset"], s.span.ParentSpanID())
			}
		}
	}
}
