// Package kafkaoffsets is the kafka-go producer's offsets probe (programs
// in bpf/probes/kafka_producer.c, beside the producer probe whose
// WriteMessages entry notes each message's span): at the end of
// github.com/segmentio/kafka-go's (*partitionWriter).writeBatch, the
// batch's messages carry the topic, partition and offset the broker
// gave; the probe sends one record per run of consecutive messages of one
// producer span. The records carry no span: the receiver's Kafka join
// (package kafkajoin) joins consumer spans on them.
package kafkaoffsets

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkago"
)

// Name is the probe's name in selections and errors.
const Name = "kafka_producer_offsets"

// FuncWriteBatch is the probed function: it sends one batch of one
// partition, with retries, and sets its messages' offsets.
const FuncWriteBatch = "github.com/segmentio/kafka-go.(*partitionWriter).writeBatch"

// BPF programs and maps.
const (
	ProgEntry  = "uprobe_kafka_batch_entry"
	ProgReturn = "uprobe_kafka_batch_return"
	callsMap   = "kafka_batch_calls"
)

// Probe describes the probe to the loader.
//
// Hits per batch sent: 2 (the entry and one RET), whatever the number of
// messages in it.
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncWriteBatch, Entry: ProgEntry, Return: ProgReturn},
	},
	// Optional: a stripped binary's come from Complete (the programs test
	// them).
	OptionalFields: [][]fields.ID{kafkago.Fields, kafkago.OffsetFields},
	Complete: func(exe *goexe.Executable, off *probes.Offsets) {
		kafkago.Complete(exe, &off.Fields)
	},
	GoroutineMaps: []string{callsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_KAFKA_OFFSETS,
	Decode:        Decode,
}
