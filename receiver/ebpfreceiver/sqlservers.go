package ebpfreceiver

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/dbpools"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sqlclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
)

// database/sql's DB.connector is its second word from Go 1.19 through
// 1.26 (sqlconnector's rule); other versions need DWARF to agree.
const (
	sqlRuleMinGo = 19
	sqlRuleMaxGo = 26
)

// sqlConnectorReadable: the binary's sql.DB keeps its connector where
// sqlconnector reads it.
func sqlConnectorReadable(exe *goexe.Executable) bool {
	if off, err := exe.DWARFFieldOffset("database/sql.DB", "connector"); err == nil {
		return off == sqlconnector.DBConnectorOffset
	}
	m := exe.GoMinor()
	return m >= sqlRuleMinGo && m <= sqlRuleMaxGo
}

// openSQLProcess gives sqlconnector what it reads a process's pools with.
func (r *ebpfReceiver) openSQLProcess(pid uint32) (sqlconnector.Process, func(), bool) {
	r.resMu.Lock()
	exe := r.exes[pid]
	r.resMu.Unlock()
	if exe == nil || !sqlConnectorReadable(exe) {
		return sqlconnector.Process{}, nil, false
	}
	bias, err := runtimemetrics.LoadBias(int(pid), exe)
	if err != nil {
		return sqlconnector.Process{}, nil, false
	}
	mem, err := dbpools.OpenMemory(int(pid))
	if err != nil {
		return sqlconnector.Process{}, nil, false
	}
	return sqlconnector.Process{
		Mem:      mem,
		Bias:     bias,
		TypeName: func(addr uint64) string { return r.panicTypeName(pid, addr) },
		SystemOf: sqlclient.SystemOf,
	}, func() { _ = mem.Close() }, true
}
