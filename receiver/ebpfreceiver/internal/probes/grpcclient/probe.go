// Package grpcclient is the grpc-go client probe (bpf/probes/grpc_client.c):
// one CLIENT span per unary RPC, from the entry of grpc.(*ClientConn).Invoke
// to its return, with the status code of the error it returns.
package grpcclient

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Name is the probe's name in selections and errors.
const Name = "grpc_client"

// FuncInvoke is the probed function.
const FuncInvoke = "google.golang.org/grpc.(*ClientConn).Invoke"

// BPF programs.
const (
	ProgEntry  = "uprobe_grpc_client_entry"
	ProgReturn = "uprobe_grpc_client_return"
	rpcsMap    = "grpc_client_rpcs"
)

// Probe describes the probe to the loader.
//
// Hits per unary RPC: 2 (Invoke entry and one RET).
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncInvoke, Entry: ProgEntry, Return: ProgReturn},
	},
	Fields: []fields.ID{fields.GRPCClientConnTarget, fields.GRPCStatusProtoCode},
	OptionalFields: [][]fields.ID{
		// status.Error{s *Status} (v1.40 on), or {e *spb.Status} before.
		{fields.GRPCStatusErrorS, fields.GRPCStatusS},
		{fields.GRPCStatusErrorE},
		httpserver.GoroutineFields,
		{fields.RuntimeGParentGoid},
	},
	JoinsSpans:    true,
	GoroutineMaps: []string{rpcsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_GRPC_CLIENT,
	Decode:        Decode,
}
