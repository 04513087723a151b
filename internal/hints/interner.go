package hints

import (
	"strconv"
	"strings"
)

// other is the value id that every value beyond a dimension's max_values folds into.
const other int32 = 0

// noValue marks a dimension absent from a span.
const noValue int32 = -1

// interner maps the values of one dimension to small ids, at most max values at once, so
// that per-subject counts are plain arrays indexed by id. A value seen while the interner
// is full folds into other. Ids of values unseen for two generations (a whole window) are
// recycled at rotation: by then no subject holds a count for them.
type interner struct {
	ids     map[string]int32
	values  []string // by id; values[other] is "other"
	keys    []uint8  // by id: which alternative key the value came from
	lastGen []int64  // by id: the last generation the id was counted in
	free    []int32
	// folded counts lookups that fell into other (and values evicted into it) since the
	// last Folded call.
	folded int64
	// pressure says a value was folded in the current generation: the table is full.
	pressure bool
	// recent is a small direct-mapped cache in front of ids, and ints one for small
	// integer values (status codes): most spans repeat a few values, and a cache hit costs
	// a string compare instead of a hash lookup. Both are cleared when ids are recycled.
	recent [recentSets * 2]recentValue
	// victim is, per set of recent, the way to replace next (the older one).
	victim [recentSets]uint8
	ints   []int32 // by value, for 0 <= value < len(ints); noValue when not cached
}

const (
	// recent is 2-way set-associative: two values that map to one set both stay cached.
	recentSets = 8
	// intCacheSize covers HTTP and gRPC status codes.
	intCacheSize = 1024
)

type recentValue struct {
	v  string
	id int32
}

// recentSet mixes the length and three bytes into a set number: cheap, and spread enough
// for the few routes or versions a service has.
func recentSet(v string) int {
	n := len(v)
	h := (uint32(n) ^ uint32(v[0])<<8 ^ uint32(v[n/2])<<16 ^ uint32(v[n-1])<<24) * 0x9e3779b1
	return int(h >> 29) // 3 bits: recentSets
}

func newInterner(max int) *interner {
	in := &interner{
		ids:     make(map[string]int32, max),
		values:  make([]string, max+1),
		keys:    make([]uint8, max+1),
		lastGen: make([]int64, max+1),
		free:    make([]int32, 0, max),
	}
	in.values[other] = "other"
	for id := int32(max); id >= 1; id-- {
		in.free = append(in.free, id)
	}
	return in
}

// id returns v's id (v is not empty), assigning one if there is room. It allocates only
// for a new value.
func (in *interner) id(v string, key uint8, gen int64) int32 {
	set := recentSet(v)
	ways := in.recent[set*2 : set*2+2]
	for w := range ways {
		if ways[w].v == v {
			in.lastGen[ways[w].id] = gen
			in.victim[set] = uint8(1 - w)
			return ways[w].id
		}
	}
	id, ok := in.ids[v]
	if !ok {
		v = strings.Clone(v)
		id = in.add(v, key, gen)
	}
	in.lastGen[id] = gen
	if id != other {
		w := in.victim[set]
		ways[w] = recentValue{v: in.values[id], id: id}
		in.victim[set] = 1 - w
	}
	return id
}

// intID is id for an integer value.
func (in *interner) intID(n int64, scratch []byte, key uint8, gen int64) int32 {
	if n >= 0 && n < intCacheSize {
		if in.ints == nil {
			in.ints = make([]int32, intCacheSize)
			for i := range in.ints {
				in.ints[i] = noValue
			}
		}
		if id := in.ints[n]; id != noValue {
			in.lastGen[id] = gen
			return id
		}
		id := in.idBytes(strconv.AppendInt(scratch[:0], n, 10), key, gen)
		if id != other {
			in.ints[n] = id
		}
		return id
	}
	return in.idBytes(strconv.AppendInt(scratch[:0], n, 10), key, gen)
}

// idBytes is id for a value held in a scratch buffer (a formatted integer); the lookup
// does not allocate.
func (in *interner) idBytes(v []byte, key uint8, gen int64) int32 {
	if id, ok := in.ids[string(v)]; ok {
		in.lastGen[id] = gen
		return id
	}
	return in.add(string(v), key, gen)
}

func (in *interner) add(v string, key uint8, gen int64) int32 {
	n := len(in.free)
	if n == 0 {
		in.folded++
		in.pressure = true
		return other
	}
	id := in.free[n-1]
	in.free = in.free[:n-1]
	in.ids[v] = id
	in.values[id], in.keys[id], in.lastGen[id] = v, key, gen
	return id
}

// touch marks id as counted in gen (a downstream value counted after it was interned).
func (in *interner) touch(id int32, gen int64) {
	if id > other {
		in.lastGen[id] = gen
	}
}

// recycle frees the ids not counted since before oldest, and empties the caches (ids
// may have been released).
func (in *interner) recycle(oldest int64) {
	in.recent = [recentSets * 2]recentValue{}
	for i := range in.ints {
		in.ints[i] = noValue
	}
	for id := int32(1); id < int32(len(in.values)); id++ {
		if in.values[id] != "" && in.lastGen[id] < oldest {
			in.release(id)
		}
	}
}

// release frees id for another value.
func (in *interner) release(id int32) {
	delete(in.ids, in.values[id])
	in.values[id] = ""
	in.free = append(in.free, id)
}

// size is the number of values held (other excluded).
func (in *interner) size() int { return len(in.ids) }
