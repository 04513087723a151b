package saramaconsumer

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Event is one message of a fetched batch.
type Event struct {
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME: parseResponse's entry
	EndNs   uint64 // the message's event sent, at its return
	IDs     probes.SpanIDs
	Topic   string
	// Partition and Offset are the message's coordinates.
	Partition, Offset int64
	// Batch is the number of messages the batch had.
	Batch uint64
	// Group is the consumer group's name ("" for a plain Consumer, or a
	// group whose session started before the probe was attached).
	Group string
}

// Decode turns one ring buffer record of kind EVENT_SARAMA_CONSUMER into
// an *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfSaramaConsumerEvent
	if err := probes.DecodeRecord(raw, &e, "sarama consumer event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	return &Event{
		PID:       h.PID,
		StartNs:   h.StartNs,
		EndNs:     h.EndNs,
		IDs:       h.IDs,
		Topic:     probes.CString(e.Topic[:], e.TopicLen),
		Partition: e.Partition,
		Offset:    e.Offset,
		Batch:     e.Batch,
		Group:     probes.CString(e.Group[:], e.GroupLen),
	}, nil
}

// Process is the pid of the consuming process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	AppendConsumer(ss, e, env)
}
