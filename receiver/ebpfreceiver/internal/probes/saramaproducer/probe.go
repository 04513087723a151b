// Package saramaproducer is the sarama producer probe
// (bpf/probes/sarama_producer.c): one PRODUCER span per call of a
// SyncProducer's SendMessage or SendMessages (github.com/IBM/sarama, and
// github.com/Shopify/sarama v1.38), named "send {topic}", a child of the
// span the calling goroutine works for, with the partition and offset the
// broker gave a single message.
package saramaproducer

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sarama"
)

// Name is the probe's name in selections and errors.
const Name = "sarama_producer"

// BPF programs and maps.
const (
	ProgSendEntry      = "uprobe_sarama_send_entry"
	ProgSendReturn     = "uprobe_sarama_send_return"
	ProgSendManyEntry  = "uprobe_sarama_send_many_entry"
	ProgSendManyReturn = "uprobe_sarama_send_many_return"
	callsMap           = "sarama_producer_calls"
)

// Probe describes the probe to the loader: each function of each module
// path is an optional group of its own (a program may use one of them).
//
// Hits per call: 2 (the entry and one RET), whatever the number of
// messages.
var Probe = &probes.Probe{
	Name:       Name,
	Uprobes:    uprobes(),
	RuleFields: sarama.ProducerFields,
	OptionalFields: [][]fields.ID{
		httpserver.GoroutineFields,
		{fields.RuntimeGParentGoid},
	},
	Complete: func(exe *goexe.Executable, off *probes.Offsets) {
		sarama.Complete(exe, &off.Fields)
	},
	JoinsSpans:    true,
	GoroutineMaps: []string{callsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_SARAMA_PRODUCER,
	Decode:        Decode,
}

func uprobes() []probes.Uprobe {
	var u []probes.Uprobe
	for _, m := range sarama.Modules {
		u = append(u,
			probes.Uprobe{Symbol: sarama.FuncSendMessage(m), Entry: ProgSendEntry, Return: ProgSendReturn, Optional: m + " SendMessage"},
			probes.Uprobe{Symbol: sarama.FuncSendMessages(m), Entry: ProgSendManyEntry, Return: ProgSendManyReturn, Optional: m + " SendMessages"},
		)
	}
	return u
}
