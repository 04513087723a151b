package ebpfreceiver

import (
	"errors"
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/redisclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// redisLayoutUnknown says why an executable that uses go-redis gets no
// Redis spans although traces.redis asks for them: its struct layout could
// not be determined (no DWARF, and its go-redis version is not in the
// offsets table),
// so the probe was left out rather than attached with guessed offsets. nil
// when Redis is off, the program does not use go-redis, or the probe
// resolved.
func (c TracesConfig) redisLayoutUnknown(info *binaryInfo) error {
	if !c.Redis.Enabled || info == nil || info.Exe == nil {
		return nil
	}
	var errs []error
	for _, p := range []struct{ module, name string }{
		{redisclient.ModuleV9, redisclient.Name},
		{redisclient.ModuleV8, redisclient.V8Name},
	} {
		fn := redisclient.FuncProcess(p.module)
		if _, err := info.Exe.Func(fn); err != nil {
			if _, err := info.Exe.Func(fn + "-fm"); err != nil {
				continue // not a program using this module
			}
		}
		if _, ok := info.Probe.Sites[p.name]; ok {
			continue
		}
		if err := info.Probe.Unusable[p.name]; errors.Is(err, tracer.ErrOffsetsMissing) {
			errs = append(errs, fmt.Errorf("%s %q: %w", p.module, info.Exe.Modules[p.module], err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s (DWARF %t): %w", info.Exe.Path, info.Exe.HasDWARF, errors.Join(errs...))
}
