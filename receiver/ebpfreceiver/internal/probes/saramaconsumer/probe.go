// Package saramaconsumer is the sarama consumer probe
// (bpf/probes/sarama_consumer.c): one CONSUMER span, "receive {topic}",
// per message a partition consumer of github.com/IBM/sarama (or
// github.com/Shopify/sarama v1.38) fetches, whether it serves a consumer
// group or a plain Consumer, sent from the 2 hits of
// (*partitionConsumer).parseResponse (entry and RET) whatever the number
// of messages in the batch. The span carries the topic, partition, offset,
// batch size and the consumer group's name; it has no parent (sarama
// parses on its own goroutine), so the receiver's Kafka join can make it
// the child of the producer's span of the same message.
package saramaconsumer

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sarama"
)

// Name is the probe's name in selections and errors.
const Name = "sarama_consumer"

// BPF programs and maps.
const (
	ProgParseEntry   = "uprobe_sarama_parse_entry"
	ProgParseReturn  = "uprobe_sarama_parse_return"
	ProgConsumeEntry = "uprobe_sarama_group_consume_entry"
	callsMap         = "sarama_consumer_calls"
	groupsMap        = "sarama_consumer_groups"
)

// Probe describes the probe to the loader.
//
// Hits: 2 per fetched batch of a partition (whatever its size), 1 per
// consumer group session (Consume).
var Probe = &probes.Probe{
	Name:           Name,
	Uprobes:        uprobes(),
	RuleFields:     sarama.ConsumerFields,
	OptionalFields: [][]fields.ID{sarama.GroupFields, sarama.HeaderFields},
	Complete: func(exe *goexe.Executable, off *probes.Offsets) {
		sarama.Complete(exe, &off.Fields)
	},
	GoroutineMaps: []string{callsMap, groupsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_SARAMA_CONSUMER,
	Decode:        Decode,
}

func uprobes() []probes.Uprobe {
	var u []probes.Uprobe
	for _, m := range sarama.Modules {
		u = append(u,
			probes.Uprobe{Symbol: sarama.FuncParseResponse(m), Entry: ProgParseEntry, Return: ProgParseReturn, Optional: m + " parseResponse"},
			probes.Uprobe{Symbol: sarama.FuncConsume(m), Entry: ProgConsumeEntry, Optional: m + " Consume"},
		)
	}
	return u
}
