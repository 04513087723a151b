package probes

import "github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"

// Stitch is what stitching (bpf/common/stitch.h) found for a span: the
// enum stitch_result value (a u8) its probe's event carries.
type Stitch uint8

// The values are bpf2go's constants of enum stitch_result, never copies.
const (
	// StitchNone: the span's connection was not read (stitching off, HTTP/2,
	// a connection that is not a TCP socket, or a traceparent header won).
	StitchNone = Stitch(bpfprog.GoebpfStitchResultSTITCH_NONE)
	// StitchMatched: joined to the other side's span on the same connection.
	StitchMatched = Stitch(bpfprog.GoebpfStitchResultSTITCH_MATCHED)
	// StitchUnmatched: the connection was read, the other side's span was
	// not found (that side is not traced on this host); the span goes out
	// as it is.
	StitchUnmatched = Stitch(bpfprog.GoebpfStitchResultSTITCH_UNMATCHED)
	// StitchLate (gRPC server spans only): joined to the client span, but
	// the client probe recorded it after the server span started
	// (bpf/common/grpc_stitch.h). Spans started from the server span's
	// goroutine before the join keep its first trace.
	StitchLate = Stitch(bpfprog.GoebpfStitchResultSTITCH_LATE)
)

// Side is the side of a request a span describes, as the stitching
// counters name it.
type Side string

// Sides of a request.
const (
	SideServer Side = "server"
	SideClient Side = "client"
)

// Stitched is an event whose span stitching may have joined to the other
// side's: the receiver counts the outcomes.
type Stitched interface {
	StitchResult() (Side, Stitch)
}

// Handoff is an event that reports no span: what its probe saw was not a
// request but an HTTP/2 connection preface read as an HTTP/1 request and
// handed to a handler that serves the connection as h2c (its streams get
// spans of their own). The receiver counts it.
type Handoff interface {
	H2CHandoff() bool
}
