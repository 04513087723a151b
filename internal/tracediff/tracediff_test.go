package tracediff

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type testSpan struct {
	trace, span, parent int
	service, name       string
	attrs               map[string]string
}

func traceID(i int) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], uint64(i)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(id[8:], uint64(i))
	return id
}

func spanID(i int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], uint64(i)+1)
	return id
}

// corpus is nTraces traces of spansPer spans over three services.
func corpus(nTraces, spansPer int) []testSpan {
	var out []testSpan
	for t := range nTraces {
		for s := range spansPer {
			parent := t*spansPer + s - 1
			if s == 0 {
				parent = -1 // the root
			}
			out = append(out, testSpan{
				trace: t, span: t*spansPer + s, parent: parent,
				service: []string{"checkout", "orders", "payments"}[s%3],
				name:    fmt.Sprintf("GET /r%d", s),
				attrs:   map[string]string{"http.response.status_code": "200", "n": fmt.Sprint(s)},
			})
		}
	}
	return out
}

// batches groups spans into batches of size spans (by resource inside each).
func batches(spans []testSpan, size int) []ptrace.Traces {
	var out []ptrace.Traces
	for len(spans) > 0 {
		n := min(size, len(spans))
		td := ptrace.NewTraces()
		byService := map[string]ptrace.SpanSlice{}
		for _, s := range spans[:n] {
			ss, ok := byService[s.service]
			if !ok {
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", s.service)
				sc := rs.ScopeSpans().AppendEmpty()
				sc.Scope().SetName("ebpf")
				ss = sc.Spans()
				byService[s.service] = ss
			}
			sp := ss.AppendEmpty()
			sp.SetTraceID(traceID(s.trace))
			sp.SetSpanID(spanID(s.span))
			if s.parent >= 0 {
				sp.SetParentSpanID(spanID(s.parent))
			}
			sp.SetName(s.name)
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + s.span))
			sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + s.span + 1000))
			for k, v := range s.attrs {
				sp.Attributes().PutStr(k, v)
			}
		}
		out = append(out, td)
		spans = spans[n:]
	}
	return out
}

type format func(t *testing.T, path string, tds []ptrace.Traces)

func lengthPrefixed(buf *bytes.Buffer, msg []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(msg)))
	buf.Write(n[:])
	buf.Write(msg)
}

func marshal(t *testing.T, td ptrace.Traces, proto bool) []byte {
	t.Helper()
	var b []byte
	var err error
	if proto {
		b, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	} else {
		b, err = (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func zstdAll(t *testing.T, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// The framings of the contrib file exporter (file_writer.go, marshaller.go).
var formats = map[string]format{
	"json lines": func(t *testing.T, path string, tds []ptrace.Traces) {
		var buf bytes.Buffer
		for _, td := range tds {
			buf.Write(marshal(t, td, false))
			buf.WriteByte('\n')
		}
		write(t, path, buf.Bytes())
	},
	"proto": func(t *testing.T, path string, tds []ptrace.Traces) {
		var buf bytes.Buffer
		for _, td := range tds {
			lengthPrefixed(&buf, marshal(t, td, true))
		}
		write(t, path, buf.Bytes())
	},
	"proto, zstd per message": func(t *testing.T, path string, tds []ptrace.Traces) {
		var buf bytes.Buffer
		for _, td := range tds {
			lengthPrefixed(&buf, zstdAll(t, marshal(t, td, true)))
		}
		write(t, path, buf.Bytes())
	},
	"json, zstd per message": func(t *testing.T, path string, tds []ptrace.Traces) {
		var buf bytes.Buffer
		for _, td := range tds {
			lengthPrefixed(&buf, zstdAll(t, marshal(t, td, false)))
		}
		write(t, path, buf.Bytes())
	},
	"json lines, zstd stream": func(t *testing.T, path string, tds []ptrace.Traces) {
		var buf bytes.Buffer
		for _, td := range tds {
			buf.Write(marshal(t, td, false))
			buf.WriteByte('\n')
		}
		write(t, path, zstdAll(t, buf.Bytes()))
	},
	"proto, zstd stream": func(t *testing.T, path string, tds []ptrace.Traces) {
		var buf bytes.Buffer
		for _, td := range tds {
			lengthPrefixed(&buf, marshal(t, td, true))
		}
		write(t, path, zstdAll(t, buf.Bytes()))
	},
	"json lines, gzip": func(t *testing.T, path string, tds []ptrace.Traces) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, td := range tds {
			zw.Write(marshal(t, td, false))
			zw.Write([]byte("\n"))
		}
		zw.Close()
		write(t, path, buf.Bytes())
	},
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSameSpansInEveryFormat(t *testing.T) {
	spans := corpus(40, 5)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	formats["json lines"](t, a, batches(spans, 1000))
	for name, f := range formats {
		t.Run(name, func(t *testing.T) {
			b := filepath.Join(t.TempDir(), "b")
			// Grouped differently from A: batching must not matter.
			f(t, b, batches(spans, 7))
			rep, err := Compare(a, b, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Equal() || rep.TracesA != 40 || rep.TracesB != 40 || rep.SpansA != 200 || rep.SpansB != 200 {
				t.Fatalf("%s\n%s", rep.Summary(), strings.Join(rep.Details, "\n"))
			}
		})
	}
}

// mutate returns B: A with one trace dropped, one span dropped, one span
// written twice, one attribute changed, one attribute added and one trace
// that A does not have.
func mutate(spans []testSpan) []testSpan {
	var out []testSpan
	for _, s := range spans {
		switch {
		case s.trace == 3: // missing trace
			continue
		case s.span == 5*5+2: // trace 5: missing span
			continue
		case s.span == 7*5+1: // trace 7: duplicated span
			out = append(out, s, s)
			continue
		case s.span == 9*5+4: // trace 9: attribute changed and one added
			s.attrs = map[string]string{"http.response.status_code": "500", "n": "4", "slo.burning": "true"}
		}
		out = append(out, s)
	}
	for s := range 3 {
		out = append(out, testSpan{trace: 1000, span: 100000 + s, parent: -1, service: "orders", name: "extra"})
	}
	return out
}

func TestDifferencesCountedExactly(t *testing.T) {
	spans := corpus(20, 5)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	formats["json lines"](t, a, batches(spans, 9))
	formats["proto, zstd per message"](t, b, batches(mutate(spans), 4))
	for _, budget := range []int64{0, 512} { // one bucket, then many
		rep, err := Compare(a, b, Options{MemoryBudget: budget})
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("A=%d/%d B=%d/%d missing=%d/%d extra=%d/%d dup=%d/%d diff=%d",
			rep.TracesA, rep.SpansA, rep.TracesB, rep.SpansB, rep.MissingTraces, rep.MissingSpans,
			rep.ExtraTraces, rep.ExtraSpans, rep.DuplicatedA, rep.DuplicatedB, rep.DifferingSpans)
		want := "A=20/100 B=20/97 missing=1/6 extra=1/3 dup=0/1 diff=1"
		if got != want || rep.Equal() {
			t.Fatalf("budget %d: %s, want %s\n%s", budget, got, want, strings.Join(rep.Details, "\n"))
		}
		all := strings.Join(rep.Details, "\n")
		for _, want := range []string{
			fmt.Sprintf("trace %s: missing from B (5 spans)", traceID(3)),
			fmt.Sprintf("trace %s span %s (GET /r2): missing from B", traceID(5), spanID(27)),
			fmt.Sprintf("trace %s span %s: 2 copies in B", traceID(7), spanID(36)),
			`attributes.http.response.status_code: "200" in A, "500" in B; attributes.slo.burning="true" only in B`,
			fmt.Sprintf("trace %s: extra in B (3 spans)", traceID(1000)),
		} {
			if !strings.Contains(all, want) {
				t.Errorf("budget %d: details lack %q:\n%s", budget, want, all)
			}
		}
	}
}

func TestIgnoredFieldsAreNotCompared(t *testing.T) {
	spans := corpus(10, 3)
	changed := corpus(10, 3)
	for i := range changed {
		changed[i].attrs = map[string]string{"http.response.status_code": "200", "n": changed[i].attrs["n"], "tailsampling.policy": "errors"}
		changed[i].service = "renamed"
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	formats["json lines"](t, a, batches(spans, 5))
	formats["json lines"](t, b, batches(changed, 5))
	rep, err := Compare(a, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DifferingSpans != 30 {
		t.Fatalf("without ignore: %s", rep.Summary())
	}
	rep, err = Compare(a, b, Options{Ignore: []string{"attributes.tailsampling.*", "resource.service.name"}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Fatalf("with ignore: %s\n%s", rep.Summary(), strings.Join(rep.Details, "\n"))
	}
	if _, err := Compare(a, b, Options{Ignore: []string{"["}}); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestDetailsCapped(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	formats["json lines"](t, a, batches(corpus(30, 2), 10))
	write(t, b, nil) // everything missing
	rep, err := Compare(a, b, Options{MaxDetails: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Details) != 5 || rep.Truncated != 25 || rep.MissingTraces != 30 || rep.MissingSpans != 60 {
		t.Fatalf("%d details, %d truncated; %s", len(rep.Details), rep.Truncated, rep.Summary())
	}
}

func TestUnreadableInputs(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	formats["json lines"](t, good, batches(corpus(2, 2), 10))
	for name, content := range map[string][]byte{
		"bad json":       []byte("{\"resourceSpans\": [\n"),
		"huge length":    {0xff, 0xff, 0xff, 0xff, 1, 2},
		"truncated body": {0, 0, 0, 10, 1, 2},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		write(t, p, content)
		if _, err := Compare(good, p, Options{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Compare(good, filepath.Join(dir, "absent"), Options{}); err == nil {
		t.Error("absent file: no error")
	}
}

// BenchmarkCompare compares two files of 100k spans (A JSON lines, B proto
// zstd per message, batched differently) with the default budget (one
// bucket) and with a 4 MiB budget (the partition splits them on disk), and
// reports spans per second and the peak heap in use above what the benchmark
// itself holds (sampled every 10 ms).
func BenchmarkCompare(b *testing.B) {
	spans := corpus(20000, 5)
	dir := b.TempDir()
	a, bb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	t := &testing.T{}
	formats["json lines"](t, a, batches(spans, 500))
	formats["proto, zstd per message"](t, bb, batches(spans, 333))
	for _, budget := range []int64{0, 4 << 20} {
		b.Run(fmt.Sprintf("budget=%d", budget), func(b *testing.B) {
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			var peak uint64
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				var ms runtime.MemStats
				for {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
			}()
			start := time.Now()
			for range b.N {
				rep, err := Compare(a, bb, Options{MemoryBudget: budget})
				if err != nil || !rep.Equal() {
					b.Fatalf("%v %v", err, rep)
				}
			}
			elapsed := time.Since(start)
			close(stop)
			<-done
			b.ReportMetric(float64(len(spans)*2*b.N)/elapsed.Seconds(), "spans/s")
			b.ReportMetric(float64(peak-min(peak, base.HeapInuse))/(1<<20), "peak-heap-MiB")
		})
	}
}
