// Package kafkajoin continues a producer's trace in the consumer of the
// same Kafka message, in the receiver, without writing into either
// program: both sides are joined on the message's coordinates (topic,
// partition, offset).
//
// The producer side registers where its messages were stored: a
// Produced record (the kafka-go producer's completed batches), or any
// PRODUCER span carrying messaging.destination.name,
// messaging.destination.partition.id and messaging.kafka.offset (a
// one-message send of any client library). A CONSUMER span with the same
// three attributes and no parent (no span of its goroutine, no
// traceparent header the application set) is held back until the key is
// registered, at most Config.Wait: then it takes the producer span's trace
// id and the producer span as its parent, and every span of its local
// subtree (the spans with its original trace id, held with it or arriving
// within Config.SubtreeTTL) takes the producer's trace id too. A consumer
// span whose key does not come within the wait is released as it was
// (unjoined); held spans beyond Config.MaxHeldSpans release the oldest
// held traces early (evicted). Nothing is dropped.
package kafkajoin

import (
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Attribute names the join reads (semantic conventions, messaging spans).
const (
	AttrDestinationName = "messaging.destination.name"
	AttrPartitionID     = "messaging.destination.partition.id"
	AttrOffset          = "messaging.kafka.offset"
)

// Key is a message's coordinates.
type Key struct {
	Topic     string
	Partition int64
	Offset    int64
}

// Produced says that Count consecutive messages starting at FirstOffset of
// (Topic, Partition) were sent by the span (TraceID, SpanID).
type Produced struct {
	Topic       string
	Partition   int64
	FirstOffset int64
	Count       int64
	TraceID     [16]byte
	SpanID      [8]byte
}

// Record is an event that reports where a producer span's messages were
// stored (it carries no span of its own).
type Record interface {
	Produced() Produced
}

// Config bounds the join.
type Config struct {
	// Wait is how long a consumer span (and its subtree) is held for its
	// producer's key.
	Wait time.Duration
	// MaxHeldSpans bounds the spans held at once.
	MaxHeldSpans int
	// MaxKeys bounds the producer keys kept; the oldest go first.
	MaxKeys int
	// KeyTTL is how long a producer key is kept for a consumer that reads
	// the message later (a consumer behind its producer).
	KeyTTL time.Duration
	// SubtreeTTL is how long after its join spans of a consumer's subtree
	// still take the producer's trace id.
	SubtreeTTL time.Duration
}

// DefaultConfig is the join's defaults but for Wait.
func DefaultConfig(wait time.Duration) Config {
	return Config{Wait: wait, MaxHeldSpans: 10000, MaxKeys: 100000, KeyTTL: 10 * time.Minute, SubtreeTTL: time.Minute}
}

// MaxRecordMessages bounds the keys one Produced record registers.
const MaxRecordMessages = 4096

// Counts are what one Process call did.
type Counts struct {
	// Joined: consumer spans that took their producer's trace.
	Joined int64
	// Unjoined: consumer spans released as they were after the wait.
	Unjoined int64
	// Evicted: consumer spans released as they were before the end of the
	// wait, to keep within MaxHeldSpans.
	Evicted int64
}

type origin struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
	until time.Time
}

type remap struct {
	to    pcommon.TraceID
	until time.Time
}

// pending is a consumer span waiting for its producer's key, with the
// spans of its trace that arrived meanwhile.
type pending struct {
	trace    pcommon.TraceID
	key      Key
	span     pcommon.SpanID
	deadline time.Time
	held     ptrace.Traces
	spans    int
	// groups by resource spans of the Process call that held them.
	call   uint64
	groups map[int]ptrace.ScopeSpans
	done   bool
}

// Joiner joins consumer spans to their producers. It is not safe for
// concurrent use (the receiver's drain loop owns it).
type Joiner struct {
	cfg     Config
	origins map[Key]origin
	keys    fifo[Key]
	pending map[pcommon.TraceID]*pending
	byKey   map[Key]*pending
	order   fifo[*pending]
	remaps  map[pcommon.TraceID]remap
	remapQ  fifo[pcommon.TraceID]
	held    int
	call    uint64
	// released collects the spans of pending traces resolved or expired
	// until the next Process returns them.
	released ptrace.Traces
	counts   Counts
}

// New returns a Joiner.
func New(cfg Config) *Joiner {
	return &Joiner{
		cfg:      cfg,
		origins:  map[Key]origin{},
		pending:  map[pcommon.TraceID]*pending{},
		byKey:    map[Key]*pending{},
		remaps:   map[pcommon.TraceID]remap{},
		released: ptrace.NewTraces(),
	}
}

// Held is the number of spans held.
func (j *Joiner) Held() int { return j.held }

// Keys is the number of producer keys kept.
func (j *Joiner) Keys() int { return len(j.origins) }

// AddProduced registers the keys of a producer record.
func (j *Joiner) AddProduced(p Produced, now time.Time) {
	n := p.Count
	if n > MaxRecordMessages {
		n = MaxRecordMessages
	}
	for i := int64(0); i < n; i++ {
		j.register(Key{Topic: p.Topic, Partition: p.Partition, Offset: p.FirstOffset + i}, pcommon.TraceID(p.TraceID), pcommon.SpanID(p.SpanID), now)
	}
}

func (j *Joiner) register(k Key, trace pcommon.TraceID, span pcommon.SpanID, now time.Time) {
	if _, ok := j.origins[k]; !ok {
		j.keys.push(k)
	}
	j.origins[k] = origin{trace: trace, span: span, until: now.Add(j.cfg.KeyTTL)}
	for len(j.origins) > j.cfg.MaxKeys && j.keys.len() > 0 {
		delete(j.origins, j.keys.pop())
	}
	if p := j.byKey[k]; p != nil && !p.done {
		j.resolve(p, j.origins[k], now)
	}
}

// keyOf reads a span's message coordinates.
func keyOf(a pcommon.Map) (Key, bool) {
	topic, ok := a.Get(AttrDestinationName)
	if !ok || topic.Type() != pcommon.ValueTypeStr {
		return Key{}, false
	}
	partition, ok := intAttr(a, AttrPartitionID)
	if !ok {
		return Key{}, false
	}
	offset, ok := intAttr(a, AttrOffset)
	if !ok {
		return Key{}, false
	}
	return Key{Topic: topic.Str(), Partition: partition, Offset: offset}, true
}

// intAttr reads an integer attribute, given as an int or a decimal string
// (the conventions make the partition id a string, the offset an int).
func intAttr(a pcommon.Map, name string) (int64, bool) {
	v, ok := a.Get(name)
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(v.Str(), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Process joins the spans of td in place: it registers its producer
// spans' keys, joins or holds its consumer spans, holds the spans of held
// traces, rewrites the trace id of joined subtrees, and appends the held
// spans now resolved or expired. It returns what it did since the last
// call.
func (j *Joiner) Process(td ptrace.Traces, now time.Time) Counts {
	j.call++
	rss := td.ResourceSpans()
	// Producers first, so that a consumer in the same batch finds them.
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for k := 0; k < sss.Len(); k++ {
			spans := sss.At(k).Spans()
			for s := 0; s < spans.Len(); s++ {
				sp := spans.At(s)
				if sp.Kind() != ptrace.SpanKindProducer {
					continue
				}
				if key, ok := keyOf(sp.Attributes()); ok {
					j.register(key, sp.TraceID(), sp.SpanID(), now)
				}
			}
		}
	}
	// Consumer spans with no parent: joined now or held.
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for k := 0; k < sss.Len(); k++ {
			spans := sss.At(k).Spans()
			for s := 0; s < spans.Len(); s++ {
				sp := spans.At(s)
				if sp.Kind() != ptrace.SpanKindConsumer || !sp.ParentSpanID().IsEmpty() {
					continue
				}
				key, ok := keyOf(sp.Attributes())
				if !ok {
					continue
				}
				trace := sp.TraceID()
				if _, ok := j.pending[trace]; ok {
					continue
				}
				if o, ok := j.origins[key]; ok {
					j.remapTo(trace, o.trace, now)
					sp.SetParentSpanID(o.span)
					j.counts.Joined++
					continue
				}
				p := &pending{trace: trace, key: key, span: sp.SpanID(), deadline: now.Add(j.cfg.Wait), held: ptrace.NewTraces()}
				j.pending[trace] = p
				if q := j.byKey[key]; q == nil || q.done {
					j.byKey[key] = p
				}
				j.order.push(p)
			}
		}
	}
	// Every span: rewritten (a joined subtree) or held (a pending one).
	if len(j.pending) > 0 || len(j.remaps) > 0 {
		for i := 0; i < rss.Len(); i++ {
			rs := rss.At(i)
			sss := rs.ScopeSpans()
			for k := 0; k < sss.Len(); k++ {
				ss := sss.At(k)
				ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
					trace := sp.TraceID()
					if r, ok := j.remaps[trace]; ok && now.Before(r.until) {
						sp.SetTraceID(r.to)
						return false
					}
					p, ok := j.pending[trace]
					if !ok {
						return false
					}
					j.hold(p, i, rs, ss, sp)
					return true
				})
			}
		}
		rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
			rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })
			return rs.ScopeSpans().Len() == 0
		})
	}
	j.expire(now)
	j.released.ResourceSpans().MoveAndAppendTo(rss)
	c := j.counts
	j.counts = Counts{}
	return c
}

// hold moves sp (of rs, ss, the index-th resource spans of this call) into
// p.
func (j *Joiner) hold(p *pending, index int, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, sp ptrace.Span) {
	if p.call != j.call {
		p.call, p.groups = j.call, map[int]ptrace.ScopeSpans{}
	}
	g, ok := p.groups[index]
	if !ok {
		hrs := p.held.ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(hrs.Resource())
		hrs.SetSchemaUrl(rs.SchemaUrl())
		g = hrs.ScopeSpans().AppendEmpty()
		ss.Scope().CopyTo(g.Scope())
		g.SetSchemaUrl(ss.SchemaUrl())
		p.groups[index] = g
	}
	sp.CopyTo(g.Spans().AppendEmpty())
	p.spans++
	j.held++
}

// resolve joins a pending consumer span to its producer and releases its
// held spans.
func (j *Joiner) resolve(p *pending, o origin, now time.Time) {
	forEachSpan(p.held, func(sp ptrace.Span) {
		sp.SetTraceID(o.trace)
		if sp.SpanID() == p.span {
			sp.SetParentSpanID(o.span)
		}
	})
	j.remapTo(p.trace, o.trace, now)
	j.counts.Joined++
	j.release(p)
}

// release ends p's wait and gives its spans to the next Process.
func (j *Joiner) release(p *pending) {
	p.done = true
	delete(j.pending, p.trace)
	if j.byKey[p.key] == p {
		delete(j.byKey, p.key)
	}
	j.held -= p.spans
	p.held.ResourceSpans().MoveAndAppendTo(j.released.ResourceSpans())
	p.groups = nil
}

func (j *Joiner) remapTo(from, to pcommon.TraceID, now time.Time) {
	if _, ok := j.remaps[from]; !ok {
		j.remapQ.push(from)
	}
	j.remaps[from] = remap{to: to, until: now.Add(j.cfg.SubtreeTTL)}
}

// expire releases the pending traces whose wait is over, and those beyond
// MaxHeldSpans, and forgets old keys and remaps.
func (j *Joiner) expire(now time.Time) {
	for j.order.len() > 0 {
		p := j.order.peek()
		switch {
		case p.done:
		case !now.Before(p.deadline):
			j.counts.Unjoined++
			j.release(p)
		case j.held > j.cfg.MaxHeldSpans:
			j.counts.Evicted++
			j.release(p)
		default:
			goto keys
		}
		j.order.pop()
	}
keys:
	for j.keys.len() > 0 {
		k := j.keys.peek()
		if o, ok := j.origins[k]; ok && now.Before(o.until) {
			break
		}
		delete(j.origins, j.keys.pop())
	}
	for j.remapQ.len() > 0 {
		t := j.remapQ.peek()
		if r, ok := j.remaps[t]; ok && now.Before(r.until) && len(j.remaps) <= j.cfg.MaxKeys {
			break
		}
		delete(j.remaps, j.remapQ.pop())
	}
}

// Flush releases every held span as it is (the receiver stops) into td.
func (j *Joiner) Flush(td ptrace.Traces) Counts {
	for j.order.len() > 0 {
		if p := j.order.pop(); !p.done {
			j.counts.Unjoined++
			j.release(p)
		}
	}
	j.released.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	c := j.counts
	j.counts = Counts{}
	return c
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for k := 0; k < sss.Len(); k++ {
			spans := sss.At(k).Spans()
			for s := 0; s < spans.Len(); s++ {
				f(spans.At(s))
			}
		}
	}
}

// fifo is a queue.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }
func (q *fifo[T]) len() int { return len(q.items) - q.head }
func (q *fifo[T]) peek() T  { return q.items[q.head] }
func (q *fifo[T]) pop() T {
	v := q.items[q.head]
	var zero T
	q.items[q.head] = zero
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append([]T(nil), q.items[q.head:]...)
		q.head = 0
	}
	return v
}
