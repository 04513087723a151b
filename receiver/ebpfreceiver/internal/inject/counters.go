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

// counter order in bpf/inject.bpf.c's enum counter.
func (c *Counters) fields() []*uint64 {
	return []*uint64{
		&c.Injected, &c.SkippedNoPending, &c.SkippedNotRequestStart, &c.SkippedHeadSplit,
		&c.SkippedHasTraceparent, &c.SkippedTooLarge, &c.SkippedError, &c.SkippedBoundaryLost,
		&c.SkippedMalformed, &c.SkippedTLS, &c.SkippedNoRoom, &c.LostChunked, &c.LostUpgrade,
		&c.SocketsTracked, &c.SocketsTrackFailed, &c.MessageRuns, &c.PendingClosed,
		&c.PendingStale,
	}
}

// all is fields and the counters kept in user space.
func (c *Counters) all() []*uint64 {
	return append(c.fields(), &c.PendingRejected, &c.PendingNotTracked)
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
