// Package grpcserver is the grpc-go server probe (bpf/probes/grpc_server.c):
// one SERVER span per RPC, unary or streaming, from the entry of
// grpc.(*Server).handleStream to the entry of the transport's writeStatus
// (WriteStatus before grpc v1.69: a second description, LegacyProbe, of
// the same programs).
package grpcserver

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Names of the probe descriptions in selections and errors: at most one of
// them resolves in a binary (grpc-go has either writeStatus or WriteStatus).
const (
	Name       = "grpc_server"
	LegacyName = "grpc_server_legacy"
)

// Probed functions.
const (
	FuncHandleStream = "google.golang.org/grpc.(*Server).handleStream"
	// FuncWriteStatus is the HTTP/2 transport's (grpc >= v1.69): gRPC
	// served through net/http (ServeHTTP) writes its status elsewhere and
	// is left to the HTTP server span.
	FuncWriteStatus = "google.golang.org/grpc/internal/transport.(*http2Server).writeStatus"
	// FuncWriteStatusLegacy is its name before v1.69.
	FuncWriteStatusLegacy = "google.golang.org/grpc/internal/transport.(*http2Server).WriteStatus"
)

// BPF programs.
const (
	ProgEntry  = "uprobe_grpc_server_entry"
	ProgStatus = "uprobe_grpc_server_status"
	rpcsMap    = "grpc_server_rpcs"
)

// MetadataFields let the probe find the incoming metadata (a map), and
// SwissMapFields (Go >= 1.24) or BucketMapFields (Go 1.19-1.23) search it
// for traceparent: each group is known in the Go versions that have it.
var (
	MetadataFields  = []fields.ID{fields.GRPCStreamCtx, fields.ValueCtxVal}
	SwissMapFields  = []fields.ID{fields.SwissMapDirPtr, fields.SwissMapDirLen, fields.SwissTableGroups}
	BucketMapFields = []fields.ID{fields.HmapFlags, fields.HmapB, fields.HmapBuckets, fields.HmapOldbuckets, fields.MDBucketKeys, fields.MDBucketValues, fields.MDBucketOverflow}
)

// StatusFields read a *status.Status's code.
var StatusFields = []fields.ID{fields.GRPCStatusS, fields.GRPCStatusProtoCode}

// serverFields are required by both descriptions.
var serverFields = append([]fields.ID{fields.GRPCStreamMethod, fields.TCPAddrIP, fields.TCPAddrPort}, StatusFields...)

var optionalFields = [][]fields.ID{
	// Absent before v1.69 (handleStream got the *Stream itself).
	{fields.GRPCServerStreamStream},
	MetadataFields,
	SwissMapFields,
	BucketMapFields,
	httpserver.GoroutineFields,
}

// Probe describes the probe to the loader (grpc-go >= v1.69).
//
// Hits per RPC: 2 (handleStream entry, writeStatus entry), for unary and
// streaming RPCs alike.
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncHandleStream, Entry: ProgEntry},
		{Symbol: FuncWriteStatus, Entry: ProgStatus},
	},
	Fields:         append(append([]fields.ID{}, serverFields...), fields.GRPCHTTP2ServerPeer, fields.GRPCPeerAddr, fields.GRPCPeerLocalAddr),
	OptionalFields: optionalFields,
	Complete:       streamEmbedding,
	StartsSpans:    true,
	GoroutineMaps:  []string{rpcsMap},
	Kind:           bpfprog.GoebpfEventKindEVENT_GRPC_SERVER,
	Decode:         Decode,
}

// LegacyProbe is the same probe for grpc-go before v1.69, whose transport
// exports WriteStatus and keeps the connection's addresses in fields of its
// own before v1.60 (in a peer.Peer from v1.60: the group read when known).
var LegacyProbe = &probes.Probe{
	Name: LegacyName,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncHandleStream, Entry: ProgEntry},
		{Symbol: FuncWriteStatusLegacy, Entry: ProgStatus},
	},
	Fields: serverFields,
	OptionalFields: append([][]fields.ID{
		{fields.GRPCHTTP2ServerPeer, fields.GRPCPeerAddr, fields.GRPCPeerLocalAddr},
		{fields.GRPCHTTP2ServerRemoteAddr, fields.GRPCHTTP2ServerLocalAddr},
	}, optionalFields...),
	Complete:      streamEmbedding,
	StartsSpans:   true,
	GoroutineMaps: []string{rpcsMap},
	Kind:          0, // its events are Probe's (one decoder per kind)
}

const serverStream = "google.golang.org/grpc/internal/transport.ServerStream"

// streamEmbedding: grpc v1.69-v1.76 embed *Stream in ServerStream, v1.77 on
// embed Stream by value; the field's DWARF offset is the same (0) either
// way. The field that follows it says which: right after a pointer (8
// bytes on), or after the whole struct. For a pointer the offset is copied
// to the GRPCServerStreamStreamPtr entry, which the programs check first
// and dereference (the other description of the probe may resolve
// ServerStream.Stream again after this rule ran).
func streamEmbedding(exe *goexe.Executable, off *probes.Offsets) {
	t := &off.Fields
	if !t.Known(fields.GRPCServerStreamStream) {
		return
	}
	next, err := exe.FieldOffset(serverStream, "st")
	if err != nil {
		// Which it is cannot be told (DWARF without the field): the
		// programs would read the method from the wrong place.
		t[fields.GRPCStreamMethod] = fields.Unknown
		return
	}
	if next == t[fields.GRPCServerStreamStream]+8 {
		t[fields.GRPCServerStreamStreamPtr] = t[fields.GRPCServerStreamStream]
	}
}
