package kafkaconsumer

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

func ids(trace, span, parent byte) probes.SpanIDs {
	var id probes.SpanIDs
	for i := range id.TraceID {
		id.TraceID[i] = trace + byte(i)
	}
	for i := range id.SpanID {
		id.SpanID[i] = span + byte(i)
	}
	if parent != 0 {
		id.HasParent = true
		for i := range id.ParentSpanID {
			id.ParentSpanID[i] = parent + byte(i)
		}
	}
	return id
}

// TestSpansGolden: a root message, one parented by its traceparent, one
// with an ambient parent and its traceparent as a link, one read without a
// consumer group.
func TestSpansGolden(t *testing.T) {
	t.Parallel()
	env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}}
	td, ss := probetest.NewScope()
	link := &Event{PID: 7, StartNs: 5_000, EndNs: 5_200, IDs: ids(0x12, 0x42, 0x22), Topic: "orders", Partition: 2, Offset: 9, Group: "workers", HasLink: true}
	for i := range link.LinkTraceID {
		link.LinkTraceID[i] = 0xa0 + byte(i)
	}
	for i := range link.LinkSpanID {
		link.LinkSpanID[i] = 0xb0 + byte(i)
	}
	for _, e := range []*Event{
		{PID: 7, StartNs: 1_000, EndNs: 3_000, IDs: ids(0x10, 0x40, 0), Topic: "orders", Partition: 0, Offset: 41, Group: "workers"},
		{PID: 7, StartNs: 3_500, EndNs: 3_600, IDs: ids(0x11, 0x41, 0x21), Topic: "orders", Partition: 0, Offset: 42, Group: "workers"},
		link,
		{PID: 7, StartNs: 6_000, EndNs: 6_100, IDs: ids(0x13, 0x43, 0), Topic: "audit", Partition: 1, Offset: 0},
	} {
		e.AppendSpan(ss, env)
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "spans.json"), td)
}

// A record is decoded from the generated struct's layout; a short one is
// an error.
func TestDecode(t *testing.T) {
	t.Parallel()
	var e bpfprog.GoebpfKafkaConsumerEvent
	e.Hdr.Kind = uint8(bpfprog.GoebpfEventKindEVENT_KAFKA_CONSUMER)
	e.Hdr.Pid = 78
	e.Partition, e.Offset, e.HasLink = 3, 1234, 1
	e.LinkSpanId[0] = 9
	for i, c := range "orders" {
		e.Topic[i] = int8(c)
	}
	for i, c := range "workers" {
		e.Group[i] = int8(c)
	}
	e.TopicLen, e.GroupLen = 6, 7
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.(*Event); got.PID != 78 || got.Topic != "orders" || got.Group != "workers" || got.Partition != 3 ||
		got.Offset != 1234 || !got.HasLink || got.LinkSpanID[0] != 9 {
		t.Errorf("decoded %+v", got)
	}
	if _, err := Decode(buf.Bytes()[:unsafe.Sizeof(e)-1]); err == nil {
		t.Error("short record decoded")
	}
}
