// Package sqlclient is the database/sql probe (bpf/probes/sql_client.c):
// one CLIENT span per query or exec and per transaction begin, commit and
// rollback, whatever the driver, a child of the span the calling goroutine
// works for. db.system.name comes from the dynamic type of the driver's
// connection; the operation and the table are parsed here from the
// statement's first bytes; db.query.text (opt-in) is the statement with
// its literals replaced by '?'.
package sqlclient

import (
	"fmt"
	"strings"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Name is the probe's name in selections and errors.
const Name = "sql_client"

// Probed functions. Every Query/Exec of a DB, Conn or Tx runs queryDC or
// execDC once it holds a connection (the pool's wait is before, outside
// the span). (*Tx).Rollback is a one-line wrapper the compiler inlines into
// callers; rollback is what every rollback runs.
const (
	FuncQueryDC  = "database/sql.(*DB).queryDC"
	FuncExecDC   = "database/sql.(*DB).execDC"
	FuncBeginDC  = "database/sql.(*DB).beginDC"
	FuncCommit   = "database/sql.(*Tx).Commit"
	FuncRollback = "database/sql.(*Tx).rollback"
	// Prepared statements (of a DB, a Conn or a Tx) go through neither
	// queryDC nor execDC: their span starts at the Stmt's method, before
	// it takes a connection (the wait for one is inside the span).
	FuncStmtExec  = "database/sql.(*Stmt).ExecContext"
	FuncStmtQuery = "database/sql.(*Stmt).QueryContext"
)

// BPF programs.
const (
	ProgQueryEntry     = "uprobe_sql_query_entry"
	ProgQueryReturn    = "uprobe_sql_query_return"
	ProgExecEntry      = "uprobe_sql_exec_entry"
	ProgExecReturn     = "uprobe_sql_exec_return"
	ProgBeginEntry     = "uprobe_sql_begin_entry"
	ProgBeginReturn    = "uprobe_sql_begin_return"
	ProgCommitEntry    = "uprobe_sql_commit_entry"
	ProgRollbackEntry  = "uprobe_sql_rollback_entry"
	ProgTxEndReturn    = "uprobe_sql_tx_end_return"
	ProgStmtExecEntry  = "uprobe_sql_stmt_exec_entry"
	ProgStmtQueryEntry = "uprobe_sql_stmt_query_entry"
	callsMap           = "sql_client_calls"
	poolsMap           = "sql_pools"
)

// Probe describes the probe to the loader.
//
// Hits per call: 2 (the function's entry and one RET), whatever the
// statement's length; a rollback of a transaction already done (no span)
// costs 2 as well, and database/sql makes one at the end of every
// transaction.
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncQueryDC, Entry: ProgQueryEntry, Return: ProgQueryReturn},
		{Symbol: FuncExecDC, Entry: ProgExecEntry, Return: ProgExecReturn},
		{Symbol: FuncBeginDC, Entry: ProgBeginEntry, Return: ProgBeginReturn, Optional: "tx"},
		{Symbol: FuncCommit, Entry: ProgCommitEntry, Return: ProgTxEndReturn, Optional: "tx"},
		{Symbol: FuncRollback, Entry: ProgRollbackEntry, Return: ProgTxEndReturn, Optional: "tx"},
		{Symbol: FuncStmtExec, Entry: ProgStmtExecEntry, Return: ProgExecReturn, Optional: "stmt"},
		{Symbol: FuncStmtQuery, Entry: ProgStmtQueryEntry, Return: ProgQueryReturn, Optional: "stmt"},
	},
	OptionalFields: [][]fields.ID{
		{fields.SQLDriverConnCi},
		{fields.SQLTxDc},
		{fields.SQLTxDone},
		{fields.SQLTxDb},
		{fields.SQLStmtDb, fields.SQLStmtQuery},
		{fields.PQErrorCode},
		{fields.PgxPgErrorCode},
		{fields.PgxPrepareErrorErr},
		{fields.MySQLErrorNumber},
		httpserver.GoroutineFields,
		{fields.RuntimeGParentGoid},
	},
	Complete:      complete,
	JoinsSpans:    true,
	GoroutineMaps: []string{callsMap, poolsMap},
	Constants:     constants,
	Kind:          bpfprog.GoebpfEventKindEVENT_SQL_CLIENT,
	Decode:        Decode,
}

// constants: sql_pools_enabled makes the entries note their *DB.
func constants(s probes.Settings) map[string]any {
	on := uint32(0)
	if s.SQLPools {
		on = 1
	}
	return map[string]any{"sql_pools_enabled": on}
}

// Drivers whose error codes are read, and their error types.
const (
	modulePQ       = "github.com/lib/pq"
	moduleMySQL    = "github.com/go-sql-driver/mysql"
	modulePgx      = "github.com/jackc/pgx/v5"
	typePQError    = "*github.com/lib/pq.Error"
	typeMySQLError = "*github.com/go-sql-driver/mysql.MySQLError"
)

// Layout of database/sql's structs, the same from Go 1.19 through 1.26:
// driverConn{db *DB; createdAt time.Time; sync.Mutex; ci driver.Conn; ...},
// Tx{db *DB; closemu sync.RWMutex; dc *driverConn; txi driver.Tx;
// releaseConn func(error); done int32 (atomic.Bool from 1.20); ...} and
// Stmt{db *DB; query string; ...}. TestStdlibLayoutRule checks them
// against DWARF.
const (
	driverConnCi = 40
	txDc         = 32
	txDone       = 64
	txDb         = 0
	stmtDb       = 0
	stmtQuery    = 8
	minGoMinor   = 19
	maxGoMinor   = 26
)

// complete fills what DWARF did not give: database/sql's offsets for a
// stripped binary of a Go version whose layout is known, the probed
// functions' entries (for the load bias) and the drivers' error types
// (from the symbol table).
func complete(exe *goexe.Executable, off *probes.Offsets) {
	t := &off.Fields
	if m := exe.GoMinor(); m >= minGoMinor && m <= maxGoMinor {
		for id, v := range stdlibRule() {
			if !t.Known(id) {
				t[id] = v
			}
		}
	}
	for id, fn := range map[fields.ID]string{
		fields.SQLQueryDCEntry:    FuncQueryDC,
		fields.SQLExecDCEntry:     FuncExecDC,
		fields.SQLBeginDCEntry:    FuncBeginDC,
		fields.SQLTxCommitEntry:   FuncCommit,
		fields.SQLTxRollbackEntry: FuncRollback,
		fields.SQLStmtExecEntry:   FuncStmtExec,
		fields.SQLStmtQueryEntry:  FuncStmtQuery,
	} {
		if f, err := exe.Func(fn); err == nil {
			t[id] = f.ProbeAddr() // the probe's ip minus this is the load bias
		}
	}
	// The drivers' error types, from DWARF (DW_AT_go_runtime_type), when
	// the binary uses the driver (module build info) and its error's code
	// field is known: the linker writes no symbol per type. Without them
	// the codes are read untyped and kept by the error's type name.
	errTypes := map[string]fields.ID{}
	if _, ok := exe.Modules[modulePQ]; ok && t.Known(fields.PQErrorCode) {
		errTypes[typePQError] = fields.PQErrorType
	}
	if _, ok := exe.Modules[moduleMySQL]; ok && t.Known(fields.MySQLErrorNumber) {
		errTypes[typeMySQLError] = fields.MySQLErrorType
	}
	if v, ok := exe.Modules[modulePgx]; ok {
		pgxRule(v, t)
	}
	driverErrorRule(exe.Modules, t)
	if len(errTypes) > 0 && exe.HasDWARF {
		names := make([]string, 0, len(errTypes))
		for n := range errTypes {
			names = append(names, n)
		}
		found, _ := exe.DWARFRuntimeTypes(names...)
		for n, addr := range found {
			t[errTypes[n]] = addr
		}
	}
}

// stdlibRule is database/sql's layout for Go 1.19 through 1.26.
func stdlibRule() map[fields.ID]uint64 {
	return map[fields.ID]uint64{
		fields.SQLDriverConnCi: driverConnCi, fields.SQLTxDc: txDc, fields.SQLTxDone: txDone,
		fields.SQLTxDb: txDb, fields.SQLStmtDb: stmtDb, fields.SQLStmtQuery: stmtQuery,
	}
}

// pgx v5's pgconn.PgError{Severity string; [SeverityUnlocalized string,
// v5.6.0 on;] Code string; ...} and PrepareError{err error; ...} (v5.8 on;
// for an older pgx the offset is never used: no error is named
// *pgconn.PrepareError). TestPgxRule checks them against DWARF for the
// oldest and newest v5 the module proxy serves.
const (
	pgErrorCodeBefore56 = 16
	pgErrorCodeFrom56   = 32
	prepareErrorErr     = 0
)

// releaseMinor is N of a release "vM.N.P" of major "vM." (or of a
// pre-release of one); ok false for another major or a pseudo-version
// (which release it follows is not known).
func releaseMinor(version, major string) (minor int, ok bool) {
	var patch int
	rest, ok := strings.CutPrefix(version, major)
	if !ok || strings.Contains(version, "-0.") {
		return 0, false
	}
	if _, err := fmt.Sscanf(rest, "%d.%d", &minor, &patch); err != nil {
		return 0, false
	}
	return minor, true
}

// pgxRule fills pgx's error offsets DWARF did not give, by pgx's version
// (a release "v5.N.P", or a pre-release of one; a pseudo-version is left
// out: which side of v5.6.0 it is on is not known).
func pgxRule(version string, t *fields.Table) {
	minor, ok := releaseMinor(version, "v5.")
	if !ok {
		return
	}
	if !t.Known(fields.PgxPgErrorCode) {
		t[fields.PgxPgErrorCode] = pgErrorCodeBefore56
		if minor >= 6 {
			t[fields.PgxPgErrorCode] = pgErrorCodeFrom56
		}
	}
	if !t.Known(fields.PgxPrepareErrorErr) {
		t[fields.PgxPrepareErrorErr] = prepareErrorErr
	}
}

// lib/pq's Error{Severity string; Code ErrorCode; ...} and go-sql-driver's
// MySQLError{Number uint16; ...}: the same in every release the module
// proxy serves (lib/pq v1.0.0-v1.12.3, go-sql-driver/mysql v1.3.0-v1.10.2).
// TestDriverErrorRule checks them against DWARF.
const (
	pqErrorCode      = 16
	pqNewestMinor    = 12
	mysqlErrorNumber = 0
	mysqlOldestMinor = 3
	mysqlNewestMinor = 10
	driverMajorV1    = "v1."
)

// driverErrorRule fills lib/pq's and go-sql-driver's error code offsets
// DWARF did not give, for a release (or pre-release) of a minor whose
// layout is known; a later minor or a pseudo-version is left out (its
// errors keep their Go type as error.type, without a code).
func driverErrorRule(modules map[string]string, t *fields.Table) {
	if m, ok := releaseMinor(modules[modulePQ], driverMajorV1); ok && m <= pqNewestMinor && !t.Known(fields.PQErrorCode) {
		t[fields.PQErrorCode] = pqErrorCode
	}
	if m, ok := releaseMinor(modules[moduleMySQL], driverMajorV1); ok && m >= mysqlOldestMinor && m <= mysqlNewestMinor && !t.Known(fields.MySQLErrorNumber) {
		t[fields.MySQLErrorNumber] = mysqlErrorNumber
	}
}
