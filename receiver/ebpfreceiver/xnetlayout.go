package ebpfreceiver

import (
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnet"
)

// xnetLayoutUnknown says why an executable that serves HTTP/2 with
// golang.org/x/net/http2's own server (h2c, ServeConn) gets spans for its
// streams without status or incoming trace context: x/net's struct layout
// is read from DWARF only, and the binary has none. nil when the server
// side is off, the program does not contain that server, or the layout is
// known.
func (c TracesConfig) xnetLayoutUnknown(info *binaryInfo) error {
	if !c.HTTP.Server || info == nil || info.Exe == nil {
		return nil
	}
	if _, err := info.Exe.Func(h2xnet.FuncRunHandler); err != nil {
		return nil
	}
	if info.Probe.Offsets.Fields.Known(h2xnet.StatusFields...) {
		return nil
	}
	return fmt.Errorf("%s (built with golang.org/x/net %q, DWARF %t): the offsets of x/net's response writer are known from DWARF only", info.Exe.Path, info.Exe.Modules["golang.org/x/net"], info.Exe.HasDWARF)
}
