package kafkaoffsets

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/kafkajoin"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Event is one run of consecutive messages of a sent batch that one
// producer span sent.
type Event struct {
	PID  uint32
	Sent kafkajoin.Produced
}

// Decode turns one ring buffer record of kind EVENT_KAFKA_OFFSETS into an
// *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfKafkaOffsetsEvent
	if err := probes.DecodeRecord(raw, &e, "kafka offsets event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	return &Event{
		PID: h.PID,
		Sent: kafkajoin.Produced{
			Topic:       probes.CString(e.Topic[:], e.TopicLen),
			Partition:   e.Partition,
			FirstOffset: e.FirstOffset,
			Count:       int64(e.Count),
			TraceID:     h.IDs.TraceID,
			SpanID:      h.IDs.SpanID,
		},
	}, nil
}

// Process is the pid of the producing process.
func (e *Event) Process() uint32 { return e.PID }

// Produced is what the receiver's Kafka join registers.
func (e *Event) Produced() kafkajoin.Produced { return e.Sent }

// AppendSpan adds nothing: the record is not a span (the receiver gives
// it to the join instead).
func (e *Event) AppendSpan(ptrace.ScopeSpans, probes.SpanEnv) {}
