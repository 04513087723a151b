package tailsamplingdriftprocessor

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// decisionCache remembers the last decisions of a shard so that late spans
// follow them. It is a fixed-capacity FIFO: the oldest entry is forgotten when a
// new one is added to a full cache. A zero-capacity cache remembers nothing (the
// stock processor's default).
type decisionCache struct {
	entries map[pcommon.TraceID]cachedDecision
	ring    []pcommon.TraceID
	next    int
	full    bool
}

func newDecisionCache(capacity int) *decisionCache {
	if capacity <= 0 {
		return &decisionCache{}
	}
	return &decisionCache{entries: make(map[pcommon.TraceID]cachedDecision, capacity), ring: make([]pcommon.TraceID, capacity)}
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
	if len(c.ring) == 0 {
		return
	}
	if _, ok := c.entries[id]; ok {
		c.entries[id] = cachedDecision{th, mark}
		return
	}
	if c.full {
		delete(c.entries, c.ring[c.next])
	}
	c.ring[c.next] = id
	c.entries[id] = cachedDecision{th, mark}
	c.next++
	if c.next == len(c.ring) {
		c.next = 0
		c.full = true
	}
}
