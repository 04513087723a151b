package ebpfreceiver

import (
	"errors"
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnet"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// xnetLayoutUnknown says why an executable that serves HTTP/2 with
// golang.org/x/net/http2's own server (h2c, ServeConn) gets no spans for
// its streams although traces.http.server asks for them: x/net's struct
// layout is read from DWARF only, and the binary has none. nil when the
// server side is off, the program does not contain that server, or the
// probe resolved.
func (c TracesConfig) xnetLayoutUnknown(info *binaryInfo) error {
	if !c.HTTP.Server || info == nil || info.Exe == nil {
		return nil
	}
	if _, err := info.Exe.Func(h2xnet.FuncRunHandler); err != nil {
		return nil
	}
	if _, ok := info.Probe.Sites[h2xnet.Name]; ok {
		return nil
	}
	if err := info.Probe.Unusable[h2xnet.Name]; errors.Is(err, tracer.ErrOffsetsMissing) {
		return fmt.Errorf("%s (built with golang.org/x/net %q, DWARF %t): %w", info.Exe.Path, info.Exe.Modules["golang.org/x/net"], info.Exe.HasDWARF, err)
	}
	return nil
}
