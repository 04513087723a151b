package hints

import "strings"

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
	// folded counts lookups that fell into other since the last Folded call.
	folded int64
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

// id returns v's id, assigning one if there is room. It allocates only for a new value.
func (in *interner) id(v string, key uint8, gen int64) int32 {
	if id, ok := in.ids[v]; ok {
		in.lastGen[id] = gen
		return id
	}
	return in.add(strings.Clone(v), key, gen)
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
		in.lastGen[other] = gen
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

// recycle frees the ids not counted since before oldest.
func (in *interner) recycle(oldest int64) {
	for id := int32(1); id < int32(len(in.values)); id++ {
		v := in.values[id]
		if v == "" || in.lastGen[id] >= oldest {
			continue
		}
		delete(in.ids, v)
		in.values[id] = ""
		in.free = append(in.free, id)
	}
}

// size is the number of values held (other excluded).
func (in *interner) size() int { return len(in.ids) }
