// Package refusing has a next consumer for component tests that refuses some of the
// batches it is given, so span accounting can be checked on a stream with refusals.
package refusing // import "github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/refusing"

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// ErrRefused is what a refused batch returns.
var ErrRefused = errors.New("refusing: batch refused by the test's next consumer")

// Traces refuses every Every-th batch (the Every-th, 2·Every-th, ...) and passes the
// others to Next (when set). Every ≤ 0 accepts everything.
type Traces struct {
	Every int
	Next  consumer.Traces

	mu       sync.Mutex
	calls    int
	accepted int
	refused  int
}

var _ consumer.Traces = (*Traces)(nil)

// Capabilities: the spans are kept as given.
func (*Traces) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// ConsumeTraces accepts or refuses td. The lock is held while Next consumes, so
// the counts never run ahead of what Next holds.
func (c *Traces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.Every > 0 && c.calls%c.Every == 0 {
		c.refused += td.SpanCount()
		return ErrRefused
	}
	c.accepted += td.SpanCount()
	if c.Next != nil {
		return c.Next.ConsumeTraces(ctx, td)
	}
	return nil
}

// Accepted is the number of spans accepted so far.
func (c *Traces) Accepted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted
}

// Refused is the number of spans refused so far.
func (c *Traces) Refused() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}
