package saramaproducer

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

// TestSpansGolden: a SendMessage with its coordinates, a SendMessages of
// 3, a failed send (coordinates ignored), a send outside any request
// with no topic read.
func TestSpansGolden(t *testing.T) {
	t.Parallel()
	env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}}
	td, ss := probetest.NewScope()
	for _, e := range []*Event{
		{PID: 7, StartNs: 1_000, EndNs: 3_000, IDs: ids(0x10, 0x40, 0x20), Topic: "orders", Messages: 1, HasCoords: true, Partition: 2, Offset: 17},
		{PID: 7, StartNs: 4_000, EndNs: 9_000, IDs: ids(0x11, 0x41, 0x21), Topic: "orders", Messages: 3},
		{PID: 7, StartNs: 10_000, EndNs: 10_500, IDs: ids(0x12, 0x42, 0x22), Topic: "payments", Messages: 1, HasError: true, HasCoords: true, Partition: -1, Offset: -1},
		{PID: 7, StartNs: 11_000, EndNs: 12_000, IDs: ids(0x13, 0x43, 0), Messages: 1, HasCoords: true, Partition: 0, Offset: 0},
	} {
		e.AppendSpan(ss, env)
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "spans.json"), td)
}

// A record is decoded from the generated struct's layout; a short one is
// an error; a topic length beyond the array is clamped.
func TestDecode(t *testing.T) {
	t.Parallel()
	var e bpfprog.GoebpfSaramaProducerEvent
	e.Hdr.Kind = uint8(bpfprog.GoebpfEventKindEVENT_SARAMA_PRODUCER)
	e.Hdr.Pid = 78
	e.Messages, e.HasError, e.HasCoords, e.Partition, e.Offset = 1, 0, 1, 4, 1234
	for i, c := range "orders" {
		e.Topic[i] = int8(c)
	}
	e.TopicLen = 6
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.(*Event); got.PID != 78 || got.Topic != "orders" || got.Messages != 1 || got.HasError || !got.HasCoords || got.Partition != 4 || got.Offset != 1234 {
		t.Errorf("decoded %+v", got)
	}
	e.TopicLen = 9999
	buf.Reset()
	_ = binary.Write(&buf, binary.LittleEndian, &e)
	if ev, err := Decode(buf.Bytes()); err != nil || ev.(*Event).Topic != "orders" {
		t.Errorf("clamped topic: %v %v", ev, err)
	}
	if _, err := Decode(buf.Bytes()[:unsafe.Sizeof(e)-1]); err == nil {
		t.Error("short record decoded")
	}
}
