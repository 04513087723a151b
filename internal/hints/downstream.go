package hints

import (
	"encoding/binary"
	"math/bits"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// linkSlots is the size of the table that joins a span to its child client span: enough
// for the spans of a few seconds of batches at thousands of spans per second. A span and
// its child are normally in the same batch (the child first, as it ends first); the table
// only has to bridge the batches in between.
const (
	linkSlots = 4096
	linkWays  = 4
	// maxLinkedSubjects is how many subjects a span waiting for its child remembers.
	maxLinkedSubjects = 4
)

// link is one slot: a client span's downstream waiting for its parent (child entry), or
// a span waiting for its child client span (parent entry).
type link struct {
	key    uint64 // span ID: the parent's for a child entry, the span's own for a parent entry
	seq    uint64 // insertion order, 0 when free
	parent bool
	// child entry
	value      int32
	childError bool
	// parent entry
	weight float64
	n      uint8
	subj   [maxLinkedSubjects]int32
	bad    [maxLinkedSubjects]bool
	gen    int64
}

// childLinks is a fixed set-associative table (linkWays slots per bucket, the oldest
// entry evicted), so memory is fixed and the per-span cost is one bucket scan.
type childLinks struct {
	slots []link
	shift uint // 64 - log2(buckets): multiplicative hashing keeps the top bits
	seq   uint64
	// clientGen is the last generation a client span with a downstream value was seen:
	// until one is, no span waits for a child (a service that calls nothing pays nothing).
	clientGen int64
	// counters since the last Stats call
	lateLinked int64
	unlinked   int64
}

func newChildLinks(n int) *childLinks {
	return &childLinks{slots: make([]link, n), shift: uint(64 - bits.Len(uint(n/linkWays-1)))}
}

func spanKey(id pcommon.SpanID) uint64 { return binary.LittleEndian.Uint64(id[:]) }

func (c *childLinks) bucket(key uint64) []link {
	// Span IDs are random; still mix them so a poor generator does not crowd one bucket.
	b := (key * 0x9e3779b97f4a7c15) >> c.shift
	return c.slots[b*linkWays : b*linkWays+linkWays]
}

func (c *childLinks) find(key uint64, parent bool) *link {
	for i, b := 0, c.bucket(key); i < linkWays; i++ {
		if b[i].seq != 0 && b[i].key == key && b[i].parent == parent {
			return &b[i]
		}
	}
	return nil
}

// slot returns a free slot of key's bucket, evicting the oldest entry if none is free.
func (c *childLinks) slot(key uint64) *link {
	b := c.bucket(key)
	oldest := &b[0]
	for i := range b {
		if b[i].seq == 0 {
			return &b[i]
		}
		if b[i].seq < oldest.seq {
			oldest = &b[i]
		}
	}
	if oldest.parent {
		c.unlinked++
	}
	return oldest
}

func (c *childLinks) insert(l link) {
	c.seq++
	l.seq = c.seq
	*c.slot(l.key) = l
}

// expire drops parent entries older than generation oldest (their counts are gone).
func (c *childLinks) expire(oldest int64) {
	for i := range c.slots {
		if l := &c.slots[i]; l.seq != 0 && l.gen < oldest {
			if l.parent {
				c.unlinked++
			}
			*l = link{}
		}
	}
}

// forget drops child entries holding one of the released downstream ids.
func (c *childLinks) forget(ids []int32) {
	for i := range c.slots {
		l := &c.slots[i]
		if l.seq == 0 || l.parent {
			continue
		}
		for _, id := range ids {
			if l.value == id {
				*l = link{}
				break
			}
		}
	}
}

// Client notes a client span: the downstream it called is counted for its parent span,
// now if the parent was already observed (and is waiting), or when the parent arrives.
// failed says whether the client call failed; a failed child is preferred over a
// successful sibling. Call it for every client span of a service with subjects.
func (e *Engine) Client(span ptrace.Span, failed bool) {
	if e.links == nil {
		return
	}
	parentID := span.ParentSpanID()
	if parentID.IsEmpty() {
		return
	}
	key := spanKey(parentID)
	c := e.links
	c.clientGen = e.gen + 1 // +1: generation 0 must count as seen
	if p := c.find(key, true); p != nil {
		id := e.lookup(e.downstream, span.Attributes())
		if id != noValue && p.gen >= e.gen-1 {
			e.interners[e.downstream].touch(id, e.gen)
			for i := uint8(0); i < p.n; i++ {
				e.subjects[p.subj[i]].observeOne(e.downstream, id, p.weight, p.bad[i])
			}
			c.lateLinked++
			*p = link{}
		}
		return
	}
	if old := c.find(key, false); old != nil {
		if old.childError || !failed {
			return // keep the first child, unless this one failed and it did not
		}
		if id := e.lookup(e.downstream, span.Attributes()); id != noValue {
			old.value, old.childError, old.gen = id, true, e.gen
		}
		return
	}
	id := e.lookup(e.downstream, span.Attributes())
	if id == noValue {
		return
	}
	c.insert(link{key: key, value: id, childError: failed, gen: e.gen})
}

// Linked is the set of subjects one span was counted for, for Parent.
type Linked struct {
	n    uint8
	subj [maxLinkedSubjects]int32
	bad  [maxLinkedSubjects]bool
}

// Add records that the span was counted for s (bad or not). Beyond maxLinkedSubjects
// subjects the downstream is not counted for the rest.
func (l *Linked) Add(s *Subject, bad bool) {
	if int(l.n) < maxLinkedSubjects {
		l.subj[l.n], l.bad[l.n] = s.idx, bad
		l.n++
	}
}

// WantsParent says whether Parent has anything to do: a downstream dimension is
// configured and a client span was seen in this or the last generation.
func (e *Engine) WantsParent() bool { return e.links != nil && e.links.clientGen >= e.gen }

// Parent counts the downstream of a span observed for the subjects in l: from its child
// client span if that was seen already, else the span waits (bounded) for its child.
// Call it only when WantsParent.
func (e *Engine) Parent(span ptrace.Span, l *Linked, w float64) {
	if l.n == 0 {
		return
	}
	key := spanKey(span.SpanID())
	c := e.links
	if ch := c.find(key, false); ch != nil {
		if ch.gen >= e.gen-1 {
			e.interners[e.downstream].touch(ch.value, e.gen)
			for i := uint8(0); i < l.n; i++ {
				e.subjects[l.subj[i]].observeOne(e.downstream, ch.value, w, l.bad[i])
			}
		}
		*ch = link{}
		return
	}
	c.insert(link{key: key, parent: true, weight: w, n: l.n, subj: l.subj, bad: l.bad, gen: e.gen})
}

// Stats are counters since the last call.
type Stats struct {
	// Folded values fell into `other` because their dimension was full.
	Folded int64
	// LateLinked spans got their downstream from a child that arrived after them.
	LateLinked int64
	// Unlinked spans waited for a child client span that never came in time (or was
	// evicted from the bounded table); their downstream is not counted.
	Unlinked int64
}

// Stats returns and resets the engine's counters.
func (e *Engine) Stats() Stats {
	s := Stats{Folded: e.Folded()}
	if e.links != nil {
		s.LateLinked, s.Unlinked = e.links.lateLinked, e.links.unlinked
		e.links.lateLinked, e.links.unlinked = 0, 0
	}
	return s
}
