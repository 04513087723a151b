// Package grpcclient is the grpc-go client probe (bpf/probes/grpc_client.c):
// one CLIENT span per unary RPC, from the entry of grpc.(*ClientConn).Invoke
// to its return, with the status code of the error it returns; and
// (StreamProbe) one per streaming RPC, from the entry of
// grpc.(*ClientConn).NewStream to the stream's end ((*clientStream).finish,
// not the finish of an attempt grpc gives up before a retry), with the
// status it ended with.
package grpcclient

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Names of the probes in selections and errors.
const (
	Name       = "grpc_client"
	StreamName = "grpc_client_streaming"
)

// Probed functions.
const (
	FuncInvoke    = "google.golang.org/grpc.(*ClientConn).Invoke"
	FuncNewStream = "google.golang.org/grpc.(*ClientConn).NewStream"
	FuncFinish    = "google.golang.org/grpc.(*clientStream).finish"
)

// BPF programs.
const (
	ProgEntry  = "uprobe_grpc_client_entry"
	ProgReturn = "uprobe_grpc_client_return"
	// Streaming RPCs.
	ProgStreamEntry  = "uprobe_grpc_client_stream_entry"
	ProgStreamReturn = "uprobe_grpc_client_stream_return"
	ProgStreamFinish = "uprobe_grpc_client_stream_finish"
	rpcsMap          = "grpc_client_rpcs"
)

// Probe describes the probe to the loader.
//
// Hits per unary RPC: 2 (Invoke entry and one RET).
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncInvoke, Entry: ProgEntry, Return: ProgReturn},
	},
	Fields:         []fields.ID{fields.GRPCClientConnTarget, fields.GRPCStatusProtoCode},
	OptionalFields: optionalFields,
	JoinsSpans:     true,
	GoroutineMaps:  []string{rpcsMap},
	Kind:           bpfprog.GoebpfEventKindEVENT_GRPC_CLIENT,
	Decode:         Decode,
}

var optionalFields = [][]fields.ID{
	// status.Error{s *Status} (v1.40 on), or {e *spb.Status} before.
	{fields.GRPCStatusErrorS, fields.GRPCStatusS},
	{fields.GRPCStatusErrorE},
	httpserver.GoroutineFields,
	{fields.RuntimeGParentGoid},
}

// StreamProbe describes the streaming part to the loader. Its events are
// Probe's (one decoder per kind).
//
// Hits per streaming RPC: 4 (NewStream entry and one RET, the stream's
// finish twice: at its end and from grpc's context watcher once the end
// cancelled the stream's context, which finds nothing); a unary RPC also
// passes the finish: 1 hit that finds nothing.
// The receiver leaves this probe out with traces.grpc.client_streams off.
var StreamProbe = &probes.Probe{
	Name: StreamName,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncNewStream, Entry: ProgStreamEntry, Return: ProgStreamReturn},
		{Symbol: FuncFinish, Entry: ProgStreamFinish},
	},
	Fields: []fields.ID{fields.GRPCClientConnTarget, fields.GRPCStatusProtoCode},
	// v1.84 on: the stream NewStream returns wraps the *clientStream.
	OptionalFields: append([][]fields.ID{{fields.GRPCClientStreamWrapperClientStream}}, optionalFields...),
	JoinsSpans:     true,
	GoroutineMaps:  []string{rpcsMap},
}
