// Package sharedcomponent lets one component instance serve every pipeline that lists
// its ID. The processors of this distribution observe spans in a traces pipeline and emit
// their own metrics and alert logs in the metrics and logs pipelines that list the same
// ID; all of those must be one object, started once and shut down once.
package sharedcomponent

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the shared instances of one component type, keyed by component ID.
type Map[K comparable, V component.Component] struct {
	mu        sync.Mutex
	instances map[K]*Component[V]
}

// NewMap returns an empty Map.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{instances: make(map[K]*Component[V])}
}

// LoadOrStore returns the instance for key, calling create the first time key is seen.
// A failed create stores nothing, so a later call may try again.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.instances[key]; ok {
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	c := &Component[V]{value: v}
	c.remove = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.instances[key] == c {
			delete(m.instances, key)
		}
	}
	m.instances[key] = c
	return c, nil
}

// Len reports how many instances the map holds (for tests).
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.instances)
}

// Component wraps a shared instance so that the Start and Shutdown calls of every
// pipeline reach it once each.
type Component[V component.Component] struct {
	value     V
	startOnce sync.Once
	startErr  error
	stopOnce  sync.Once
	stopErr   error
	remove    func()
}

// Unwrap returns the shared instance.
func (c *Component[V]) Unwrap() V { return c.value }

// Start starts the instance on the first call; later calls return the first result.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	c.startOnce.Do(func() { c.startErr = c.value.Start(ctx, host) })
	return c.startErr
}

// Shutdown shuts the instance down on the first call and forgets it, so that a
// collector reload builds a fresh one. It is safe without Start.
func (c *Component[V]) Shutdown(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.remove()
		c.stopErr = c.value.Shutdown(ctx)
	})
	return c.stopErr
}
