package sqlclient

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
)

// Attribute names (semantic conventions, database spans).
const (
	AttrSystemName     = "db.system.name"
	AttrOperationName  = "db.operation.name"
	AttrCollectionName = "db.collection.name"
	AttrQueryText      = "db.query.text"
	AttrStatusCode     = "db.response.status_code"
	AttrNamespace      = "db.namespace"
)

// Span is what the span of an event says, names resolved.
type Span struct {
	System string
	Statement
	// ErrorType is the error's dynamic type ("*pq.Error"), "" unknown.
	ErrorType string
	// Server is what the pool's connector says (sqlconnector).
	Server sqlconnector.Server
	// StatusCode is a code found once types were named (pgx's, or lib/pq's
	// and go-sql-driver's in a binary without DWARF).
	StatusCode string
}

// The drivers' error types, as the runtime names them: pgx v5's, lib/pq's
// and go-sql-driver/mysql's.
const (
	typeNamePgError      = "*pgconn.PgError"
	typeNamePrepareError = "*pgconn.PrepareError"
	typeNamePQError      = "*pq.Error"
	typeNameMySQLError   = "*mysql.MySQLError"
)

// untypedCode is the code of an error whose codes were read before its
// type was known: lib/pq's SQLSTATE when the error is a *pq.Error,
// go-sql-driver's number when it is a *mysql.MySQLError, pgx's
// (pgxCode); "" otherwise, or when what was read is no such code.
func untypedCode(e *Event, errType string, typeName func(uint32, uint64) string) string {
	switch {
	case errType == typeNamePQError && e.PQCode != nil:
		if isSQLState(*e.PQCode) {
			return *e.PQCode
		}
		return ""
	case errType == typeNameMySQLError && e.MySQLNumber != nil:
		if *e.MySQLNumber == 0 {
			return ""
		}
		return strconv.FormatUint(uint64(*e.MySQLNumber), 10)
	case e.Pgx != nil:
		return pgxCode(e.PID, errType, e.Pgx, typeName)
	}
	return ""
}

// pgxCode is the SQLSTATE of a pgx error: the code read in the error when
// it is a *pgconn.PgError, the one read in the wrapped error when it is a
// *pgconn.PrepareError wrapping a *pgconn.PgError; "" otherwise, or when
// what was read is no SQLSTATE.
func pgxCode(pid uint32, errType string, c *PgxCodes, typeName func(uint32, uint64) string) string {
	code := ""
	switch errType {
	case typeNamePgError:
		code = c.Code
	case typeNamePrepareError:
		if c.InnerType != 0 && typeName(pid, c.InnerType) == typeNamePgError {
			code = c.InnerCode
		}
	}
	if !isSQLState(code) {
		return ""
	}
	return code
}

// isSQLState: five digits or upper-case letters.
func isSQLState(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'A' && s[i] <= 'Z') {
			return false
		}
	}
	return true
}

// SpanOf resolves an event's type addresses with typeName (nil: no
// names) and parses its statement; srv is what the pool's connector says
// (server.address, server.port, db.namespace), and gives db.system.name
// when the connection's type does not (a prepared statement's call holds
// no connection at its entry).
func SpanOf(e *Event, typeName func(pid uint32, addr uint64) string, srv sqlconnector.Server) Span {
	sp := Span{Server: srv}
	if typeName != nil {
		if e.DriverType != 0 {
			sp.System = SystemOf(typeName(e.PID, e.DriverType))
		}
		if e.HasError && e.ErrorType != 0 {
			sp.ErrorType = typeName(e.PID, e.ErrorType)
		}
		if e.HasError {
			sp.StatusCode = untypedCode(e, sp.ErrorType, typeName)
		}
	}
	if (sp.System == "" || sp.System == SystemOther) && srv.System != "" {
		sp.System = srv.System
	}
	if sp.System == "" {
		sp.System = SystemOther
	}
	switch e.Op {
	case OpQuery, OpExec:
		sp.Statement = ParseStatement(e.Query, sp.System)
	case OpBegin:
		sp.Operation = "BEGIN"
	case OpCommit:
		sp.Operation = "COMMIT"
	case OpRollback:
		sp.Operation = "ROLLBACK"
	}
	return sp
}

// Name is the span name: "{db.operation.name} {db.collection.name}", the
// operation alone when no table is named, else db.system.name.
func (sp Span) Name() string {
	switch {
	case sp.Operation != "" && sp.Collection != "":
		return sp.Operation + " " + sp.Collection
	case sp.Operation != "":
		return sp.Operation
	}
	return sp.System
}

// AppendClient adds the CLIENT span of ev to ss. db.query.text is set
// only when env.SQLQueryText is on, and always sanitized.
func AppendClient(ss ptrace.ScopeSpans, ev *Event, sp Span, env probes.SpanEnv) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	probes.SetIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindClient)
	s.SetName(sp.Name())
	s.SetStartTimestamp(env.Clock.Time(ev.StartNs))
	s.SetEndTimestamp(env.Clock.Time(ev.EndNs))
	a := s.Attributes()
	a.PutStr(AttrSystemName, sp.System)
	if sp.Operation != "" {
		a.PutStr(AttrOperationName, sp.Operation)
	}
	if sp.Collection != "" {
		a.PutStr(AttrCollectionName, sp.Collection)
	}
	if sp.Server.Namespace != "" {
		a.PutStr(AttrNamespace, sp.Server.Namespace)
	}
	if sp.Server.Address != "" {
		a.PutStr(httpspan.AttrServerAddress, sp.Server.Address)
		if sp.Server.Port != 0 {
			a.PutInt(httpspan.AttrServerPort, int64(sp.Server.Port))
		}
	}
	if env.SQLQueryText && (ev.Op == OpQuery || ev.Op == OpExec) && ev.Query != "" {
		a.PutStr(AttrQueryText, Sanitize(ev.Query, sp.System))
	}
	if ev.HasError {
		s.Status().SetCode(ptrace.StatusCodeError)
		code := ev.StatusCode
		if code == "" {
			code = sp.StatusCode
		}
		if code != "" {
			a.PutStr(AttrStatusCode, code)
		}
		// error.type: the database's code when there is one (as the
		// conventions ask), else the error's Go type.
		switch {
		case code != "":
			a.PutStr(httpspan.AttrErrorType, code)
		case sp.ErrorType != "":
			a.PutStr(httpspan.AttrErrorType, sp.ErrorType)
		default:
			a.PutStr(httpspan.AttrErrorType, "_OTHER")
		}
	}
	return s
}
