package saramaconsumer

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkago"
)

// OperationName is messaging.operation.name (and .type) of every consumer
// span: the span covers the parsing of the fetched batch.
const OperationName = "receive"

// AppendConsumer adds the CONSUMER span of ev to ss: "receive {topic}",
// with the message's coordinates (the attributes, and their types, of
// kafka-go's consumer spans), the batch size when the batch had more than
// one message, and the group.
func AppendConsumer(ss ptrace.ScopeSpans, ev *Event, env probes.SpanEnv) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	probes.SetIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindConsumer)
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
	a.PutStr(kafkago.AttrPartitionID, strconv.FormatInt(ev.Partition, 10))
	a.PutInt(kafkago.AttrOffset, ev.Offset)
	if ev.Batch > 1 {
		a.PutInt(kafkago.AttrBatchCount, int64(ev.Batch))
	}
	if ev.Group != "" {
		a.PutStr(kafkago.AttrConsumerGroup, ev.Group)
	}
	return s
}
