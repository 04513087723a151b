package sqlclient

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Attribute names (semantic conventions, database spans).
const (
	AttrSystemName     = "db.system.name"
	AttrOperationName  = "db.operation.name"
	AttrCollectionName = "db.collection.name"
	AttrQueryText      = "db.query.text"
	AttrStatusCode     = "db.response.status_code"
)

// Span is what the span of an event says, names resolved.
type Span struct {
	System string
	Statement
	// ErrorType is the error's dynamic type ("*pq.Error"), "" unknown.
	ErrorType string
}

// SpanOf resolves an event's type addresses with typeName (nil: no
// names) and parses its statement.
func SpanOf(e *Event, typeName func(pid uint32, addr uint64) string) Span {
	var sp Span
	if typeName != nil {
		if e.DriverType != 0 {
			sp.System = SystemOf(typeName(e.PID, e.DriverType))
		}
		if e.HasError && e.ErrorType != 0 {
			sp.ErrorType = typeName(e.PID, e.ErrorType)
		}
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
	if env.SQLQueryText && (ev.Op == OpQuery || ev.Op == OpExec) && ev.Query != "" {
		a.PutStr(AttrQueryText, Sanitize(ev.Query, sp.System))
	}
	if ev.HasError {
		s.Status().SetCode(ptrace.StatusCodeError)
		if ev.StatusCode != "" {
			a.PutStr(AttrStatusCode, ev.StatusCode)
		}
		// error.type: the database's code when there is one (as the
		// conventions ask), else the error's Go type.
		switch {
		case ev.StatusCode != "":
			a.PutStr(httpspan.AttrErrorType, ev.StatusCode)
		case sp.ErrorType != "":
			a.PutStr(httpspan.AttrErrorType, sp.ErrorType)
		default:
			a.PutStr(httpspan.AttrErrorType, "_OTHER")
		}
	}
	return s
}
