package saramaconsumer

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
)

func ids(trace, span byte) probes.SpanIDs {
	var id probes.SpanIDs
	for i := range id.TraceID {
		id.TraceID[i] = trace + byte(i)
	}
	for i := range id.SpanID {
		id.SpanID[i] = span + byte(i)
	}
	return id
}

func withParent(id probes.SpanIDs, parent byte) probes.SpanIDs {
	id.HasParent = true
	for i := range id.ParentSpanID {
		id.ParentSpanID[i] = parent + byte(i)
	}
	return id
}

// TestSpansGolden: a message fetched alone, two of one batch of two (the
// second with a traceparent header: the producer's span its parent), one
// read by a plain partition consumer (no group).
func TestSpansGolden(t *testing.T) {
	t.Parallel()
	env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}}
	td, ss := probetest.NewScope()
	for _, e := range []*Event{
		{PID: 7, StartNs: 1_000, EndNs: 3_000, IDs: ids(0x10, 0x40), Topic: "orders", Partition: 2, Offset: 41, Batch: 1, Group: "workers"},
		{PID: 7, StartNs: 4_000, EndNs: 4_300, IDs: ids(0x11, 0x41), Topic: "orders", Partition: 1, Offset: 7, Batch: 2, Group: "workers"},
		{PID: 7, StartNs: 4_000, EndNs: 4_400, IDs: withParent(ids(0x12, 0x42), 0x22), Topic: "orders", Partition: 1, Offset: 8, Batch: 2, Group: "workers"},
		{PID: 7, StartNs: 5_000, EndNs: 5_100, IDs: ids(0x13, 0x43), Topic: "audit", Partition: 0, Offset: 0, Batch: 1},
	} {
		e.AppendSpan(ss, env)
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "spans.json"), td)
}

// A record is decoded from the generated struct's layout; a short one is
// an error; lengths beyond the arrays are clamped.
func TestDecode(t *testing.T) {
	t.Parallel()
	var e bpfprog.GoebpfSaramaConsumerEvent
	e.Hdr.Kind = uint8(bpfprog.GoebpfEventKindEVENT_SARAMA_CONSUMER)
	e.Hdr.Pid = 78
	e.Partition, e.Offset, e.Batch = 3, 99, 5
	for i, c := range "orders" {
		e.Topic[i] = int8(c)
	}
	e.TopicLen = 6
	for i, c := range "workers" {
		e.Group[i] = int8(c)
	}
	e.GroupLen = 7
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.(*Event); got.PID != 78 || got.Topic != "orders" || got.Group != "workers" || got.Partition != 3 || got.Offset != 99 || got.Batch != 5 {
		t.Errorf("decoded %+v", got)
	}
	e.TopicLen, e.GroupLen = 9999, 9999
	buf.Reset()
	_ = binary.Write(&buf, binary.LittleEndian, &e)
	if ev, err := Decode(buf.Bytes()); err != nil || ev.(*Event).Topic != "orders" || ev.(*Event).Group != "workers" {
		t.Errorf("clamped: %v %v", ev, err)
	}
	if _, err := Decode(buf.Bytes()[:unsafe.Sizeof(e)-1]); err == nil {
		t.Error("short record decoded")
	}
}
