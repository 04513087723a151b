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
	ProgAsyncSuccesses = "uprobe_sarama_async_successes"
	ProgAsyncErrors    = "uprobe_sarama_async_errors"
	ProgAsyncError     = "uprobe_sarama_async_error"
	callsMap           = "sarama_producer_calls"
)

// Probe describes the probe to the loader: each function of each module
// path is an optional group of its own (a program may use one of them).
//
// Hits per SyncProducer call: 2 (the entry and one RET), whatever the
// number of messages. AsyncProducer: 1 per acknowledged batch of a
// partition (returnSuccesses), 1 per failed batch (returnErrors, v1.41 on)
// or per failed message (returnError, v1.40 and Shopify v1.38); a
// SyncProducer's messages pass there too (1 more hit per batch, no span).
var Probe = &probes.Probe{
	Name:       Name,
	Uprobes:    uprobes(),
	RuleFields: sarama.ProducerFields,
	OptionalFields: [][]fields.ID{
		httpserver.GoroutineFields,
		sarama.AsyncFields,
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
			probes.Uprobe{Symbol: sarama.FuncReturnSuccesses(m), Entry: ProgAsyncSuccesses, Optional: m + " returnSuccesses"},
			probes.Uprobe{Symbol: sarama.FuncReturnErrors(m), Entry: ProgAsyncErrors, Optional: m + " returnErrors"},
			// Where returnError calls returnErrors, that uprobe sees the
			// failure; where returnErrors is the inlined loop (v1.40),
			// returnError is the only real call.
			probes.Uprobe{Symbol: sarama.FuncReturnError(m), Entry: ProgAsyncError, Optional: m + " returnError", WrapperOf: sarama.FuncReturnErrors(m)},
		)
	}
	return u
}
