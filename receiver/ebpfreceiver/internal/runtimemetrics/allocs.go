package runtimemetrics

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// largeObjectSize is the runtime's large-object threshold: objects above it
// get their own span and are counted apart.
const largeObjectSize = 32 << 10

// allocSiteKey identifies an allocation site: the first frame outside the
// runtime in the sampled stack, and whether the objects are large.
type allocSiteKey struct {
	Site  codeSite
	Large bool
}

// allocSite is one site's estimated allocations since the process started.
type allocSite struct {
	Key     allocSiteKey
	Objects float64
	Bytes   float64
}

type allocState struct {
	// stacks caches each bucket's site by bucket address: a bucket's stack
	// never changes after creation, only its counters do.
	stacks         map[uint64]allocSiteKey
	rateZeroLogged bool
}

// maxBuckets bounds one walk of the bucket list (a corrupt or racing list
// cannot make us loop forever).
const maxBuckets = 1 << 17

// readMemProfileRate returns the target's runtime.MemProfileRate (-1 if unknown).
func (t *target) readMemProfileRate() int64 {
	if t.memProfileRate == 0 {
		return -1
	}
	v, err := readU64(t.mem, t.memProfileRate)
	if err != nil {
		return -1
	}
	return int64(v)
}

// collectAllocations walks runtime.mbuckets and sums the sampled
// allocations of each site, scaled to estimates of the true counts the way
// pprof scales them (a sampled object of size s stands for
// 1/(1-exp(-s/rate)) objects).
func (t *target) collectAllocations(rate int64) ([]allocSite, error) {
	if t.mbuckets == 0 {
		return nil, fmt.Errorf("runtime.mbuckets: %w", errGlobalNotFound)
	}
	head, err := readU64(t.mem, t.mbuckets)
	if err != nil {
		return nil, fmt.Errorf("read runtime.mbuckets: %w", err)
	}
	sites := map[allocSiteKey]*allocSite{}
	var hdr [bucketHeaderSize]byte
	rec := make([]byte, memRecordSize)
	for b, n := head, 0; b != 0 && n < maxBuckets; n++ {
		if _, err := t.mem.ReadAt(hdr[:], b); err != nil {
			return nil, fmt.Errorf("read bucket at %#x: %w", b, err)
		}
		next := le.Uint64(hdr[bucketAllNextOff:])
		if le.Uint64(hdr[bucketTypOff:]) != memBucketType {
			b = next
			continue
		}
		size := le.Uint64(hdr[bucketSizeOff:])
		nstk := le.Uint64(hdr[bucketNstkOff:])
		if nstk > 4096 {
			return nil, fmt.Errorf("bucket at %#x: implausible stack depth %d", b, nstk)
		}
		key, cached := t.alloc.stacks[b]
		if !cached {
			stk := make([]byte, 8*nstk)
			if _, err := t.mem.ReadAt(stk, b+bucketHeaderSize); err != nil {
				return nil, fmt.Errorf("read bucket stack at %#x: %w", b, err)
			}
			key = allocSiteKey{Site: t.allocSite(stk), Large: size > largeObjectSize}
			t.alloc.stacks[b] = key
		}
		if _, err := t.mem.ReadAt(rec, b+bucketHeaderSize+8*nstk); err != nil {
			return nil, fmt.Errorf("read bucket record at %#x: %w", b, err)
		}
		// active + the three future cycles: the published profile lags a
		// GC cycle or two; including future cycles keeps the figures current.
		var allocs, bytes uint64
		for c := range 4 {
			allocs += le.Uint64(rec[c*memRecordCycleLen:])
			bytes += le.Uint64(rec[c*memRecordCycleLen+16:])
		}
		s := sites[key]
		if s == nil {
			s = &allocSite{Key: key}
			sites[key] = s
		}
		scale := sampleScale(size, rate)
		s.Objects += float64(allocs) * scale
		s.Bytes += float64(bytes) * scale
		b = next
	}
	out := make([]allocSite, 0, len(sites))
	for _, s := range sites {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Key.Site.String() < out[j].Key.Site.String()
	})
	return out, nil
}

// sampleScale is pprof's unsampling factor for objects of a given size.
func sampleScale(size uint64, rate int64) float64 {
	if rate <= 1 || size == 0 {
		return 1
	}
	return 1 / (1 - math.Exp(-float64(size)/float64(rate)))
}

// allocSite resolves a sampled stack (innermost frame first) and picks
// the frame it is attributed to (see attributeAllocation).
func (t *target) allocSite(stk []byte) codeSite {
	frames := make([]codeSite, 0, len(stk)/8)
	for i := 0; i+8 <= len(stk); i += 8 {
		frames = append(frames, t.res.resolve(le.Uint64(stk[i:])))
	}
	return attributeAllocation(frames)
}

// attributeAllocation picks the frame of a sampled allocation stack
// (innermost first) that asked for the memory, as a pprof user reads the
// stack: the first frame outside the runtime. A stack that never leaves the
// runtime (the runtime allocating for itself on the system stack: an M's
// g0 in runtime.allocm, a goroutine's g in runtime.malg, the timer heap)
// goes to its first frame past the allocator's own entry points
// (runtime.mallocgc, newobject, makeslice, growslice, ...), never to
// mallocgc itself; only a stack made of nothing else keeps its first frame.
func attributeAllocation(frames []codeSite) codeSite {
	for _, f := range frames {
		if f.Function != "unknown" && !inRuntime(f.Function) {
			return f
		}
	}
	for _, f := range frames {
		if f.Function != "unknown" && !isAllocator(f.Function) {
			return f
		}
	}
	if len(frames) == 0 {
		return codeSite{Function: "unknown"}
	}
	return frames[0]
}

// allocatorEntries are the runtime functions that allocate on behalf of
// their caller: the heap allocator and the make/new/append/string/interface
// conversions the compiler turns into calls (names after "runtime.").
var allocatorEntries = []string{
	"mallocgc", "newobject", "newarray", "makeslice", "growslice", "makemap", "makechan",
	"rawstring", "rawbyteslice", "rawruneslice", "concatstring", "concatbyte",
	"slicebytetostring", "slicerunetostring", "stringtoslicebyte", "stringtoslicerune", "intstring",
	"convT", "mapassign", "profilealloc", "mProf_Malloc", "(*mcache).",
}

// isAllocator says whether fn is the allocator's own machinery: one of
// allocatorEntries (or a variant: mallocgcSmallNoscan, makemap_small,
// convTstring, ...) or the internal runtime packages' map code.
func isAllocator(fn string) bool {
	if strings.HasPrefix(fn, "internal/runtime/") || strings.HasPrefix(fn, "runtime/internal/") {
		return true
	}
	name, ok := strings.CutPrefix(fn, "runtime.")
	if !ok {
		return false
	}
	for _, e := range allocatorEntries {
		if strings.HasPrefix(name, e) {
			return true
		}
	}
	return false
}

// foldAllocSites keeps the top k sites (by bytes) and folds the rest into
// one "other" site per size class; it returns how many sites were folded.
func foldAllocSites(sites []allocSite, k int) (kept []allocSite, folded int) {
	if len(sites) <= k {
		return sites, 0
	}
	kept = append([]allocSite(nil), sites[:k]...)
	others := map[bool]*allocSite{}
	for _, s := range sites[k:] {
		o := others[s.Key.Large]
		if o == nil {
			o = &allocSite{Key: allocSiteKey{Site: otherSite, Large: s.Key.Large}}
			others[s.Key.Large] = o
		}
		o.Objects += s.Objects
		o.Bytes += s.Bytes
	}
	for _, large := range []bool{false, true} {
		if o := others[large]; o != nil {
			kept = append(kept, *o)
		}
	}
	return kept, len(sites) - k
}
