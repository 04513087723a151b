package sqlclient

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
)

// Op is what database/sql was asked to do (enum sql_op of sql_client.c, a
// u8 in the event).
type Op uint8

// Ops: bpf2go's constants of enum sql_op.
const (
	OpQuery    = Op(bpfprog.GoebpfSqlOpSQL_OP_QUERY)
	OpExec     = Op(bpfprog.GoebpfSqlOpSQL_OP_EXEC)
	OpBegin    = Op(bpfprog.GoebpfSqlOpSQL_OP_BEGIN)
	OpCommit   = Op(bpfprog.GoebpfSqlOpSQL_OP_COMMIT)
	OpRollback = Op(bpfprog.GoebpfSqlOpSQL_OP_ROLLBACK)
)

// Code kinds: bpf2go's constants of enum sql_code_kind, as the event's u8
// code_kind holds them.
const (
	codeNone     = uint8(bpfprog.GoebpfSqlCodeKindSQL_CODE_NONE)
	codeSQLState = uint8(bpfprog.GoebpfSqlCodeKindSQL_CODE_SQLSTATE)
	codeNumber   = uint8(bpfprog.GoebpfSqlCodeKindSQL_CODE_NUMBER)
	codeUntyped  = uint8(bpfprog.GoebpfSqlCodeKindSQL_CODE_UNTYPED)
)

// What a codeUntyped event read: bpf2go's constants of enum sql_untyped
// (bits), as the event's u8 untyped holds them.
const (
	untypedPgx   = uint8(bpfprog.GoebpfSqlUntypedSQL_UNTYPED_PGX)
	untypedPQ    = uint8(bpfprog.GoebpfSqlUntypedSQL_UNTYPED_PQ)
	untypedMySQL = uint8(bpfprog.GoebpfSqlUntypedSQL_UNTYPED_MYSQL)
)

// Event is one database/sql call.
type Event struct {
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME
	EndNs   uint64
	IDs     probes.SpanIDs
	Op      Op
	// DriverType and ErrorType are unrelocated addresses of type
	// descriptors in the process's executable (0: unknown, no error):
	// the connection's driver.Conn and the returned error.
	DriverType, ErrorType uint64
	// DB is the *sql.DB the call used (0: unknown), whose connector
	// names the server.
	DB uint64
	// HasError: the call returned a non-nil error.
	HasError bool
	// Query is the statement's first bytes (queryCapacity at most);
	// QueryLen its full length.
	Query    string
	QueryLen uint32
	// StatusCode is the database's code for the error: lib/pq's SQLSTATE
	// or MySQL's error number in decimal; "" when not read.
	StatusCode string
	// Pgx holds pgx's codes, read where they would be before the error's
	// type was known: SpanOf keeps one when the type is *pgconn.PgError.
	Pgx *PgxCodes
	// PQCode and MySQLNumber (nil: not read) are what the error holds
	// where lib/pq's *Error keeps its SQLSTATE and go-sql-driver's
	// *MySQLError its number, read when the drivers' error types were not
	// known (no DWARF): SpanOf keeps one when the error's type is the
	// driver's.
	PQCode      *string
	MySQLNumber *uint16
}

// PgxCodes are the codes read where pgx v5 keeps its SQLSTATE: Code in
// the error itself, InnerCode in the error it wraps (a PrepareError's)
// whose type is InnerType.
type PgxCodes struct {
	Code, InnerCode string
	InnerType       uint64
}

// queryCapacity is SQL_QUERY_LEN: how much of a statement BPF copies.
const queryCapacity = len(bpfprog.GoebpfSqlClientEvent{}.Query)

// Decode turns one ring buffer record of kind EVENT_SQL_CLIENT into an
// *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfSqlClientEvent
	if err := probes.DecodeRecord(raw, &e, "sql client event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	ev := &Event{
		PID:        h.PID,
		StartNs:    h.StartNs,
		EndNs:      h.EndNs,
		IDs:        h.IDs,
		Op:         Op(e.Op),
		DriverType: e.DriverType,
		ErrorType:  e.ErrorType,
		DB:         e.Db,
		HasError:   e.HasError != 0,
		Query:      probes.CString(e.Query[:], e.QueryLen),
		QueryLen:   e.QueryFullLen,
	}
	switch e.CodeKind {
	case codeSQLState:
		ev.StatusCode = probes.CString(e.Code[:], e.CodeLen)
	case codeNumber:
		ev.StatusCode = strconv.FormatUint(uint64(e.ErrorNumber), 10)
	case codeUntyped:
		if e.Untyped&untypedPgx != 0 {
			ev.Pgx = &PgxCodes{
				Code:      probes.CString(e.Code[:], e.CodeLen),
				InnerCode: probes.CString(e.InnerCode[:], e.InnerCodeLen),
				InnerType: e.InnerErrorType,
			}
		}
		if e.Untyped&untypedPQ != 0 {
			c := probes.CString(e.PqCode[:], e.PqCodeLen)
			ev.PQCode = &c
		}
		if e.Untyped&untypedMySQL != 0 {
			n := e.ErrorNumber
			ev.MySQLNumber = &n
		}
	}
	return ev, nil
}

// Process is the pid of the calling process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	var srv sqlconnector.Server
	if env.SQLServer != nil && e.DB != 0 {
		srv = env.SQLServer(e.PID, e.DB)
	}
	sp := SpanOf(e, env.TypeName, srv)
	AppendClient(ss, e, sp, env)
}
