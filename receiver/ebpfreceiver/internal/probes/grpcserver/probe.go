// Package grpcserver is the grpc-go server probe (bpf/probes/grpc_server.c):
// one SERVER span per RPC, unary or streaming, from the entry of
// grpc.(*Server).handleStream to the entry of the transport's writeStatus.
package grpcserver

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Name is the probe's name in selections and errors.
const Name = "grpc_server"

// Probed functions.
const (
	FuncHandleStream = "google.golang.org/grpc.(*Server).handleStream"
	// FuncWriteStatus is the HTTP/2 transport's: gRPC served through
	// net/http (ServeHTTP) writes its status elsewhere and gets no span
	// from this probe.
	FuncWriteStatus = "google.golang.org/grpc/internal/transport.(*http2Server).writeStatus"
)

// BPF programs.
const (
	ProgEntry  = "uprobe_grpc_server_entry"
	ProgStatus = "uprobe_grpc_server_status"
	rpcsMap    = "grpc_server_rpcs"
)

// MetadataFields let the probe find traceparent in the incoming metadata
// (a swiss map, Go >= 1.24).
var MetadataFields = []fields.ID{fields.GRPCStreamCtx, fields.ValueCtxVal, fields.SwissMapDirPtr, fields.SwissMapDirLen, fields.SwissTableGroups}

// StatusFields read a *status.Status's code.
var StatusFields = []fields.ID{fields.GRPCStatusS, fields.GRPCStatusProtoCode}

// Probe describes the probe to the loader.
//
// Hits per RPC: 2 (handleStream entry, writeStatus entry), for unary and
// streaming RPCs alike.
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncHandleStream, Entry: ProgEntry},
		{Symbol: FuncWriteStatus, Entry: ProgStatus},
	},
	Fields: append([]fields.ID{fields.GRPCServerStreamStream, fields.GRPCStreamMethod,
		fields.GRPCHTTP2ServerPeer, fields.GRPCPeerAddr, fields.GRPCPeerLocalAddr, fields.TCPAddrIP, fields.TCPAddrPort},
		StatusFields...),
	OptionalFields: [][]fields.ID{
		MetadataFields,
		httpserver.GoroutineFields,
	},
	StartsSpans:   true,
	GoroutineMaps: []string{rpcsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_GRPC_SERVER,
	Decode:        Decode,
}
