package tracer

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/redis"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/redisclient"
)

const redisDemoDir = "../../../../integration/testdata/redisdemo"

// redisEvents drains until nServer HTTP server and nRedis Redis events
// arrived (generous deadline), then half a second more for anything late.
func redisEvents(t *testing.T, tr *Tracer, nServer, nRedis int) (servers []*ServerEvent, calls []*redisclient.Event) {
	t.Helper()
	handle := func(raw []byte) {
		ev, err := Decode(raw)
		if err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		switch e := ev.(type) {
		case *ServerEvent:
			servers = append(servers, e)
		case *redisclient.Event:
			calls = append(calls, e)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for (len(servers) < nServer || len(calls) < nRedis) && time.Now().Before(deadline) {
		if err := tr.Drain(200*time.Millisecond, handle); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Drain(500*time.Millisecond, handle); err != nil {
		t.Fatal(err)
	}
	return servers, calls
}

// attachRedisDemo starts redis-server and redisdemo (built for d) and
// attaches the HTTP server and Redis probes to it.
func attachRedisDemo(t *testing.T, d redis.Demo) (tr *Tracer, base string, srv *redis.Server) {
	t.Helper()
	srv = redis.Start(t)
	exe := redis.BuildDemo(t, redisDemoDir, d)
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{"-addr", addr, "-redis", srv.Addr, "-db", "3"} })
	x, bin := resolveServer(t, exe)
	if x.HasDWARF == d.Stripped {
		t.Fatalf("%s: DWARF %t", exe, x.HasDWARF)
	}
	for _, name := range []string{redisclient.Name, redisclient.V8Name} {
		if _, ok := bin.Sites[name]; ok != (name == probeNameFor(d.Module)) {
			t.Fatalf("%s resolved: %t (%v)", name, ok, bin.Unusable[name])
		}
	}
	tr, err := New(Options{RingBufferSize: 1 << 20, ExtractTraceContext: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, Probes{httpserver.Name: true, probeNameFor(d.Module): true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })
	return tr, "http://" + addr, srv
}

func probeNameFor(module string) string {
	if module == redisclient.ModuleV8 {
		return redisclient.V8Name
	}
	return redisclient.Name
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, b)
	}
	return string(b)
}

// redisSpans turns events into spans, in order.
func redisSpans(calls []*redisclient.Event) ptrace.SpanSlice {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for _, c := range calls {
		c.AppendSpan(ss, probes.SpanEnv{})
	}
	return ss.Spans()
}

// A real go-redis client (v9 newest and oldest, v8 newest) talking to a
// real redis-server, inside an HTTP handler: one CLIENT span per command
// (SET, GET hit, GET miss, INCR of a string), one for a pipeline of 3 and
// one for a MULTI/EXEC of 2, each the child of the HTTP server span; the
// miss (redis.Nil) is not an error, the ERR reply is, with its prefix. 2
// hits per command and per pipeline, of 1 or 100 commands. A new
// connection's handshake commands, sent inside the first command on the
// same goroutine, get spans of their own.
func TestRedisSpans(t *testing.T) {
	prereq.RequireRoot(t, "the Redis probe")
	for _, d := range redis.Demos {
		t.Run(d.Name(), func(t *testing.T) { testRedisSpans(t, d) })
	}
}

// The same, stripped (-s -w): go-redis's offsets come from the offsets
// table, by module version.
func TestRedisSpansStripped(t *testing.T) {
	prereq.RequireRoot(t, "the Redis probe")
	for _, d := range redis.Demos {
		d.Stripped = true
		t.Run(d.Name(), func(t *testing.T) { testRedisSpans(t, d) })
	}
}

func testRedisSpans(t *testing.T, d redis.Demo) {
	tr, base, srv := attachRedisDemo(t, d)
	h0, _ := tr.Hits()
	out := get(t, base+"/redis")
	wantOut := "SET ok\nGET ok\nGET nil\nINCR ERR value is not an integer or out of range\nPIPELINE ok\nMULTI ok\n"
	if out != wantOut {
		t.Fatalf("/redis answered %q, want %q", out, wantOut)
	}
	servers, calls := redisEvents(t, tr, 1, 6)
	if len(servers) != 1 || len(calls) != 6 {
		t.Fatalf("%d server and %d redis events, want 1 and 6: %+v", len(servers), len(calls), calls)
	}
	hits := hitsSince(t, tr, h0)
	entries := hits[redisclient.ProgCommandEntry] + hits[redisclient.ProgCommandFmEntry] + hits[redisclient.ProgPipelineEntry] +
		hits[redisclient.ProgPipelineFmEntry] + hits[redisclient.ProgMultiEntry] + hits[redisclient.ProgMultiFmEntry]
	if entries != 6 || hits[redisclient.ProgReturn] != 6 {
		t.Errorf("hits for 4 commands, a pipeline and a transaction: %d entries, %d returns; want 6 and 6 (%v)", entries, hits[redisclient.ProgReturn], hits)
	}
	server := servers[0]
	type want struct {
		name   string
		batch  int64
		err    bool
		status string
	}
	wants := []want{
		{"SET", 0, false, ""},
		{"GET", 0, false, ""},
		{"GET", 0, false, ""},
		{"INCR", 0, true, "ERR"},
		{"PIPELINE", 3, false, ""},
		{"MULTI", 2, false, ""},
	}
	spans := redisSpans(calls)
	for i, w := range wants {
		s := spans.At(i)
		c := calls[i]
		attrs := s.Attributes().AsRaw()
		if s.Name() != w.name || s.Kind() != ptrace.SpanKindClient {
			t.Errorf("span %d: %s %s, want CLIENT %s", i, s.Kind(), s.Name(), w.name)
		}
		if !c.IDs.HasParent || c.IDs.TraceID != server.IDs.TraceID || c.IDs.ParentSpanID != server.IDs.SpanID {
			t.Errorf("span %d (%s) is not the child of the HTTP server span", i, w.name)
		}
		if c.StartNs < server.StartNs || c.EndNs > server.EndNs || c.EndNs < c.StartNs {
			t.Errorf("span %d (%s) [%d, %d] not within the server span [%d, %d]", i, w.name, c.StartNs, c.EndNs, server.StartNs, server.EndNs)
		}
		expect := map[string]any{
			"db.system.name":    "redis",
			"db.namespace":      "3",
			"db.operation.name": w.name,
			"server.address":    "127.0.0.1",
			"server.port":       int64(srv.Port),
		}
		if w.batch != 0 {
			expect["db.operation.batch.size"] = w.batch
		}
		if w.err {
			expect["db.response.status_code"] = w.status
			expect["error.type"] = w.status
		}
		for k, v := range expect {
			if attrs[k] != v {
				t.Errorf("span %d (%s): %s = %v, want %v", i, w.name, k, attrs[k], v)
			}
		}
		if len(attrs) != len(expect) {
			t.Errorf("span %d (%s): attributes %v, want %v", i, w.name, attrs, expect)
		}
		wantCode := ptrace.StatusCodeUnset
		if w.err {
			wantCode = ptrace.StatusCodeError
		}
		if s.Status().Code() != wantCode {
			t.Errorf("span %d (%s): status %s, want %s", i, w.name, s.Status().Code(), wantCode)
		}
	}
	// The miss is redis.Nil as the probe read it.
	if calls[2].ErrKind != redisclient.ErrString || calls[2].ErrText != "redis: nil" {
		t.Errorf("GET miss: error kind %d text %q, want the string redis: nil", calls[2].ErrKind, calls[2].ErrText)
	}

	// A pipeline's cost does not grow with its size.
	for _, size := range []int{1, 100} {
		h0, _ := tr.Hits()
		get(t, base+"/pipe?size="+strconv.Itoa(size))
		_, calls := redisEvents(t, tr, 1, 1)
		hits := hitsSince(t, tr, h0)
		if len(calls) != 1 || calls[0].Kind != redisclient.OpPipeline || calls[0].BatchSize != uint32(size) {
			t.Errorf("pipeline of %d: events %+v", size, calls)
		}
		if n := hits[redisclient.ProgPipelineEntry] + hits[redisclient.ProgPipelineFmEntry] + hits[redisclient.ProgReturn]; n != 2 {
			t.Errorf("pipeline of %d: %d hits, want 2 (%v)", size, n, hits)
		}
	}

	// A command on a new connection: the connection's handshake runs inside
	// the GET (same goroutine, deeper frames): v9 sends HELLO, then a
	// pipeline with SELECT (database 3) (v9.23.0 also CLIENT
	// MAINT_NOTIFICATIONS and a pipeline of CLIENT SETINFO), v8 only the
	// SELECT pipeline. Each gets a span, within the GET's, all children of
	// the HTTP span.
	h0, _ = tr.Hits()
	get(t, base+"/fresh")
	wantOps := map[string][]string{ // in order of return
		"v9.23.0": {"HELLO", "PIPELINE", "CLIENT", "PIPELINE", "GET"},
		"v9.0.0":  {"HELLO", "PIPELINE", "GET"},
		"v8.11.5": {"PIPELINE", "GET"},
	}[d.Version]
	servers, calls = redisEvents(t, tr, 1, len(wantOps))
	hits = hitsSince(t, tr, h0)
	var ops []string
	for _, c := range calls {
		ops = append(ops, redisclient.Operation(c))
		if !c.IDs.HasParent || c.IDs.ParentSpanID != servers[0].IDs.SpanID {
			t.Errorf("fresh connection: %s span is not the child of the HTTP span", redisclient.Operation(c))
		}
	}
	if strings.Join(ops, " ") != strings.Join(wantOps, " ") {
		t.Fatalf("fresh connection: spans %v, want %v", ops, wantOps)
	}
	if n := hits[redisclient.ProgReturn]; n != uint64(len(wantOps)) {
		t.Errorf("fresh connection: %d returns for %d spans", n, len(wantOps))
	}
	if outer := calls[len(calls)-1]; len(calls) == len(wantOps) {
		for _, c := range calls[:len(calls)-1] {
			if c.StartNs < outer.StartNs || c.EndNs > outer.EndNs {
				t.Errorf("%s [%d, %d] not within GET [%d, %d]", redisclient.Operation(c), c.StartNs, c.EndNs, outer.StartNs, outer.EndNs)
			}
		}
	}
}

// A stripped binary built against a go-redis version the offsets table does
// not list (a pre-release) has no known layout: the Redis probe is left out
// with a reason naming the field and the version, never attached with
// guessed offsets, and the HTTP probes of the same binary still resolve.
func TestRedisUnlistedVersionLeftOut(t *testing.T) {
	d := redis.Unlisted
	x, err := goexe.Inspect(redis.BuildDemo(t, redisDemoDir, d))
	if err != nil {
		t.Fatal(err)
	}
	if x.HasDWARF || x.Modules[d.Module] != d.Version {
		t.Fatalf("build: DWARF %t, modules %v; want a stripped build of %s %s", x.HasDWARF, x.Modules, d.Module, d.Version)
	}
	bin, err := ResolveBinary(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{redisclient.Name, redisclient.V8Name} {
		if _, ok := bin.Sites[name]; ok {
			t.Errorf("%s resolved", name)
		}
	}
	err = bin.Unusable[redisclient.Name]
	if !errors.Is(err, ErrOffsetsMissing) || !strings.Contains(err.Error(), d.Module+".baseCmd.args") || !strings.Contains(err.Error(), d.Version) {
		t.Errorf("%s: %v, want ErrOffsetsMissing naming %s.baseCmd.args and %s", redisclient.Name, err, d.Module, d.Version)
	}
	if _, ok := bin.Sites[httpserver.Name]; !ok {
		t.Errorf("http_server not resolved: %v", bin.Unusable[httpserver.Name])
	}
}

// The Redis probe's sites follow what the compiler kept: each of process,
// processPipeline and processTxPipeline where the binary has it, its
// method-value wrapper ("-fm") only where the wrapper does not call it
// (Uprobe.WrapperOf). Go 1.26.8 inlines v9.23.0's process into its wrapper
// and v8.11.5's pipeline methods into theirs; v9.0.0 keeps all three.
func TestRedisSites(t *testing.T) {
	for _, tc := range []struct {
		demo redis.Demo
		want []string
	}{
		{redis.Demos[0], []string{"process-fm", "processPipeline", "processTxPipeline"}},
		{redis.Demos[1], []string{"process", "processPipeline", "processTxPipeline"}},
		{redis.Demos[2], []string{"process", "processPipeline-fm", "processTxPipeline-fm"}},
	} {
		t.Run(tc.demo.Name(), func(t *testing.T) {
			_, bin := resolveServer(t, redis.BuildDemo(t, redisDemoDir, tc.demo))
			var got []string
			for _, s := range bin.Sites[probeNameFor(tc.demo.Module)] {
				got = append(got, strings.TrimPrefix(s.Func.Name, tc.demo.Module+".(*baseClient)."))
				if len(s.Func.ReturnOffsets) == 0 || s.Uprobe.Return != redisclient.ProgReturn {
					t.Errorf("%s: no RET probed", s.Func.Name)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("sites %v, want %v", got, tc.want)
			}
		})
	}
}
