package tailsamplingdriftprocessor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// trace is everything held for an undecided trace. The spans themselves are
// kept protobuf-encoded (a concatenation of encoded ptrace.Traces messages, which
// is itself a valid encoding of one ptrace.Traces); every fact a policy needs is
// extracted once, at ingest, into the fixed-size fields below, so a decision
// never decodes the spans and memory per span is its wire size.
type trace struct {
	id pcommon.TraceID
	// firstSeen and rootSeen are monotonic nanoseconds (see shard.now); rootSeen
	// is 0 until a span without a parent arrives.
	firstSeen int64
	rootSeen  int64
	spanCount int64
	data      []byte

	// matched has one bit per ingest-time policy condition that held for at
	// least one span or resource; errored one bit per condition whose evaluation
	// failed before it matched (ottl_condition only).
	matched uint64
	errored uint64

	// minStart and maxEnd follow the stock latency policy's running bounds.
	minStart, maxEnd pcommon.Timestamp

	// OpenTelemetry consistent-probability facts from the spans' tracestate.
	randomness      uint64
	hasRandomness   bool
	hasSamplingInfo bool

	// drifting is set when a span of a drifting key and cohort arrived.
	drifting bool
	// decided marks a trace already decided (queue entries pointing at it are stale).
	decided bool
}

// traceOverhead approximates the bytes one trace costs beyond its encoded spans
// (the struct, its map entry and queue entries); it is charged against
// memory_limit_bytes so that many tiny traces are bounded too.
const traceOverhead = 208
