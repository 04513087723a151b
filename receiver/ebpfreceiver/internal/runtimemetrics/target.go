package runtimemetrics

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// targetMem is a target's memory: a procMem, or a fixed snapshot in tests.
type targetMem interface {
	memReader
	Close() error
}

// target is one instrumented process and what we know about its runtime.
type target struct {
	pid      int
	bin      Binary
	mem      targetMem
	bias     uint64
	lay      *layout
	res      *siteResolver
	attached time.Time

	// Runtime addresses (bias applied) of the globals we read; 0 = not found.
	allgs, allp, gomaxprocs, memstats, gcController, mbuckets, memProfileRate, sched uint64
	waitReasons                                                                      []string
	missing                                                                          []string // globals not found, for one log line

	leaks *leakDetector
	gc    gcState
	alloc allocState
}

// attachTarget inspects the process's runtime: layouts and global addresses.
// It fails only if goroutines cannot be read at all; GC and allocation
// figures degrade to "not reported" when their globals are not found.
func attachTarget(pid int, bin Binary, opts Options) (*target, error) {
	lay, err := loadLayout(bin)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	bias, err := loadBias(pid, bin)
	if err != nil {
		return nil, err
	}
	t := &target{
		pid: pid, bin: bin, mem: newProcMem(pid), bias: bias, lay: lay,
		res:      newSiteResolver(bin, bias),
		attached: time.Now(),
		leaks:    newLeakDetector(opts.LeakThreshold, opts.LeakWindow, 4*opts.TopKCreationSites+64),
		alloc:    allocState{stacks: map[uint64]allocSiteKey{}},
	}
	locate := func(spec globalSpec, validate func(uint64) bool) uint64 {
		var v func(uint64) bool
		if validate != nil {
			v = func(a uint64) bool { return validate(a + bias) }
		}
		a, err := locateGlobal(bin, spec, v)
		if err != nil {
			t.missing = append(t.missing, spec.symbol)
			return 0
		}
		return a + bias
	}
	t.allgs = locate(allgsSpec, t.validAllgs)
	if t.allgs == 0 {
		_ = t.mem.Close()
		return nil, fmt.Errorf("pid %d: runtime.allgs: %w", pid, errGlobalNotFound)
	}
	if a, _, ok := bin.Symbol("runtime.gomaxprocs"); ok {
		t.gomaxprocs = a + bias
	} else {
		t.allp = locate(allpSpec, t.validAllp)
	}
	t.memstats = locate(memstatsSpec(lay), t.validMemstats)
	if lay.schedTimeToRun != noField && bin.GoMinor() >= minGoForTimeHist {
		t.sched = locate(schedSpec(lay), t.validSched)
	}
	t.gcController = locate(gcControllerSpec(lay), t.validGCController)
	if a := locate(waitReasonStringsSpec, func(a uint64) bool {
		_, err := readWaitReasons(t.mem, a)
		return err == nil
	}); a != 0 {
		t.waitReasons, _ = readWaitReasons(t.mem, a)
	}
	t.mbuckets = locate(mbucketsSpec, t.validMbuckets)
	t.memProfileRate = locate(memProfileRateSpec, func(a uint64) bool {
		v, err := readU64(t.mem, a)
		return err == nil && v < 1<<31 // 0 (off), 1 (every allocation) .. a sane rate
	})
	return t, nil
}

func (t *target) close() error { return t.mem.Close() }

func (t *target) validAllgs(addr uint64) bool {
	var hdr [24]byte
	if _, err := t.mem.ReadAt(hdr[:], addr); err != nil {
		return false
	}
	ptr, n, c := le.Uint64(hdr[:]), le.Uint64(hdr[8:]), le.Uint64(hdr[16:])
	if n == 0 || n > c || c > 1<<26 || ptr == 0 {
		return false
	}
	g0, err := readU64(t.mem, ptr)
	if err != nil || g0 == 0 {
		return false
	}
	b := make([]byte, t.lay.gReadSize)
	if _, err := t.mem.ReadAt(b, g0); err != nil {
		return false
	}
	g := decodeG(b, t.lay)
	_, known := goroutineState(g.Status)
	return known || g.Status&^gScanBit == gIdle || g.Status&^gScanBit == gDead
}

// validMbuckets accepts an empty list (no sample yet) or one whose first
// bucket looks like a memory-profile bucket.
func (t *target) validMbuckets(addr uint64) bool {
	head, err := readU64(t.mem, addr)
	if err != nil {
		return false
	}
	if head == 0 {
		return true
	}
	var hdr [bucketHeaderSize]byte
	if _, err := t.mem.ReadAt(hdr[:], head); err != nil {
		return false
	}
	nstk := le.Uint64(hdr[bucketNstkOff:])
	return le.Uint64(hdr[bucketTypOff:]) == memBucketType && nstk > 0 && nstk <= 4096 && le.Uint64(hdr[bucketSizeOff:]) > 0
}

func (t *target) validAllp(addr uint64) bool {
	var hdr [24]byte
	if _, err := t.mem.ReadAt(hdr[:], addr); err != nil {
		return false
	}
	ptr, n, c := le.Uint64(hdr[:]), le.Uint64(hdr[8:]), le.Uint64(hdr[16:])
	if n == 0 || n > c || n > 1<<12 || ptr == 0 || t.lay.pID == noField {
		return false
	}
	for _, i := range []uint64{0, n - 1} {
		p, err := readU64(t.mem, ptr+8*i)
		if err != nil || p == 0 {
			return false
		}
		var id [4]byte
		if _, err := t.mem.ReadAt(id[:], p+uint64(t.lay.pID)); err != nil || uint64(le.Uint32(id[:])) != i {
			return false
		}
	}
	return true
}

func (t *target) validMemstats(addr uint64) bool {
	st, err := t.readGC(addr, 0)
	if err != nil || !st.HaveMemstats {
		return false
	}
	now := uint64(time.Now().UnixNano())
	if st.NumGC > 1<<30 || st.LastGCUnix > now+uint64(time.Hour) || st.NumForcedGC > st.NumGC {
		return false
	}
	if (st.NumGC == 0) != (st.LastGCUnix == 0) {
		return false
	}
	if st.NumGC > 0 && st.LastGCUnix < uint64(time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()) {
		return false
	}
	// The pause ring holds exactly NumGC non-empty slots until it wraps, and
	// their sum never exceeds the total pause time.
	var sum uint64
	for i, p := range st.PauseNs {
		if uint32(i) >= st.NumGC && p != 0 && st.NumGC < 256 {
			return false
		}
		sum += p
	}
	return sum <= st.PauseTotalNs
}

func (t *target) validGCController(addr uint64) bool {
	st, err := t.readGC(0, addr)
	if err != nil || !st.HaveController {
		return false
	}
	l := t.lay
	if st.GOGC < -1 || st.GOGC > 1<<20 {
		return false
	}
	if l.gcMemoryLimit != noField && st.MemoryLimit <= 0 {
		return false
	}
	if l.gcHeapInUse != noField && (st.HeapInUse == 0 || st.HeapInUse%8192 != 0 || st.HeapInUse > 1<<46) {
		return false // heapInUse counts whole 8 KiB pages
	}
	if l.gcMappedReady != noField && l.gcHeapInUse != noField && st.MappedReady < st.HeapInUse {
		return false
	}
	// With GC on, the goal is never below the 4 MiB minimum heap (scaled by GOGC).
	if l.gcHeapGoal != noField && st.GOGC > 0 && st.HeapGoal < uint64(4<<20)*uint64(st.GOGC)/100 {
		return false
	}
	// With GC off (GOGC=-1), every Go release from 1.19 on sets the goal to
	// ^uint64(0) (gcControllerCommit). Without this check a neighbouring
	// global that holds 0xffffffff where gcPercent would be passed now and
	// then and was reported as "GOGC -1" for a program running with 100.
	if l.gcHeapGoal != noField && st.GOGC < 0 && st.HeapGoal != ^uint64(0) {
		return false
	}
	return true
}

// goroutineChunk is how many goroutines are read per batch: memory per
// collection stays bounded (chunk x g read size) whatever the goroutine count.
const goroutineChunk = 4096

// collectGoroutines reads every g and summarises them.
func (t *target) collectGoroutines(maxGoroutines int) (goroutineSummary, error) {
	var hdr [24]byte
	if _, err := t.mem.ReadAt(hdr[:], t.allgs); err != nil {
		return goroutineSummary{}, fmt.Errorf("read runtime.allgs: %w", err)
	}
	ptr, n := le.Uint64(hdr[:]), le.Uint64(hdr[8:])
	if n > uint64(maxGoroutines) {
		n = uint64(maxGoroutines)
	}
	if ptr == 0 || n == 0 {
		return goroutineSummary{}, errors.New("runtime.allgs is empty")
	}
	agg := newGoroutineAggregator(t.res, t.waitReasons, monotonicNow())
	size := t.lay.gReadSize
	arr := make([]byte, 8*goroutineChunk)
	backing := make([]byte, size*goroutineChunk)
	bufs := make([][]byte, 0, goroutineChunk)
	addrs := make([]uint64, 0, goroutineChunk)
	ok := make([]bool, goroutineChunk)
	for start := uint64(0); start < n; start += goroutineChunk {
		cnt := min(n-start, goroutineChunk)
		if _, err := t.mem.ReadAt(arr[:8*cnt], ptr+8*start); err != nil {
			return goroutineSummary{}, fmt.Errorf("read allgs array: %w", err)
		}
		addrs, bufs = addrs[:0], bufs[:0]
		for i := range cnt {
			if p := le.Uint64(arr[8*i:]); p != 0 {
				addrs = append(addrs, p)
				k := len(bufs)
				bufs = append(bufs, backing[k*size:(k+1)*size])
			}
		}
		readBatch(t.mem, addrs, bufs, ok[:len(addrs)])
		for i, b := range bufs {
			if ok[i] {
				agg.add(decodeG(b, t.lay))
			}
		}
	}
	return agg.result(), nil
}

// readGOMAXPROCS returns the target's GOMAXPROCS.
func (t *target) readGOMAXPROCS() (int64, error) {
	if t.gomaxprocs != 0 {
		var b [4]byte
		if _, err := t.mem.ReadAt(b[:], t.gomaxprocs); err != nil {
			return 0, fmt.Errorf("read runtime.gomaxprocs: %w", err)
		}
		return int64(int32(le.Uint32(b[:]))), nil
	}
	if t.allp != 0 {
		n, err := readU64(t.mem, t.allp+8)
		if err != nil {
			return 0, fmt.Errorf("read len(runtime.allp): %w", err)
		}
		return int64(n), nil
	}
	return 0, fmt.Errorf("runtime.gomaxprocs: %w", errGlobalNotFound)
}

// monotonicNow is CLOCK_MONOTONIC in ns: the clock of the Go runtime's
// nanotime(), which g.waitsince uses.
func monotonicNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}
