package grpcserver

import (
	"net/netip"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Event is one RPC served by grpc-go.
type Event struct {
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME
	EndNs   uint64
	IDs     probes.SpanIDs
	// Method is the full method name, "/pkg.Service/Method".
	Method string
	// Code is the status code written, rpcspan.CodeUnread when unreadable.
	Code uint32
	// Peer and Local are the connection's addresses (invalid when the
	// transport is not TCP or they could not be read).
	Peer, Local netip.AddrPort
	// Stitch: whether the span joined a gRPC client span of this host on
	// the same HTTP/2 stream (its trace and parent are the client's).
	Stitch probes.Stitch
}

// Decode turns one ring buffer record of kind EVENT_GRPC_SERVER into an
// *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfGrpcServerEvent
	if err := probes.DecodeRecord(raw, &e, "grpc server event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	return &Event{
		PID:     h.PID,
		StartNs: h.StartNs,
		EndNs:   h.EndNs,
		IDs:     h.IDs,
		Method:  probes.CString(e.Method[:], e.MethodLen),
		Code:    e.Code,
		Peer:    AddrPort(e.PeerIp, e.PeerIpLen, e.PeerPort),
		Local:   AddrPort(e.LocalIp, e.LocalIpLen, e.LocalPort),
		Stitch:  probes.Stitch(e.Stitch),
	}, nil
}

// AddrPort converts an IP of n bytes (4 or 16) and a port; any other n
// gives the zero (invalid) AddrPort.
func AddrPort(ip [16]uint8, n uint8, port uint16) netip.AddrPort {
	var a netip.Addr
	switch n {
	case 4:
		a = netip.AddrFrom4([4]byte(ip[:4]))
	case 16:
		a = netip.AddrFrom16(ip).Unmap()
	default:
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, port)
}

// StitchResult is what stitching found for the server span.
func (e *Event) StitchResult() (probes.Side, probes.Stitch) { return probes.SideServer, e.Stitch }

// Process is the pid of the serving process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	AppendServer(ss, e, env)
}
