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
	entries map[pcommon.TraceID]sampling.Threshold
	ring    []pcommon.TraceID
	next    int
	full    bool
}

func newDecisionCache(capacity int) *decisionCache {
	if capacity <= 0 {
		return &decisionCache{}
	}
	return &decisionCache{entries: make(map[pcommon.TraceID]sampling.Threshold, capacity), ring: make([]pcommon.TraceID, capacity)}
}

func (c *decisionCache) get(id pcommon.TraceID) (sampling.Threshold, bool) {
	if c.entries == nil {
		return sampling.Threshold{}, false
	}
	th, ok := c.entries[id]
	return th, ok
}

func (c *decisionCache) put(id pcommon.TraceID, th sampling.Threshold) {
	if len(c.ring) == 0 {
		return
	}
	if _, ok := c.entries[id]; ok {
		c.entries[id] = th
		return
	}
	if c.full {
		delete(c.entries, c.ring[c.next])
	}
	c.ring[c.next] = id
	c.entries[id] = th
	c.next++
	if c.next == len(c.ring) {
		c.next = 0
		c.full = true
	}
}
