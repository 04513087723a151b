package tailsamplingdriftprocessor

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// decisionCache remembers the last decisions of a shard so that late spans
// follow them. It is a fixed-capacity FIFO: the oldest entry is forgotten when a
// new one is added to a full cache. Its memory grows with use, up to capacity.
type decisionCache struct {
	entries  map[pcommon.TraceID]cachedDecision
	ring     []pcommon.TraceID
	capacity int
	next     int
	// implicit: the cache stands in for the stock processor's table of
	// decided traces (decision_cache size 0), whose late spans it forwards
	// without the recordpolicy marks it writes for a configured cache.
	implicit bool
}

// newShardDecisionCache is one shard's share of a decision cache of the given
// configured size. Size 0 (the stock default) does not mean that decisions are
// forgotten: the stock processor then keeps each decided trace in its trace
// table, where late spans find its decision, until num_traces newer traces push
// it out. That is what a zero size gets here too: the last num_traces
// decisions (the shard's share, traces) are remembered.
func newShardDecisionCache(size, shards, traces int) *decisionCache {
	if size <= 0 {
		c := newDecisionCache(traces)
		c.implicit = true
		return c
	}
	return newDecisionCache(max(1, size/shards))
}

func newDecisionCache(capacity int) *decisionCache {
	if capacity <= 0 {
		return &decisionCache{}
	}
	return &decisionCache{entries: make(map[pcommon.TraceID]cachedDecision), capacity: capacity}
}

// cachedDecision is what late spans of a decided trace need: the threshold of
// a probabilistic keep and the recordpolicy mark (nil while the gate is off).
type cachedDecision struct {
	th   sampling.Threshold
	mark *policyMark
}

func (c *decisionCache) get(id pcommon.TraceID) (cachedDecision, bool) {
	if c.entries == nil {
		return cachedDecision{}, false
	}
	d, ok := c.entries[id]
	return d, ok
}

func (c *decisionCache) put(id pcommon.TraceID, th sampling.Threshold, mark *policyMark) {
	if c.capacity == 0 {
		return
	}
	if c.implicit {
		mark = nil
	}
	if _, ok := c.entries[id]; ok {
		c.entries[id] = cachedDecision{th, mark}
		return
	}
	if len(c.ring) < c.capacity {
		c.ring = append(c.ring, id)
	} else {
		delete(c.entries, c.ring[c.next])
		c.ring[c.next] = id
		c.next = (c.next + 1) % c.capacity
	}
	c.entries[id] = cachedDecision{th, mark}
}
