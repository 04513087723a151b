package redisclient

import (
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Database attributes of the semantic conventions.
const (
	AttrDBSystemName       = "db.system.name"
	AttrDBNamespace        = "db.namespace"
	AttrDBOperationName    = "db.operation.name"
	AttrDBBatchSize        = "db.operation.batch.size"
	AttrDBResponseStatus   = "db.response.status_code"
	SystemRedis            = "redis"
	OperationPipeline      = "PIPELINE"
	OperationMulti         = "MULTI"
	errorTypeOther         = "_OTHER"
	nilReply               = "redis: nil"
	maxStatusCodeLen       = 24
	maxOperationNameLength = 32
)

// AppendClient adds the CLIENT span for ev to ss: named after the operation
// (GET, PIPELINE, MULTI; "redis" when the command's name is unreadable),
// Error for an error reply or an I/O error but not for redis.Nil (a key
// that does not exist), with the reply's prefix as db.response.status_code.
// Nothing else of an error's text is kept: replies can quote the command's
// arguments.
func AppendClient(ss ptrace.ScopeSpans, ev *Event, env probes.SpanEnv) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	probes.SetIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindClient)
	s.SetStartTimestamp(env.Clock.Time(ev.StartNs))
	s.SetEndTimestamp(env.Clock.Time(ev.EndNs))
	attrs := s.Attributes()
	attrs.PutStr(AttrDBSystemName, SystemRedis)
	op := Operation(ev)
	if op != "" {
		s.SetName(op)
		attrs.PutStr(AttrDBOperationName, op)
	} else {
		s.SetName(SystemRedis)
	}
	// Batches of one are not batches (semantic conventions).
	if ev.Kind != OpCommand && ev.BatchSize >= 2 {
		attrs.PutInt(AttrDBBatchSize, int64(ev.BatchSize))
	}
	if ev.HasDB && ev.DB >= 0 {
		// The database index, as a string (semantic conventions).
		attrs.PutStr(AttrDBNamespace, strconv.FormatInt(ev.DB, 10))
	}
	if host, port, ok := serverAddress(ev.Addr); ok {
		attrs.PutStr(httpspan.AttrServerAddress, host)
		if port != 0 {
			attrs.PutInt(httpspan.AttrServerPort, int64(port))
		}
	}
	if failed, code := Failed(ev); failed {
		s.Status().SetCode(ptrace.StatusCodeError)
		if code != "" {
			attrs.PutStr(AttrDBResponseStatus, code)
			attrs.PutStr(httpspan.AttrErrorType, code)
		} else {
			attrs.PutStr(httpspan.AttrErrorType, errorTypeOther)
		}
	}
	return s
}

// Operation is db.operation.name: the command's name in upper case,
// PIPELINE or MULTI; "" when the name is unreadable or not a plain word.
func Operation(ev *Event) string {
	switch ev.Kind {
	case OpPipeline:
		return OperationPipeline
	case OpMulti:
		return OperationMulti
	}
	name := ev.Command
	if name == "" || len(name) > maxOperationNameLength {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '|') {
			return ""
		}
	}
	return strings.ToUpper(name)
}

// Failed says whether the call failed and, for an error reply, its prefix
// ("ERR", "WRONGTYPE"). redis.Nil (go-redis's "redis: nil" RedisError: the
// key does not exist) is not a failure.
func Failed(ev *Event) (bool, string) {
	switch ev.ErrKind {
	case ErrNone:
		return false, ""
	case ErrString:
		if ev.ErrText == nilReply {
			return false, ""
		}
	}
	return true, replyPrefix(ev.ErrText)
}

// replyPrefix is the first word of an error reply when it is one: upper-case
// letters (and digits, '_' or '-' after the first), then a space or the end.
// go-redis's own errors ("redis: ...") and I/O errors have none.
func replyPrefix(text string) string {
	word, _, _ := strings.Cut(text, " ")
	if word == "" || len(word) > maxStatusCodeLen || len(word) == len(text) && len(text) == errTextCap {
		return ""
	}
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-') {
			continue
		}
		return ""
	}
	return word
}

// errTextCap is how much of an error's text the probe reads
// (REDIS_ERR_LEN): a word that fills it may go on.
const errTextCap = 32

// serverAddress splits Options.Addr: host and port, or a unix socket path.
func serverAddress(addr string) (string, uint16, bool) {
	if addr == "" {
		return "", 0, false
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0, true
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return host, 0, true
	}
	if host == "" {
		// ":6379" is go-redis's way of saying localhost.
		host = "localhost"
	}
	return host, uint16(n), true
}
