package kafkaoffsets

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/kafkajoin"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
)

// A record is decoded from the generated struct's layout into what the
// join registers; it makes no span; a short record is an error.
func TestDecode(t *testing.T) {
	var e bpfprog.GoebpfKafkaOffsetsEvent
	e.Hdr.Kind = uint8(bpfprog.GoebpfEventKindEVENT_KAFKA_OFFSETS)
	e.Hdr.Pid = 31
	for i := range e.Hdr.Ids.TraceId {
		e.Hdr.Ids.TraceId[i] = byte(0xa0 + i)
	}
	for i := range e.Hdr.Ids.SpanId {
		e.Hdr.Ids.SpanId[i] = byte(0xb0 + i)
	}
	e.Partition, e.FirstOffset, e.Count = 4, 1000, 7
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
	rec, ok := ev.(kafkajoin.Record)
	if !ok {
		t.Fatalf("%T is not a kafkajoin.Record", ev)
	}
	want := kafkajoin.Produced{Topic: "orders", Partition: 4, FirstOffset: 1000, Count: 7, TraceID: e.Hdr.Ids.TraceId, SpanID: e.Hdr.Ids.SpanId}
	if got := rec.Produced(); got != want || ev.Process() != 31 {
		t.Errorf("decoded %+v pid %d, want %+v pid 31", got, ev.Process(), want)
	}
	td, ss := probetest.NewScope()
	ev.AppendSpan(ss, probes.SpanEnv{})
	if td.SpanCount() != 0 {
		t.Errorf("a record made %d spans", td.SpanCount())
	}
	if _, err := Decode(buf.Bytes()[:unsafe.Sizeof(e)-1]); err == nil {
		t.Error("short record decoded")
	}
}
