package tracer

import (
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/registry"
)

// decoders by event kind, from the registered probes.
var decoders = func() map[uint8]func([]byte) (probes.Event, error) {
	m := map[uint8]func([]byte) (probes.Event, error){}
	for _, p := range registry.All() {
		if p.Kind != 0 {
			m[uint8(p.Kind)] = p.Decode
		}
	}
	return m
}()

// Decode turns one ring buffer record into its probe's event, chosen by
// the kind in its first byte. Malformed records return an error, never a
// panic.
func Decode(raw []byte) (probes.Event, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("empty event")
	}
	decode, ok := decoders[raw[0]]
	if !ok {
		return nil, fmt.Errorf("unknown event kind %d", raw[0])
	}
	return decode(raw)
}
