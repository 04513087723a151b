package saramaproducer

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Event is one SendMessage or SendMessages call.
type Event struct {
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME
	EndNs   uint64
	IDs     probes.SpanIDs
	// Topic is the (first) message's Topic.
	Topic string
	// Messages is the number of messages given.
	Messages uint64
	// HasCoords: Partition and Offset are what the broker gave the
	// message (a call of one message that succeeded).
	HasCoords         bool
	Partition, Offset int64
	// HasError: the call returned a non-nil error.
	HasError bool
}

// Decode turns one ring buffer record of kind EVENT_SARAMA_PRODUCER into
// an *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfSaramaProducerEvent
	if err := probes.DecodeRecord(raw, &e, "sarama producer event"); err != nil {
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
		HasCoords: e.HasCoords != 0,
		Partition: e.Partition,
		Offset:    e.Offset,
		HasError:  e.HasError != 0,
	}, nil
}

// Process is the pid of the producing process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	AppendProducer(ss, e, env)
}
