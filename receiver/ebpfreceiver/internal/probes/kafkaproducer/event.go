package kafkaproducer

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Event is one WriteMessages call.
type Event struct {
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME
	EndNs   uint64
	IDs     probes.SpanIDs
	// Topic is Writer.Topic, else the first message's Topic ("" when
	// neither is set).
	Topic string
	// Messages is the number of messages given.
	Messages uint64
	// HasError: WriteMessages returned a non-nil error.
	HasError bool
	// Offsets is the number of messages whose offset a completed batch
	// gave before the call returned (a synchronous Writer); then
	// Partition is theirs (-1: several) and Offset the first one's.
	Offsets   uint64
	Partition int64
	Offset    int64
}

// Decode turns one ring buffer record of kind EVENT_KAFKA_PRODUCER into
// an *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfKafkaProducerEvent
	if err := probes.DecodeRecord(raw, &e, "kafka producer event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	return &Event{
		PID:       h.PID,
		StartNs:   h.StartNs,
		EndNs:     h.EndNs,
		IDs:       h.IDs,
		Topic:     probes.CString(e.Topic[:], e.TopicLen),
		Messages:  e.Messages,
		HasError:  e.HasError != 0,
		Offsets:   e.Offsets,
		Partition: e.Partition,
		Offset:    e.Offset,
	}, nil
}

// Process is the pid of the producing process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	AppendProducer(ss, e, env)
}
