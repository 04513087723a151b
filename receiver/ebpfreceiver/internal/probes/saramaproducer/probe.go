// Package saramaproducer is the sarama producer probe
// (bpf/probes/sarama_producer.c): one PRODUCER span per call of a
// SyncProducer's SendMessage or SendMessages (github.com/IBM/sarama, and
// github.com/Shopify/sarama v1.38), named "send {topic}", a child of the
// span the calling goroutine works for, with the partition and offset the
// broker gave a single message; and one PRODUCER span per message of an
// AsyncProducer, at the batch's acknowledgment or failure
// (sarama_producer.c says where and why).
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
	ProgAsyncBuild     = "uprobe_sarama_async_build"
	ProgAsyncSuccess   = "uprobe_sarama_async_success"
	callsMap           = "sarama_producer_calls"
	acksMap            = "sarama_async_acks"
	buildsMap          = "sarama_async_builds" // keyed like goroutines: tgid first
)

// Probe describes the probe to the loader: each function of each module
// path is an optional group of its own (a program may use one of them).
//
// Hits per SyncProducer call: 2 (the entry and one RET), whatever the
// number of messages. AsyncProducer: per produce request 3 (buildRequest,
// handleSuccess, returnSuccesses) plus 1 per further partition of the
// request (returnSuccesses); 1 per failed batch (returnErrors, v1.41 on)
// or per failed message (returnError, v1.40 and Shopify v1.38). A
// SyncProducer's messages pass there too (3 more hits per request, no
// span).
var Probe = &probes.Probe{
	Name:       Name,
	Uprobes:    uprobes(),
	RuleFields: sarama.ProducerFields,
	OptionalFields: [][]fields.ID{
		httpserver.GoroutineFields,
		sarama.AsyncFields,
		sarama.AsyncHeaderFields,
		{fields.RuntimeGParentGoid},
	},
	Complete: func(exe *goexe.Executable, off *probes.Offsets) {
		sarama.Complete(exe, &off.Fields)
	},
	JoinsSpans:    true,
	GoroutineMaps: []string{callsMap, acksMap, buildsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_SARAMA_PRODUCER,
	Decode:        Decode,
}

func uprobes() []probes.Uprobe {
	var u []probes.Uprobe
	for _, m := range sarama.Modules {
		u = append(u,
			probes.Uprobe{Symbol: sarama.FuncSendMessage(m), Entry: ProgSendEntry, Return: ProgSendReturn, Optional: m + " SendMessage"},
			probes.Uprobe{Symbol: sarama.FuncSendMessages(m), Entry: ProgSendManyEntry, Return: ProgSendManyReturn, Optional: m + " SendMessages"},
			// The three of an acknowledged batch go together.
			probes.Uprobe{Symbol: sarama.FuncReturnSuccesses(m), Entry: ProgAsyncSuccesses, Optional: m + " returnSuccesses"},
			probes.Uprobe{Symbol: sarama.FuncBuildRequest(m), Entry: ProgAsyncBuild, Optional: m + " returnSuccesses"},
			probes.Uprobe{Symbol: sarama.FuncHandleSuccess(m), Entry: ProgAsyncSuccess, Optional: m + " returnSuccesses"},
			probes.Uprobe{Symbol: sarama.FuncReturnErrors(m), Entry: ProgAsyncErrors, Optional: m + " returnErrors"},
			// Where returnError calls returnErrors, that uprobe sees the
			// failure; where returnErrors is the inlined loop (v1.40),
			// returnError is the only real call.
			probes.Uprobe{Symbol: sarama.FuncReturnError(m), Entry: ProgAsyncError, Optional: m + " returnError", WrapperOf: sarama.FuncReturnErrors(m)},
		)
	}
	return u
}
