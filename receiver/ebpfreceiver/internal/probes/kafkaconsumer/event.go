package kafkaconsumer

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Event is one message a Reader returned.
type Event struct {
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME: the fetch's entry
	EndNs   uint64 // its return
	IDs     probes.SpanIDs
	Topic   string
	// Partition and Offset are the message's coordinates.
	Partition, Offset int64
	// Group is the Reader's ReaderConfig.GroupID ("" for none).
	Group string
	// Link is the message's traceparent when the span had an ambient
	// parent as well (HasLink).
	HasLink     bool
	LinkTraceID [16]byte
	LinkSpanID  [8]byte
}

// Decode turns one ring buffer record of kind EVENT_KAFKA_CONSUMER into
// an *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfKafkaConsumerEvent
	if err := probes.DecodeRecord(raw, &e, "kafka consumer event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	return &Event{
		PID:         h.PID,
		StartNs:     h.StartNs,
		EndNs:       h.EndNs,
		IDs:         h.IDs,
		Topic:       probes.CString(e.Topic[:], e.TopicLen),
		Partition:   e.Partition,
		Offset:      e.Offset,
		Group:       probes.CString(e.Group[:], e.GroupLen),
		HasLink:     e.HasLink != 0,
		LinkTraceID: e.LinkTraceId,
		LinkSpanID:  e.LinkSpanId,
	}, nil
}

// Process is the pid of the consuming process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	AppendConsumer(ss, e, env)
}
