package ebpfreceiver

import (
	"errors"
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// goexeInspector inspects each executable file once (goexe's cache is keyed
// by inode) and resolves what the probes need.
type goexeInspector struct {
	cache *goexe.Cache
}

func (gi goexeInspector) inspect(path string) (*binaryInfo, error) {
	exe, err := gi.cache.Inspect(path)
	if err != nil {
		if errors.Is(err, goexe.ErrNotGo) {
			return nil, &attachError{reason: reasonNotGo, err: err}
		}
		return nil, &attachError{reason: reasonInspectFailed, err: fmt.Errorf("inspect %s: %w", path, err)}
	}
	info := &binaryInfo{GoVersion: exe.GoVersion, Exe: exe}
	info.Probe, err = tracer.ResolveBinary(exe)
	if err != nil {
		reason := reasonFunctionMissing
		if errors.Is(err, tracer.ErrOffsetsMissing) {
			reason = reasonOffsetsMissing
		}
		info.ProbeErr = &attachError{reason: reason, err: err}
	}
	return info, nil
}
