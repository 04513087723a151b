// Package redisclient is the go-redis client probe
// (bpf/probes/redis_client.c), for github.com/redis/go-redis/v9 and
// github.com/go-redis/redis/v8: one CLIENT span per command, pipeline or
// MULTI/EXEC transaction a Client sends, from the entry of
// (*baseClient).process, processPipeline or processTxPipeline to its
// return, with the command's name, the client's address and the reply's
// error prefix.
package redisclient

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Names of the probe's two descriptions in selections and errors: one per
// module path (the programs are the same).
const (
	Name   = "redis_client"
	V8Name = "redis_client_v8"
)

// Module paths.
const (
	ModuleV9 = "github.com/redis/go-redis/v9"
	ModuleV8 = "github.com/go-redis/redis/v8"
)

// BPF programs.
const (
	ProgCommandEntry    = "uprobe_redis_command_entry"
	ProgCommandFmEntry  = "uprobe_redis_command_fm_entry"
	ProgPipelineEntry   = "uprobe_redis_pipeline_entry"
	ProgPipelineFmEntry = "uprobe_redis_pipeline_fm_entry"
	ProgMultiEntry      = "uprobe_redis_multi_entry"
	ProgMultiFmEntry    = "uprobe_redis_multi_fm_entry"
	ProgReturn          = "uprobe_redis_return"
	callsMap            = "redis_client_calls"
	poolsMap            = "redis_pools"
)

// FuncProcess is the function every command of a module's Client goes
// through (the one the probe looks for to tell a go-redis program).
func FuncProcess(module string) string { return module + ".(*baseClient).process" }

// uprobes probes, in module's baseClient, each of process,
// processPipeline and processTxPipeline where the binary has it, and its
// method value's wrapper ("-fm", what the hook chain calls) where the
// compiler inlined the method into the wrapper: v8.11.5 built by Go 1.26
// has no processPipeline of its own, v9.23.0 no process. Each uprobe is
// optional; the probe needs one of them.
func uprobes(module string) []probes.Uprobe {
	var list []probes.Uprobe
	for _, m := range []struct{ method, entry, fmEntry string }{
		{"process", ProgCommandEntry, ProgCommandFmEntry},
		{"processPipeline", ProgPipelineEntry, ProgPipelineFmEntry},
		{"processTxPipeline", ProgMultiEntry, ProgMultiFmEntry},
	} {
		method := module + ".(*baseClient)." + m.method
		list = append(list,
			probes.Uprobe{Symbol: method, Entry: m.entry, Return: ProgReturn, Optional: m.method},
			probes.Uprobe{Symbol: method + "-fm", Entry: m.fmEntry, Return: ProgReturn, Optional: m.method + "-fm", WrapperOf: method},
		)
	}
	return list
}

var optionalFields = [][]fields.ID{
	httpserver.GoroutineFields,
	{fields.RuntimeGParentGoid},
}

// Probe describes the probe for github.com/redis/go-redis/v9.
//
// Hits per command, pipeline or transaction: 2 (entry and one RET),
// whatever the pipeline's size.
var Probe = &probes.Probe{
	Name:    Name,
	Uprobes: uprobes(ModuleV9),
	Fields:  []fields.ID{fields.RedisV9BaseCmdArgs},
	OptionalFields: append([][]fields.ID{
		{fields.RedisV9BaseClientOpt, fields.RedisV9OptionsAddr},
		{fields.RedisV9OptionsDB},
	}, optionalFields...),
	JoinsSpans:    true,
	GoroutineMaps: []string{callsMap, poolsMap},
	Constants:     constants,
	Kind:          bpfprog.GoebpfEventKindEVENT_REDIS_CLIENT,
	Decode:        Decode,
}

// V8Probe describes the same programs for github.com/go-redis/redis/v8
// (they read v8's offsets where v9's are unknown).
var V8Probe = &probes.Probe{
	Name:    V8Name,
	Uprobes: uprobes(ModuleV8),
	Fields:  []fields.ID{fields.RedisV8BaseCmdArgs},
	OptionalFields: append([][]fields.ID{
		{fields.RedisV8BaseClientOpt, fields.RedisV8OptionsAddr},
		{fields.RedisV8OptionsDB},
	}, optionalFields...),
	JoinsSpans:    true,
	GoroutineMaps: []string{callsMap, poolsMap},
	Constants:     constants,
	Kind:          0, // its events are Probe's (one decoder per kind)
}

// constants: redis_pools_enabled makes the entries note their *baseClient
// for the pool metrics (metrics.db_pools, like database/sql's pools).
func constants(s probes.Settings) map[string]any {
	on := uint32(0)
	if s.SQLPools {
		on = 1
	}
	return map[string]any{"redis_pools_enabled": on}
}
