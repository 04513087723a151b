package tailsamplingdriftprocessor

import (
	"sync"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// deadline is a queued decision time for a trace. Both queues of a shard are
// filled in time order (first-seen order, root-arrival order) with a constant
// delay, so each stays sorted and a FIFO is enough.
type deadline struct {
	at        int64
	firstSeen int64
	id        pcommon.TraceID
}

// deadlineQueue is a FIFO of deadlines backed by a slice that is compacted as
// it drains.
type deadlineQueue struct {
	items []deadline
	head  int
}

func (q *deadlineQueue) push(d deadline) { q.items = append(q.items, d) }
func (q *deadlineQueue) len() int        { return len(q.items) - q.head }

func (q *deadlineQueue) peek() (deadline, bool) {
	if q.head == len(q.items) {
		return deadline{}, false
	}
	return q.items[q.head], true
}

func (q *deadlineQueue) pop() {
	q.items[q.head] = deadline{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// compact drops the entries keep rejects, keeping the order.
func (q *deadlineQueue) compact(keep func(deadline) bool) {
	n := 0
	for _, d := range q.items[q.head:] {
		if keep(d) {
			q.items[n] = d
			n++
		}
	}
	clear(q.items[n:])
	q.items, q.head = q.items[:n], 0
}

// compactQueuesLocked bounds the queues by the live traces: entries of traces
// decided through the other queue (or evicted) would otherwise stay until
// their deadline, rate × decision_wait of them.
func (s *shard) compactQueuesLocked() {
	limit := 2*len(s.traces) + 1024
	if s.waitQ.len() <= limit && s.graceQ.len() <= limit {
		return
	}
	live := func(d deadline) bool { return s.lookupLocked(d) != nil }
	if s.waitQ.len() > limit {
		s.waitQ.compact(live)
	}
	if s.graceQ.len() > limit {
		s.graceQ.compact(live)
	}
}

// trigger says why a trace was decided when it was.
type trigger int8

const (
	triggerRootGrace trigger = iota
	triggerDecisionWait
	triggerEvictedCount
	triggerEvictedBytes
	triggerShutdown
	triggerTooLarge
	numTriggers
)

var triggerNames = [numTriggers]string{"root_grace", "decision_wait", "evicted_count", "evicted_bytes", "shutdown", "too_large"}

// shard owns the undecided traces whose ID hashes to it. Each shard has its own
// lock, policy state, caches and decision ticker, so ingest and decisions of
// different shards never contend.
type shard struct {
	mu        sync.Mutex
	traces    map[pcommon.TraceID]*trace
	waitQ     deadlineQueue // decision_wait deadlines, in first-seen order
	graceQ    deadlineQueue // root arrival + grace, in root-arrival order
	bytes     int64
	maxTraces int
	maxBytes  int64
	policies  *policySet
	intern    internTable
	keep      *decisionCache
	drop      *decisionCache
	// marks are the recordpolicy marks of this shard's decisions (nil while
	// the gate is off).
	marks map[markKey]*policyMark

	// out collects the chunks of traces kept by decisions made under the
	// lock; they are decoded and forwarded after it is released.
	out      []keptChunk
	outTh    map[pcommon.TraceID]sampling.Threshold
	counts   decisionCounts
	scratchT ptrace.Traces
}

// decisionCounts accumulates telemetry under the shard lock; it is flushed to
// the telemetry builder outside the lock.
type decisionCounts struct {
	decided        [numTriggers][3]int64 // by trigger and sampled/not_sampled/dropped
	spansSampled   int64
	spansNotSample [numNotSampledReasons]int64 // by notSampledReason
	policyErrors   int64
	keptForDrift   int64
	lateSampled    int64
	lateNotSampled int64
	newTraces      int64
}

// notSampledReason says why the spans of a trace were not forwarded.
type notSampledReason int

const (
	reasonPolicy      notSampledReason = iota // the policies did not keep the trace
	reasonDropPolicy                          // a drop policy matched
	reasonTooLarge                            // maximum_trace_size_bytes was exceeded
	reasonUnevaluated                         // dropped at shutdown without evaluation
	numNotSampledReasons
)

var notSampledReasonNames = [numNotSampledReasons]string{"policy", "drop_policy", "too_large", "unevaluated"}

func notSampledReasonOf(why trigger, k decisionKind) notSampledReason {
	switch {
	case why == triggerTooLarge:
		return reasonTooLarge
	case k == decisionDropped:
		return reasonDropPolicy
	default:
		return reasonPolicy
	}
}

func decisionIndex(k decisionKind) int {
	switch k {
	case decisionSampled:
		return 0
	case decisionDropped:
		return 2
	default:
		return 1
	}
}

// lookupLocked returns the live trace a queue entry refers to, or nil when the
// entry is stale (the trace was decided; the ID may since belong to a new trace).
func (s *shard) lookupLocked(d deadline) *trace {
	t := s.traces[d.id]
	if t == nil || t.firstSeen != d.firstSeen {
		return nil
	}
	return t
}

// decideLocked decides t, removes it from memory and remembers the decision.
// The caller holds s.mu.
func (s *shard) decideLocked(e *engine, t *trace, why trigger) {
	if t.decided {
		return
	}
	t.decided = true
	delete(s.traces, t.id)
	s.bytes -= int64(len(t.data)) + traceOverhead

	var d Decision
	forDrift := false
	if why == triggerTooLarge {
		d = notSampled
	} else {
		d = s.policies.decide(t.id, t, &s.counts.policyErrors)
		if d.Kind == decisionNotSampled && t.drifting && e.cfg.Drift.KeepDriftingTraces {
			d = sampled
			forDrift = true
			s.counts.keptForDrift++
		}
	}
	s.counts.decided[why][decisionIndex(d.Kind)]++
	if d.Kind == decisionSampled {
		s.counts.spansSampled += t.spanCount
		var mark *policyMark
		if e.recordPolicy {
			name := s.policies.policyName(d)
			if forDrift {
				name = driftPolicyName
			}
			mark = s.markOf(name, s.policies.compositeSubName(d))
		}
		s.out = s.intern.appendKeptChunks(s.out, t.data, mark)
		if e.cfg.ConsistentProbability && d.Threshold.Unsigned() != 0 {
			if s.outTh == nil {
				s.outTh = make(map[pcommon.TraceID]sampling.Threshold)
			}
			s.outTh[t.id] = d.Threshold
		}
		s.keep.put(t.id, d.Threshold, mark)
	} else {
		s.counts.spansNotSample[notSampledReasonOf(why, d.Kind)] += t.spanCount
		s.drop.put(t.id, sampling.Threshold{}, nil)
	}
	s.bytes -= int64(s.intern.releaseAll(t.data))
	t.data = nil
}

// expireLocked decides every trace whose grace or decision_wait has passed.
func (s *shard) expireLocked(e *engine, now int64) {
	for {
		d, ok := s.graceQ.peek()
		if !ok || d.at > now {
			break
		}
		s.graceQ.pop()
		if t := s.lookupLocked(d); t != nil {
			s.decideLocked(e, t, triggerRootGrace)
		}
	}
	for {
		d, ok := s.waitQ.peek()
		if !ok || d.at > now {
			break
		}
		s.waitQ.pop()
		if t := s.lookupLocked(d); t != nil {
			s.decideLocked(e, t, triggerDecisionWait)
		}
	}
}

// evictLocked decides the oldest traces early until the shard is within its
// trace and byte limits.
func (s *shard) evictLocked(e *engine) {
	for len(s.traces) > s.maxTraces || (s.maxBytes > 0 && s.bytes > s.maxBytes) {
		why := triggerEvictedCount
		if len(s.traces) <= s.maxTraces {
			why = triggerEvictedBytes
		}
		d, ok := s.waitQ.peek()
		if !ok {
			return
		}
		s.waitQ.pop()
		if t := s.lookupLocked(d); t != nil {
			s.decideLocked(e, t, why)
		}
	}
}

// drainAllLocked decides (or, when dropping, forgets) every undecided trace.
func (s *shard) drainAllLocked(e *engine, drop bool) int64 {
	var droppedUnevaluated int64
	for {
		d, ok := s.waitQ.peek()
		if !ok {
			break
		}
		s.waitQ.pop()
		t := s.lookupLocked(d)
		if t == nil {
			continue
		}
		if drop {
			t.decided = true
			delete(s.traces, t.id)
			s.bytes -= int64(len(t.data)) + traceOverhead
			s.bytes -= int64(s.intern.releaseAll(t.data))
			t.data = nil
			s.counts.spansNotSample[reasonUnevaluated] += t.spanCount
			droppedUnevaluated++
			continue
		}
		s.decideLocked(e, t, triggerShutdown)
	}
	s.graceQ = deadlineQueue{}
	return droppedUnevaluated
}

// takeOutputLocked hands the kept spans and the counts to the caller, who
// forwards and records them after releasing the lock.
func (s *shard) takeOutputLocked() ([]keptChunk, map[pcommon.TraceID]sampling.Threshold, decisionCounts) {
	out, th, c := s.out, s.outTh, s.counts
	s.out, s.outTh, s.counts = nil, nil, decisionCounts{}
	return out, th, c
}
