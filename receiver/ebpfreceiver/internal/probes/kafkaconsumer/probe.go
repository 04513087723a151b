// Package kafkaconsumer is the kafka-go consumer probe
// (bpf/probes/kafka_consumer.c): one CONSUMER span, "receive {topic}", per
// message github.com/segmentio/kafka-go's (*Reader).FetchMessage returns
// (ReadMessage goes through it). Its parent is the span the calling
// goroutine works for, else the `traceparent` header the producing
// application put in the message (a link when both exist); a span without
// an ambient parent becomes the goroutine's span until its next fetch, so
// the message's processing is its child.
package kafkaconsumer

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkago"
)

// Name is the probe's name in selections and errors.
const Name = "kafka_consumer"

// FuncFetchMessage is the probed function.
const FuncFetchMessage = "github.com/segmentio/kafka-go.(*Reader).FetchMessage"

// BPF programs and maps.
const (
	ProgEntry  = "uprobe_kafka_fetch_entry"
	ProgReturn = "uprobe_kafka_fetch_return"
	callsMap   = "kafka_consumer_calls"
	spansMap   = "kafka_consumer_spans"
)

// Probe describes the probe to the loader.
//
// Hits per message: 2 (the entry and one RET of its fetch).
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncFetchMessage, Entry: ProgEntry, Return: ProgReturn},
	},
	OptionalFields: [][]fields.ID{
		kafkago.Fields,
		httpserver.GoroutineFields,
		{fields.RuntimeGParentGoid},
	},
	Complete: func(exe *goexe.Executable, off *probes.Offsets) {
		kafkago.Complete(exe, &off.Fields)
	},
	StartsSpans:   true,
	JoinsSpans:    true,
	GoroutineMaps: []string{callsMap, spansMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_KAFKA_CONSUMER,
	Decode:        Decode,
}
