package ebpfreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	_ "go.opentelemetry.io/collector/config/configgrpc" // registers the exporter's gRPC compressors (zstd, snappy; gzip)
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/grpc/encoding"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// processCPU is this process's user+system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// record encodes a generated event struct as the ring buffer carries it.
func record[T any](b testing.TB, v *T) []byte {
	raw, err := binary.Append(nil, binary.LittleEndian, v)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func setChars(dst []int8, s string) uint16 {
	for i := range min(len(s), len(dst)) {
		dst[i] = int8(s[i])
	}
	return uint16(min(len(s), len(dst)))
}

func header(kind bpfprog.GoebpfEventKind, pid uint32, seq uint64) bpfprog.GoebpfEventHeader {
	h := bpfprog.GoebpfEventHeader{Kind: uint8(kind), HasParent: 1, Pid: pid, StartNs: 1_000_000 + seq*1000, EndNs: 1_000_000 + seq*1000 + 250_000}
	for i := range h.Ids.TraceId {
		h.Ids.TraceId[i] = byte(seq) + byte(i)
	}
	for i := range h.Ids.SpanId {
		h.Ids.SpanId[i] = byte(seq) ^ byte(i+1)
		h.Ids.ParentSpanId[i] = byte(seq) ^ byte(i+7)
	}
	return h
}

func serverRecord(b testing.TB, pid uint32, seq uint64, path, pattern, query string, stitch probes.Stitch) []byte {
	e := bpfprog.GoebpfHttpServerEvent{Hdr: header(bpfprog.GoebpfEventKindEVENT_HTTP_SERVER, pid, seq), ProtoMajor: 1, ProtoMinor: 1, Tls: 1, Status: 200, Stitch: uint8(stitch)}
	e.MethodLen = setChars(e.Method[:], "GET")
	e.PathLen = setChars(e.Path[:], path)
	e.PatternLen = setChars(e.Pattern[:], pattern)
	e.HostLen = setChars(e.Host[:], "127.0.0.1:40123")
	e.RemoteLen = setChars(e.Remote[:], "127.0.0.1:51234")
	e.QueryLen = setChars(e.Query[:], query)
	return record(b, &e)
}

func clientRecord(b testing.TB, pid uint32, seq uint64, query string) []byte {
	e := bpfprog.GoebpfHttpClientEvent{Hdr: header(bpfprog.GoebpfEventKindEVENT_HTTP_CLIENT, pid, seq), HasResponse: 1, Status: 200, Stitch: uint8(probes.StitchMatched)}
	e.MethodLen = setChars(e.Method[:], "GET")
	e.SchemeLen = setChars(e.Scheme[:], "http")
	e.HostLen = setChars(e.Host[:], "127.0.0.1:40123")
	e.PathLen = setChars(e.Path[:], "/api/items")
	e.QueryLen = setChars(e.Query[:], query)
	return record(b, &e)
}

// chainRecords are the ring buffer records of one request through the
// collector CPU benchmark's front → back chain (bench/testdata/chain): front's
// server span (its parent from a traceparent, not stitched), its two client
// spans and back's two server spans, stitched to them.
func chainRecords(b testing.TB, seq uint64) [][]byte {
	const front, back = 1000, 2000
	return [][]byte{
		serverRecord(b, back, seq+1, "/api/items", "GET /api/items", "from=handler", probes.StitchMatched),
		clientRecord(b, front, seq+2, "from=handler"),
		serverRecord(b, back, seq+3, "/api/items", "GET /api/items", "from=goroutine", probes.StitchMatched),
		clientRecord(b, front, seq+4, "from=goroutine"),
		serverRecord(b, front, seq+5, "/work", "GET /work", "user=42", probes.StitchUnmatched),
	}
}

// BenchmarkRecordsToSpans is the receiver's share of the collector's CPU
// per span: ring buffer record → decoded event → span in the drain's
// ptrace.Traces (the receiver's handleRecord and recordCounts, its counters
// on), per record,
// in drains of 300 records (1,500 spans/s at the 200 ms drain interval of
// a quiet ring). The "+proto" and "+proto+gzip" cases add what the otlp
// exporter then does with each drain's spans by default: protobuf
// marshalling and gzip compression. Run:
//
//	go test -run '^$' -bench RecordsToSpans -benchmem ./receiver/ebpfreceiver/
func BenchmarkRecordsToSpans(b *testing.B) {
	tel := componenttest.NewTelemetry()
	defer func() { _ = tel.Shutdown(context.Background()) }()
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	if err != nil {
		b.Fatal(err)
	}
	set := receivertest.NewNopSettings(metadata.Type)
	cfg := createDefaultConfig().(*Config)
	r, err := newReceiver(cfg, set)
	if err != nil {
		b.Fatal(err)
	}
	r.tel = tb
	r.resources[1000] = httpspan.Resource{ServiceName: "front", PID: 1000, ExePath: "/usr/local/bin/chain", RuntimeVersion: "go1.26.8", HostName: "node-1"}
	r.resources[2000] = httpspan.Resource{ServiceName: "back", PID: 2000, ExePath: "/usr/local/bin/chain", RuntimeVersion: "go1.26.8", HostName: "node-1"}
	var records [][]byte
	for i := range 60 {
		records = append(records, chainRecords(b, uint64(i)*8)...)
	}
	const perDrain = 300
	ctx := context.Background()
	for _, c := range []struct {
		name          string
		marshal, gzip bool
	}{{"decode+span", false, false}, {"decode+span+proto", true, false}, {"decode+span+proto+gzip", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			batch := newSpanBatch(r.clock(), r.redactor, r.panicTypeName)
			var counts drainCounts
			flush := func() {
				if c.marshal {
					raw, err := ptraceotlp.NewExportRequestFromTraces(batch.td).MarshalProto()
					if err != nil {
						b.Fatal(err)
					}
					if c.gzip {
						buf.Reset()
						zw.Reset(&buf)
						_, _ = zw.Write(raw)
						_ = zw.Close()
					}
				}
				r.recordCounts(ctx, &counts)
				counts = drainCounts{}
				batch = newSpanBatch(r.clock(), r.redactor, r.panicTypeName)
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for i := range b.N {
				r.handleRecord(&counts, batch, records[i%len(records)])
				if i%perDrain == perDrain-1 {
					flush()
				}
			}
			b.StopTimer()
			// CPU time, not wall: steadier on a shared machine, and it
			// includes the garbage collector's background work.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			if got := batch.td.SpanCount(); got != b.N%perDrain {
				b.Fatalf("%d spans in the last drain, want %d", got, b.N%perDrain)
			}
		})
	}
}

// BenchmarkExportCompression compares what the otlp exporter's gRPC
// compressors (the ones configgrpc registers: gzip, zstd, snappy; "none"
// for none) cost per span and how many bytes per span they put on the
// wire, on drains of the collector CPU benchmark's spans (800 per drain:
// 4,000 spans/s at the 200 ms drain interval) with random trace and span
// IDs as real traffic has (IDs do not compress). Per span: the protobuf
// marshalling of the drain's ExportTraceServiceRequest plus the
// compression, CPU ns from getrusage, and the compressed bytes. Run:
//
//	go test -run '^$' -bench ExportCompression ./receiver/ebpfreceiver/
func BenchmarkExportCompression(b *testing.B) {
	set := receivertest.NewNopSettings(metadata.Type)
	r, err := newReceiver(createDefaultConfig().(*Config), set)
	if err != nil {
		b.Fatal(err)
	}
	tel := componenttest.NewTelemetry()
	defer func() { _ = tel.Shutdown(context.Background()) }()
	if r.tel, err = metadata.NewTelemetryBuilder(tel.NewTelemetrySettings()); err != nil {
		b.Fatal(err)
	}
	r.resources[1000] = httpspan.Resource{ServiceName: "front", PID: 1000, ExePath: "/usr/local/bin/chain", RuntimeVersion: "go1.26.8", HostName: "node-1"}
	r.resources[2000] = httpspan.Resource{ServiceName: "back", PID: 2000, ExePath: "/usr/local/bin/chain", RuntimeVersion: "go1.26.8", HostName: "node-1"}
	const perDrain = 800
	batch := newSpanBatch(r.clock(), r.redactor, r.panicTypeName)
	var counts drainCounts
	for i := 0; batch.td.SpanCount() < perDrain; i++ {
		for _, rec := range chainRecords(b, uint64(i)*8) {
			r.handleRecord(&counts, batch, rec)
		}
	}
	// Random IDs, as the probes make them.
	rss := batch.td.ResourceSpans()
	for i := range rss.Len() {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for j := range spans.Len() {
			var id [32]byte
			_, _ = rand.Read(id[:])
			s := spans.At(j)
			s.SetTraceID(pcommon.TraceID(id[:16]))
			s.SetSpanID(pcommon.SpanID(id[16:24]))
			s.SetParentSpanID(pcommon.SpanID(id[24:]))
		}
	}
	req := ptraceotlp.NewExportRequestFromTraces(batch.td)
	raw, err := req.MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	for _, codec := range []string{"none", "gzip", "zstd", "snappy"} {
		b.Run(codec, func(b *testing.B) {
			var comp encoding.Compressor
			if codec != "none" {
				if comp = encoding.GetCompressor(codec); comp == nil {
					b.Fatalf("no gRPC compressor %q registered", codec)
				}
			}
			var buf bytes.Buffer
			cpu0 := processCPU()
			b.ResetTimer()
			for range b.N {
				raw, err := req.MarshalProto()
				if err != nil {
					b.Fatal(err)
				}
				buf.Reset()
				if comp == nil {
					buf.Write(raw)
					continue
				}
				w, err := comp.Compress(&buf)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = w.Write(raw)
				_ = w.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/perDrain, "cpu-ns/span")
			b.ReportMetric(float64(buf.Len())/perDrain, "bytes/span")
			b.ReportMetric(float64(len(raw))/float64(buf.Len()), "ratio")
		})
	}
}
