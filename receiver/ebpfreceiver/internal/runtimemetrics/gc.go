package runtimemetrics

import "fmt"

// gcSnapshot is the GC state read from runtime.memstats and gcController.
type gcSnapshot struct {
	HaveMemstats   bool
	NumGC          uint32
	NumForcedGC    uint32
	PauseTotalNs   uint64
	LastGCUnix     uint64
	PauseNs        [256]uint64 // circular buffer, index (n-1)%256 is GC n
	HaveController bool
	GOGC           int64
	MemoryLimit    int64
	HeapGoal       uint64
	HeapLive       uint64
	HeapInUse      uint64
	HeapFree       uint64
	HeapReleased   uint64
	TotalAlloc     uint64
	MappedReady    uint64
}

// span returns the smallest [lo, hi) covering the given offsets (each
// followed by size bytes), ignoring unknown ones.
func span(size int64, offs ...int64) (lo, hi int64, ok bool) {
	lo, hi = 1<<62, -1
	for _, o := range offs {
		if o == noField {
			continue
		}
		lo = min(lo, o)
		hi = max(hi, o+size)
	}
	return lo, hi, hi > lo
}

// readGC reads the GC figures; an address of 0 skips that global.
func (t *target) readGC(memstats, gcController uint64) (gcSnapshot, error) {
	var s gcSnapshot
	l := t.lay
	if memstats != 0 {
		lo, hi, ok := span(8, l.msNumGC, l.msNumForcedGC, l.msPauseTotalNs, l.msLastGCUnix)
		if l.msPauseNs != noField {
			lo, hi = min(lo, l.msPauseNs), max(hi, l.msPauseNs+256*8)
		}
		if ok {
			b := make([]byte, hi-lo)
			if _, err := t.mem.ReadAt(b, memstats+uint64(lo)); err != nil {
				return s, fmt.Errorf("read runtime.memstats: %w", err)
			}
			s.HaveMemstats = true
			s.NumGC = u32At(b, l.msNumGC-lo)
			s.NumForcedGC = u32At(b, l.msNumForcedGC-lo)
			s.PauseTotalNs = u64At(b, l.msPauseTotalNs-lo)
			s.LastGCUnix = u64At(b, l.msLastGCUnix-lo)
			if l.msPauseNs != noField {
				for i := range s.PauseNs {
					s.PauseNs[i] = u64At(b, l.msPauseNs-lo+int64(8*i))
				}
			}
		}
	}
	if gcController != 0 {
		lo, hi, ok := span(8, l.gcPercent, l.gcMemoryLimit, l.gcHeapGoal, l.gcHeapLive, l.gcHeapMarked,
			l.gcHeapInUse, l.gcHeapFree, l.gcHeapReleased, l.gcTotalAlloc, l.gcMappedReady)
		if ok {
			b := make([]byte, hi-lo)
			if _, err := t.mem.ReadAt(b, gcController+uint64(lo)); err != nil {
				return s, fmt.Errorf("read runtime.gcController: %w", err)
			}
			s.HaveController = true
			s.GOGC = int64(int32(u32At(b, l.gcPercent-lo)))
			s.MemoryLimit = int64(u64At(b, l.gcMemoryLimit-lo))
			s.HeapGoal = u64At(b, l.gcHeapGoal-lo)
			s.HeapLive = u64At(b, l.gcHeapLive-lo)
			s.HeapInUse = u64At(b, l.gcHeapInUse-lo)
			s.HeapFree = u64At(b, l.gcHeapFree-lo)
			s.HeapReleased = u64At(b, l.gcHeapReleased-lo)
			s.TotalAlloc = u64At(b, l.gcTotalAlloc-lo)
			s.MappedReady = u64At(b, l.gcMappedReady-lo)
		}
	}
	return s, nil
}

// gcState accumulates what survives between collections: the pause
// histogram and the last GC cycle already counted.
type gcState struct {
	seen       bool
	lastNumGC  uint32
	pauses     log2Histogram
	lostPauses uint64 // cycles whose pause fell out of the 256-entry ring between two reads
}

// observe adds the pauses of the GC cycles completed since the last read.
func (g *gcState) observe(s gcSnapshot) {
	if !s.HaveMemstats {
		return
	}
	from := g.lastNumGC
	if !g.seen {
		// Cycles before we attached are still in the ring (up to 256):
		// counting them makes the histogram agree with the cycle counter.
		from = 0
		g.seen = true
	}
	if s.NumGC < from { // should not happen: the counter only grows
		g.lastNumGC = s.NumGC
		return
	}
	if n := s.NumGC - from; n > 256 {
		g.lostPauses += uint64(n - 256)
		from = s.NumGC - 256
	}
	for n := from + 1; n <= s.NumGC; n++ {
		g.pauses.recordNs(s.PauseNs[(n-1)%256])
	}
	g.lastNumGC = s.NumGC
}
