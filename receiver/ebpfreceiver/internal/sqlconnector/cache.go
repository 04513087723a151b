package sqlconnector

import (
	"sync"
)

// maxCached bounds the cache; past it, lookups are read each time (a
// process with thousands of pools is not expected).
const maxCached = 4096

// Cache remembers the server of each pool by (pid, *sql.DB): a pool's
// connector does not change, so its memory is read once. A pool closed
// and another opened at the same address keeps the first one's server
// until the process exits.
type Cache struct {
	mu      sync.Mutex
	servers map[poolKey]Server
	// open gives a process's memory and names (ok false: nothing can be
	// read); done is called when the reading is over.
	open func(pid uint32) (p Process, done func(), ok bool)
}

type poolKey struct {
	pid uint32
	db  uint64
}

// NewCache returns a cache reading processes opened by open.
func NewCache(open func(pid uint32) (p Process, done func(), ok bool)) *Cache {
	return &Cache{servers: map[poolKey]Server{}, open: open}
}

// Lookup returns the server of the pool at db in process pid (empty when
// nothing could be read; that too is remembered).
func (c *Cache) Lookup(pid uint32, db uint64) Server {
	if c == nil || db == 0 {
		return Server{}
	}
	k := poolKey{pid, db}
	c.mu.Lock()
	s, ok := c.servers[k]
	c.mu.Unlock()
	if ok {
		return s
	}
	p, done, ok := c.open(pid)
	if !ok {
		return Server{}
	}
	s, _ = Read(p, db) // what could be read; errors name no DSN content
	done()
	c.mu.Lock()
	if len(c.servers) < maxCached {
		c.servers[k] = s
	}
	c.mu.Unlock()
	return s
}

// Forget drops a process's pools (it exited).
func (c *Cache) Forget(pid uint32) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.servers {
		if k.pid == pid {
			delete(c.servers, k)
		}
	}
}
