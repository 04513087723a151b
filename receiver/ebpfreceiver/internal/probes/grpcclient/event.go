package grpcclient

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Event is one unary RPC a grpc-go client made.
type Event struct {
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME
	EndNs   uint64
	IDs     probes.SpanIDs
	// Method is the full method name, "/pkg.Service/Method".
	Method string
	// Target is the ClientConn's target ("dns:///orders:443").
	Target string
	// Code is the status code of the error returned (0 for none),
	// rpcspan.CodeUnread when unreadable.
	Code uint32
	// Stitch: whether a gRPC server span of this host joined the span
	// (through the RPC's HTTP/2 stream, grpcclientstream).
	Stitch probes.Stitch
}

// Decode turns one ring buffer record of kind EVENT_GRPC_CLIENT into an
// *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfGrpcClientEvent
	if err := probes.DecodeRecord(raw, &e, "grpc client event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	return &Event{
		PID:     h.PID,
		StartNs: h.StartNs,
		EndNs:   h.EndNs,
		IDs:     h.IDs,
		Method:  probes.CString(e.Method[:], e.MethodLen),
		Target:  probes.CString(e.Target[:], e.TargetLen),
		Code:    e.Code,
		Stitch:  probes.Stitch(e.Stitch),
	}, nil
}

// StitchResult is what stitching found for the client span.
func (e *Event) StitchResult() (probes.Side, probes.Stitch) { return probes.SideClient, e.Stitch }

// Process is the pid of the calling process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	AppendClient(ss, e, env)
}
