package ebpfreceiver

import (
	"errors"
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclientstream"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// grpcLayoutUnknown says why an executable that uses grpc-go gets no gRPC
// spans although traces.grpc asks for them: its struct layout could not be
// determined (no DWARF, and its grpc-go version is not in the offsets table,
// or could not be read from the build info nor inferred from the program),
// so the probes were left out rather than attached with guessed offsets.
// nil when gRPC is off, the program does not use grpc-go, or a probe
// resolved.
func (c TracesConfig) grpcLayoutUnknown(info *binaryInfo) error {
	return c.grpcProbesUnresolved(info, false)
}

// grpcStitchLayoutUnknown is the same for stitching's stream probe
// (grpcclientstream): with traces.propagation.stitch on, an executable whose
// grpc-go layout lacks the stream's fields gets gRPC spans whose RPCs the
// server spans of this host do not join.
func (c TracesConfig) grpcStitchLayoutUnknown(info *binaryInfo) error {
	return c.grpcProbesUnresolved(info, true)
}

func (c TracesConfig) grpcProbesUnresolved(info *binaryInfo, stitch bool) error {
	if info == nil || info.Exe == nil {
		return nil
	}
	var errs []error
	check := func(on bool, fn string, names ...string) {
		if !on {
			return
		}
		if _, err := info.Exe.Func(fn); err != nil {
			return // not a grpc-go program (or not that side of it)
		}
		for _, n := range names {
			if _, ok := info.Probe.Sites[n]; ok {
				return
			}
		}
		for _, n := range names {
			if err := info.Probe.Unusable[n]; errors.Is(err, tracer.ErrOffsetsMissing) {
				errs = append(errs, err)
				return
			}
		}
	}
	if stitch {
		check(c.GRPC.Client && c.GRPC.Server && c.Propagation.Stitch, grpcclientstream.FuncNewStream, grpcclientstream.Name)
	} else {
		check(c.GRPC.Server, grpcserver.FuncHandleStream, grpcserver.Name, grpcserver.LegacyName)
		check(c.GRPC.Client, grpcclient.FuncInvoke, grpcclient.Name)
		check(c.GRPC.Client && c.GRPC.ClientStreams, grpcclient.FuncNewStream, grpcclient.StreamName)
	}
	if len(errs) == 0 {
		return nil
	}
	x := info.Exe
	version := x.Modules[goexe.GRPCModule]
	switch {
	case version != "" && x.ModuleNotes[goexe.GRPCModule] != "":
		version = "grpc-go " + version + " (build info: " + x.ModuleNotes[goexe.GRPCModule] + ")"
	case version != "":
		version = "grpc-go " + version + " (build info)"
	case x.InferredModules[goexe.GRPCModule] != "":
		version = "grpc-go " + x.InferredModules[goexe.GRPCModule] + " (inferred: no build info)"
	case x.ModuleNotes[goexe.GRPCModule] != "":
		version = "grpc-go version unknown: " + x.ModuleNotes[goexe.GRPCModule]
	default:
		version = "grpc-go version unknown"
	}
	return fmt.Errorf("%s (%s, DWARF %t): %w", x.Path, version, x.HasDWARF, errors.Join(errs...))
}
