package ebpfreceiver

import (
	"errors"
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sarama"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/saramaconsumer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/saramaproducer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// saramaLayoutUnknown says why an executable that uses sarama gets no
// sarama spans although traces.kafka asks for them: its struct layout
// could not be determined (no DWARF, and a sarama release the probes' rule
// does not know), so the probes were left out rather than attached with
// guessed offsets. nil when Kafka is off, the program does not use sarama,
// or the probes resolved.
func (c TracesConfig) saramaLayoutUnknown(info *binaryInfo) error {
	if info == nil || info.Exe == nil {
		return nil
	}
	var errs []error
	for _, p := range []struct {
		on   bool
		name string
		fn   func(string) string
	}{
		{c.Kafka.Producer, saramaproducer.Name, sarama.FuncSendMessage},
		{c.Kafka.Consumer, saramaconsumer.Name, sarama.FuncParseResponse},
	} {
		if !p.on {
			continue
		}
		uses := ""
		for _, m := range sarama.Modules {
			if _, err := info.Exe.Func(p.fn(m)); err == nil {
				uses = m
			}
		}
		if uses == "" {
			continue // not a program using this side of sarama
		}
		if _, ok := info.Probe.Sites[p.name]; ok {
			continue
		}
		if err := info.Probe.Unusable[p.name]; errors.Is(err, tracer.ErrOffsetsMissing) {
			errs = append(errs, fmt.Errorf("%s %q: %w", uses, info.Exe.Modules[uses], err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s (DWARF %t): %w", info.Exe.Path, info.Exe.HasDWARF, errors.Join(errs...))
}
