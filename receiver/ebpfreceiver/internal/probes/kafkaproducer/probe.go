// Package kafkaproducer is the kafka-go producer probe
// (bpf/probes/kafka_producer.c): one PRODUCER span per call of
// github.com/segmentio/kafka-go's (*Writer).WriteMessages, named
// "send {topic}", a child of the span the calling goroutine works for.
package kafkaproducer

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkago"
)

// Name is the probe's name in selections and errors.
const Name = "kafka_producer"

// FuncWriteMessages is the probed function: every produce of a Writer,
// synchronous or not (an asynchronous Writer returns once the messages
// are queued, so its span ends there).
const FuncWriteMessages = "github.com/segmentio/kafka-go.(*Writer).WriteMessages"

// BPF programs and maps.
const (
	ProgEntry  = "uprobe_kafka_produce_entry"
	ProgReturn = "uprobe_kafka_produce_return"
	callsMap   = "kafka_producer_calls"
)

// Probe describes the probe to the loader.
//
// Hits per call: 2 (the entry and one RET), whatever the number of
// messages (the entry notes each message's span for the kafkaoffsets
// probe in a bpf_loop, no extra hit).
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncWriteMessages, Entry: ProgEntry, Return: ProgReturn},
	},
	OptionalFields: [][]fields.ID{
		kafkago.Fields,
		kafkago.OffsetFields,
		httpserver.GoroutineFields,
		{fields.RuntimeGParentGoid},
	},
	Complete: func(exe *goexe.Executable, off *probes.Offsets) {
		kafkago.Complete(exe, &off.Fields)
	},
	Constants:     constants,
	JoinsSpans:    true,
	GoroutineMaps: []string{callsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_KAFKA_PRODUCER,
	Decode:        Decode,
}

// constants: kafka_note_messages makes the entry note each message's span
// (for the kafkaoffsets probe; off, a call costs what it did without it).
func constants(s probes.Settings) map[string]any {
	on := uint32(0)
	if s.KafkaOffsets {
		on = 1
	}
	return map[string]any{"kafka_note_messages": on}
}
