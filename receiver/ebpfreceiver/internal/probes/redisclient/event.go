package redisclient

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// OpKind is what a span covers (enum redis_op_kind, a u8 in the event).
type OpKind uint8

// Op kinds: bpf2go's constants of enum redis_op_kind.
const (
	OpCommand  = OpKind(bpfprog.GoebpfRedisOpKindREDIS_OP_COMMAND)
	OpPipeline = OpKind(bpfprog.GoebpfRedisOpKindREDIS_OP_PIPELINE)
	OpMulti    = OpKind(bpfprog.GoebpfRedisOpKindREDIS_OP_MULTI)
)

// ErrKind is the dynamic type of the error a call returned (enum
// redis_err_kind).
type ErrKind uint8

// Error kinds: bpf2go's constants of enum redis_err_kind.
const (
	ErrNone = ErrKind(bpfprog.GoebpfRedisErrKindREDIS_ERR_NONE)
	// ErrString: a string type, go-redis's proto.RedisError (an error
	// reply, or redis.Nil); Event.ErrText is the start of its text.
	ErrString = ErrKind(bpfprog.GoebpfRedisErrKindREDIS_ERR_STRING)
	// ErrOther: any other type; Event.ErrText is the start of the string
	// its value begins with, if any (v9's typed replies, *proto.LoadingError
	// and the like, begin with their message).
	ErrOther = ErrKind(bpfprog.GoebpfRedisErrKindREDIS_ERR_OTHER)
)

// Event is one command, pipeline or transaction a go-redis client sent.
type Event struct {
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME
	EndNs   uint64
	IDs     probes.SpanIDs
	Kind    OpKind
	// Command is the command's name as the client holds it ("get"), for
	// OpCommand; "" when unreadable.
	Command string
	// BatchSize is the number of commands of a pipeline or transaction
	// (MULTI and EXEC not counted).
	BatchSize uint32
	ErrKind   ErrKind
	// ErrText is at most the first 32 bytes of the error's text; only a
	// reply's prefix (ERR, WRONGTYPE) or redis.Nil is taken from it.
	ErrText string
	// Addr is the client's Options.Addr ("127.0.0.1:6379"); "" when
	// unknown.
	Addr string
	// DB is the client's Options.DB (the database index it SELECTs), when
	// HasDB.
	DB    int64
	HasDB bool
}

// Decode turns one ring buffer record of kind EVENT_REDIS_CLIENT into an
// *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfRedisClientEvent
	if err := probes.DecodeRecord(raw, &e, "redis client event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	return &Event{
		PID:       h.PID,
		StartNs:   h.StartNs,
		EndNs:     h.EndNs,
		IDs:       h.IDs,
		Kind:      OpKind(e.OpKind),
		Command:   probes.CString(e.Op[:], e.OpLen),
		BatchSize: e.BatchSize,
		ErrKind:   ErrKind(e.ErrKind),
		ErrText:   probes.CString(e.Err[:], e.ErrLen),
		Addr:      probes.CString(e.Addr[:], e.AddrLen),
		DB:        e.Db,
		HasDB:     e.HasDb != 0,
	}, nil
}

// Process is the pid of the calling process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	AppendClient(ss, e, env)
}
