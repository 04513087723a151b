package sloburnprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBurnWindowSlides(t *testing.T) {
	t.Parallel()
	const sec = int64(time.Second)
	base := epoch.UnixNano()
	w := newBurnWindow(time.Minute) // 60 buckets of 1 s
	for i := int64(0); i < 60; i++ {
		w.add(base+i*sec, 9, 10)
	}
	g, tot := w.sums(base + 59*sec)
	assert.Equal(t, 540.0, g)
	assert.Equal(t, 600.0, tot)

	// The window [0.5 s, 60.5 s] holds half of the first bucket.
	g, tot = w.sums(base + 60*sec + sec/2)
	assert.InDelta(t, 600-5, tot, 1e-9)
	assert.InDelta(t, 540-4.5, g, 1e-9)

	// After a gap longer than the window everything has slid out: zero, and a zero ratio.
	g, tot = w.sums(base + 500*sec)
	assert.Zero(t, g)
	assert.Zero(t, tot)
	assert.Zero(t, errorRatio(g, tot))

	// New events after the gap are alone in the window.
	w.add(base+501*sec, 1, 4)
	g, tot = w.sums(base + 501*sec)
	assert.Equal(t, 1.0, g)
	assert.Equal(t, 4.0, tot)
	assert.Equal(t, 0.75, errorRatio(g, tot))

	// A time before the head (clock step back) neither panics nor loses counts.
	g, tot = w.sums(base + 400*sec)
	assert.Equal(t, 4.0, tot)
	assert.Equal(t, 1.0, g)
}

// Memory is independent of traffic: the steady-state traces path allocates nothing, so
// state cannot grow with the number of spans.
func TestConsumeTracesAllocatesNothing(t *testing.T) {
	h := newHarness(t, benchConfig(), nil)
	td := benchTraces()
	warmUp(t, h, td) // the auto latency SLOs judge spans, not only learn them
	allocs := testing.AllocsPerRun(100, func() {
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), td))
	})
	assert.Zero(t, allocs)
}
