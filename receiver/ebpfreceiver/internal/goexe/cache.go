package goexe

import (
	"container/list"
	"fmt"
	"os"
	"sync"
)

// DefaultCacheSize bounds the number of inspections a Cache made by NewCache
// keeps; the least recently used is forgotten first.
const DefaultCacheSize = 256

// Cache inspects each file once per (device, inode, size, mtime), so that
// several processes of one binary share one inspection and a binary rebuilt
// or replaced in place is inspected again. Failures (including ErrNotGo) are
// cached too, so a non-Go executable is examined once. Safe for concurrent
// use; concurrent requests for the same file wait for one inspection.
type Cache struct {
	mu      sync.Mutex
	max     int
	entries map[fileID]*list.Element
	lru     *list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	id   fileID
	done chan struct{} // closed when exe/err are set
	exe  *Executable
	err  error
}

// NewCache returns a cache of at most DefaultCacheSize inspections.
func NewCache() *Cache { return NewCacheSize(DefaultCacheSize) }

// NewCacheSize returns a cache of at most max inspections (at least 1).
func NewCacheSize(max int) *Cache {
	if max < 1 {
		max = 1
	}
	return &Cache{max: max, entries: map[fileID]*list.Element{}, lru: list.New()}
}

// Inspect returns the inspection of the file at path, inspecting it only if
// this version of the file has not been seen. The returned Executable's Path
// is the path of the first inspection of that file; the other paths it is
// seen at are remembered, and used to read code and data when Path no longer
// opens (for example /proc/<pid>/exe of a process that exited).
func (c *Cache) Inspect(path string) (*Executable, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	id := idFromInfo(fi)

	c.mu.Lock()
	if el, ok := c.entries[id]; ok {
		c.lru.MoveToFront(el)
		ent := el.Value.(*cacheEntry)
		c.mu.Unlock()
		<-ent.done
		if ent.exe != nil {
			ent.exe.addPath(path)
		}
		return ent.exe, ent.err
	}
	ent := &cacheEntry{id: id, done: make(chan struct{})}
	c.entries[id] = c.lru.PushFront(ent)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).id)
	}
	c.mu.Unlock()

	ent.exe, ent.err = Inspect(path)
	if ent.err == nil && ent.exe.id != id {
		// The file changed between Stat and Open: key the result by what was
		// actually read, and let the next call retry this id.
		c.mu.Lock()
		if el, ok := c.entries[id]; ok && el.Value == ent {
			c.lru.Remove(el)
			delete(c.entries, id)
		}
		c.mu.Unlock()
	}
	close(ent.done)
	return ent.exe, ent.err
}

// Len returns the number of inspections held (including failed ones).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
