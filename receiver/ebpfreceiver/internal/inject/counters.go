package inject

import "fmt"

// Counters are the injector's totals since Open, by outcome. The skip
// reasons each count one request context (or one request) that was not
// injected; the Lost ones count connections whose later requests cannot be
// injected.
type Counters struct {
	Injected uint64
	// SkippedNoPending: a request at a proven boundary had no context offered.
	SkippedNoPending uint64
	// SkippedNotRequestStart: the bytes at a boundary are no HTTP/1.x
	// request line (or more pipelined requests in one write than are parsed).
	SkippedNotRequestStart uint64
	// SkippedHeadSplit: the request head did not end in the write it started in.
	SkippedHeadSplit uint64
	// SkippedHasTraceparent: the application sent its own traceparent.
	SkippedHasTraceparent uint64
	// SkippedTooLarge: the head is longer than the scan window (8 KiB).
	SkippedTooLarge uint64
	// SkippedError: a kernel helper failed; nothing was changed.
	SkippedError uint64
	// SkippedBoundaryLost: a context was offered on a connection whose
	// request boundary is no longer known.
	SkippedBoundaryLost uint64
	// SkippedMalformed: the head is outside the strict grammar checked
	// (folded lines, bare CR or LF, bad Content-Length, ...).
	SkippedMalformed uint64
	// SkippedTLS: the connection starts with a TLS handshake.
	SkippedTLS uint64
	// SkippedNoRoom: the send buffer could not take the request and the
	// inserted line whole.
	SkippedNoRoom uint64
	// LostChunked: a request with Transfer-Encoding (its end is not followed).
	LostChunked uint64
	// LostUpgrade: CONNECT or Upgrade: the connection stops being HTTP/1.1.
	LostUpgrade uint64
	// SocketsTracked: connections of tracked processes that entered the sockhash.
	SocketsTracked uint64
	// SocketsTrackFailed: connections of tracked processes that could not.
	SocketsTrackFailed uint64
	// MessageRuns: sk_msg program runs (one per send of a tracked socket).
	MessageRuns uint64
	// PendingClosed: contexts withdrawn because their connection closed
	// before sending another request.
	PendingClosed uint64
	// PendingStale: contexts found for a connection's 4-tuple but offered
	// for another socket (one that closed with no state callback to
	// withdraw them): removed, never used.
	PendingStale uint64
	// PendingRejected: SetPending calls that failed (the pending map full):
	// counted here, in user space.
	PendingRejected uint64
	// PendingNotTracked: SetPending calls refused because the connection is
	// not an open tracked one (ErrConnNotTracked); in user space.
	PendingNotTracked uint64
}

// fields are the counters the BPF program keeps, indexed by its enum counter
// (bpf/inject.bpf.c) through the constants bpf2go generates from it: a
// counter renamed or removed there no longer compiles here, one added there
// leaves a nil entry that TestCountersCoverEveryIndex reports.
func (c *Counters) fields() [injectCounterC_MAX]*uint64 {
	return [injectCounterC_MAX]*uint64{
		injectCounterC_INJECTED:               &c.Injected,
		injectCounterC_SKIP_NO_PENDING:        &c.SkippedNoPending,
		injectCounterC_SKIP_NOT_REQUEST_START: &c.SkippedNotRequestStart,
		injectCounterC_SKIP_HEAD_SPLIT:        &c.SkippedHeadSplit,
		injectCounterC_SKIP_HAS_TRACEPARENT:   &c.SkippedHasTraceparent,
		injectCounterC_SKIP_TOO_LARGE:         &c.SkippedTooLarge,
		injectCounterC_SKIP_ERROR:             &c.SkippedError,
		injectCounterC_SKIP_BOUNDARY_LOST:     &c.SkippedBoundaryLost,
		injectCounterC_SKIP_MALFORMED:         &c.SkippedMalformed,
		injectCounterC_SKIP_TLS:               &c.SkippedTLS,
		injectCounterC_SKIP_NO_ROOM:           &c.SkippedNoRoom,
		injectCounterC_LOST_CHUNKED:           &c.LostChunked,
		injectCounterC_LOST_UPGRADE:           &c.LostUpgrade,
		injectCounterC_SOCK_TRACKED:           &c.SocketsTracked,
		injectCounterC_SOCK_TRACK_FAILED:      &c.SocketsTrackFailed,
		injectCounterC_MSG_RUNS:               &c.MessageRuns,
		injectCounterC_PENDING_CLOSED:         &c.PendingClosed,
		injectCounterC_PENDING_STALE:          &c.PendingStale,
	}
}

// all is fields and the counters kept in user space.
func (c *Counters) all() []*uint64 {
	f := c.fields()
	return append(f[:], &c.PendingRejected, &c.PendingNotTracked)
}

// Skipped is the sum of the Skipped* counters.
func (c Counters) Skipped() uint64 {
	return c.SkippedNoPending + c.SkippedNotRequestStart + c.SkippedHeadSplit + c.SkippedHasTraceparent +
		c.SkippedTooLarge + c.SkippedError + c.SkippedBoundaryLost + c.SkippedMalformed + c.SkippedTLS +
		c.SkippedNoRoom
}

// Counters sums the per-CPU counters.
func (in *Injector) Counters() (Counters, error) {
	var c Counters
	c.PendingRejected = in.pendingRejected.Load()
	c.PendingNotTracked = in.pendingNotTracked.Load()
	for i, f := range c.fields() {
		if f == nil {
			return c, fmt.Errorf("inject: counter %d of bpf/inject.bpf.c has no field in Counters", i)
		}
		var perCPU []uint64
		if err := in.objs.Counters.Lookup(uint32(i), &perCPU); err != nil {
			return c, fmt.Errorf("inject: read counter %d: %w", i, err)
		}
		for _, v := range perCPU {
			*f += v
		}
	}
	return c, nil
}
