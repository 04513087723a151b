package saramaproducer

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkago"
)

// OperationName is messaging.operation.name (and .type) of every
// producer span.
const OperationName = "send"

// AppendProducer adds the PRODUCER span of ev to ss: "send {topic}" ("send"
// when no topic was read); messaging.batch.message_count when the call
// sent more than one message; the message's partition and offset when the
// broker gave them to a one-message call (the same attributes, of the
// same types, as the consumer spans of kafka-go and sarama, so that the
// receiver can join the two).
func AppendProducer(ss ptrace.ScopeSpans, ev *Event, env probes.SpanEnv) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	probes.SetIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindProducer)
	name := OperationName
	if ev.Topic != "" {
		name += " " + ev.Topic
	}
	s.SetName(name)
	s.SetStartTimestamp(env.Clock.Time(ev.StartNs))
	s.SetEndTimestamp(env.Clock.Time(ev.EndNs))
	a := s.Attributes()
	a.PutStr(kafkago.AttrSystem, kafkago.SystemKafka)
	a.PutStr(kafkago.AttrOperationType, OperationName)
	a.PutStr(kafkago.AttrOperationName, OperationName)
	if ev.Topic != "" {
		a.PutStr(kafkago.AttrDestinationName, ev.Topic)
	}
	if ev.HasCoords && !ev.HasError {
		a.PutStr(kafkago.AttrPartitionID, strconv.FormatInt(ev.Partition, 10))
		a.PutInt(kafkago.AttrOffset, ev.Offset)
	}
	if ev.Messages > 1 {
		a.PutInt(kafkago.AttrBatchCount, int64(ev.Messages))
	}
	if ev.HasError {
		s.Status().SetCode(ptrace.StatusCodeError)
		a.PutStr(httpspan.AttrErrorType, "_OTHER")
	}
	return s
}
