// Package kafkaoffsets is the kafka-go producer's offsets probe (programs
// in bpf/probes/kafka_producer.c, beside the producer probe whose
// WriteMessages entry notes each message's span): where
// github.com/segmentio/kafka-go's (*partitionWriter).writeBatch completes a
// batch, its messages carry the topic, partition and offset the broker
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
// partition, with retries, sets its messages' offsets and completes it
// ((*writeBatch).complete: b.err = err; close(b.done)).
const FuncWriteBatch = "github.com/segmentio/kafka-go.(*partitionWriter).writeBatch"

// The probed calls inside FuncWriteBatch: the batch's completion, inlined
// (every v0.4 release built by the Go toolchains the tests use: the call
// of runtime.closechan), or not.
const (
	funcCloseChan = "runtime.closechan"
	FuncComplete  = "github.com/segmentio/kafka-go.(*writeBatch).complete"
	inlinedGroup  = "complete inlined"
	calledGroup   = "complete called"
)

// BPF programs.
const (
	// ProgDone runs at writeBatch's call of runtime.closechan.
	ProgDone = "uprobe_kafka_batch_done"
	// ProgComplete runs at writeBatch's call of (*writeBatch).complete.
	ProgComplete = "uprobe_kafka_batch_complete"
)

// Probe describes the probe to the loader.
//
// Hits per batch sent: 1 (the completion's call site), whatever the number
// of messages in it. It runs before the batch's done channel is closed, so
// before a synchronous WriteMessages waiting for it returns.
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		// Exactly one of the two is found in a binary: writeBatch calls
		// closechan itself only where complete is inlined.
		{Symbol: FuncWriteBatch, Return: ProgDone, CallsOf: funcCloseChan, Optional: inlinedGroup},
		{Symbol: FuncWriteBatch, Return: ProgComplete, CallsOf: FuncComplete, Optional: calledGroup},
	},
	// Optional: a stripped binary's come from Complete (the programs test
	// them).
	OptionalFields: [][]fields.ID{kafkago.Fields, kafkago.OffsetFields},
	Complete: func(exe *goexe.Executable, off *probes.Offsets) {
		kafkago.Complete(exe, &off.Fields)
	},
	Kind:   bpfprog.GoebpfEventKindEVENT_KAFKA_OFFSETS,
	Decode: Decode,
}
