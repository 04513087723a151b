package ebpfreceiver

import (
	"errors"
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnet"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnetclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// xnetLayoutUnknown says why an executable that serves or sends HTTP/2
// with golang.org/x/net/http2's own server (h2c, ServeConn) or client
// (http2.Transport) gets no spans from them: x/net's struct layout is
// unknown (no DWARF, and its x/net release is not in the offsets table), so
// the x/net probes were left out rather than attached with guessed offsets.
// nil when the HTTP side is off, the program does not contain that server
// or client, or the layout is known.
func (c TracesConfig) xnetLayoutUnknown(info *binaryInfo) error {
	if info == nil || info.Exe == nil {
		return nil
	}
	var errs []error
	for _, p := range []struct {
		on    bool
		name  string
		funcs []string
	}{
		{c.HTTP.Server, h2xnet.Name, []string{h2xnet.FuncRunHandler}},
		{c.HTTP.Client, h2xnetclient.Name, []string{h2xnetclient.FuncRoundTripOpt, h2xnetclient.FuncRoundTripOptLegacy}},
	} {
		if !p.on || !hasAnyFunc(info, p.funcs) {
			continue
		}
		if _, ok := info.Probe.Sites[p.name]; ok {
			continue
		}
		if err := info.Probe.Unusable[p.name]; errors.Is(err, tracer.ErrOffsetsMissing) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s (built with golang.org/x/net %q, DWARF %t): %w", info.Exe.Path, info.Exe.Modules["golang.org/x/net"], info.Exe.HasDWARF, errors.Join(errs...))
}

func hasAnyFunc(info *binaryInfo, names []string) bool {
	for _, n := range names {
		if _, err := info.Exe.Func(n); err == nil {
			return true
		}
	}
	return false
}
