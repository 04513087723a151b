package runtimemetrics

import (
	"fmt"
)

// noField marks a field this Go version does not have (or whose offset is
// unknown); reads of it yield zero and the metric built from it is skipped.
const noField = -1

// layout holds the offsets of the runtime struct fields we read, for one
// binary. Offsets come from DWARF when the binary has it, else from goexe's
// per-version table (generated from offsets_fields.txt).
type layout struct {
	// runtime.g
	gStatus, gGoid, gWaitSince, gWaitReason, gGopc, gStartPC int64
	gReadSize                                                int // bytes of a g we copy: covers every field above

	// runtime.mstats (the memstats global)
	msNumGC, msNumForcedGC, msPauseTotalNs, msPauseNs, msLastGCUnix int64

	// runtime.gcControllerState (the gcController global)
	gcPercent, gcMemoryLimit, gcHeapGoal, gcHeapLive, gcHeapMarked int64
	gcHeapInUse, gcHeapFree, gcHeapReleased, gcTotalAlloc          int64
	gcMappedReady                                                  int64

	// runtime.p
	pID int64

	// runtime.schedt (the sched global)
	schedLock, schedNmidle, schedNmidlelocked, schedMnext, schedMaxmcount int64
	schedNmsys, schedNmfreed, schedTimeToRun                              int64
}

// fieldSpec names one field and where its offset goes.
type fieldSpec struct {
	strct, field string
	dst          *int64
	required     bool
}

func (l *layout) fields() []fieldSpec {
	return []fieldSpec{
		{"runtime.g", "atomicstatus", &l.gStatus, true},
		{"runtime.g", "goid", &l.gGoid, true},
		{"runtime.g", "waitsince", &l.gWaitSince, false},
		{"runtime.g", "waitreason", &l.gWaitReason, true},
		{"runtime.g", "gopc", &l.gGopc, true},
		{"runtime.g", "startpc", &l.gStartPC, true},

		{"runtime.mstats", "numgc", &l.msNumGC, false},
		{"runtime.mstats", "numforcedgc", &l.msNumForcedGC, false},
		{"runtime.mstats", "pause_total_ns", &l.msPauseTotalNs, false},
		{"runtime.mstats", "pause_ns", &l.msPauseNs, false},
		{"runtime.mstats", "last_gc_unix", &l.msLastGCUnix, false},

		{"runtime.gcControllerState", "gcPercent", &l.gcPercent, false},
		{"runtime.gcControllerState", "memoryLimit", &l.gcMemoryLimit, false},
		{"runtime.gcControllerState", "gcPercentHeapGoal", &l.gcHeapGoal, false},
		{"runtime.gcControllerState", "heapLive", &l.gcHeapLive, false},
		{"runtime.gcControllerState", "heapMarked", &l.gcHeapMarked, false},
		{"runtime.gcControllerState", "heapInUse", &l.gcHeapInUse, false},
		{"runtime.gcControllerState", "heapFree", &l.gcHeapFree, false},
		{"runtime.gcControllerState", "heapReleased", &l.gcHeapReleased, false},
		{"runtime.gcControllerState", "totalAlloc", &l.gcTotalAlloc, false},
		{"runtime.gcControllerState", "mappedReady", &l.gcMappedReady, false},

		{"runtime.p", "id", &l.pID, false},

		{"runtime.schedt", "lock", &l.schedLock, false},
		{"runtime.schedt", "nmidle", &l.schedNmidle, false},
		{"runtime.schedt", "nmidlelocked", &l.schedNmidlelocked, false},
		{"runtime.schedt", "mnext", &l.schedMnext, false},
		{"runtime.schedt", "maxmcount", &l.schedMaxmcount, false},
		{"runtime.schedt", "nmsys", &l.schedNmsys, false},
		{"runtime.schedt", "nmfreed", &l.schedNmfreed, false},
		{"runtime.schedt", "timeToRun", &l.schedTimeToRun, false},
	}
}

// loadLayout resolves every field offset for bin. It fails only when a
// field needed for goroutine counting is unknown.
func loadLayout(bin Binary) (*layout, error) {
	l := &layout{}
	var maxG int64
	for _, f := range l.fields() {
		off, ok := bin.FieldOffset(f.strct, f.field)
		if !ok {
			if f.required {
				return nil, fmt.Errorf("offset of %s.%s unknown for go1.%d", f.strct, f.field, bin.GoMinor())
			}
			*f.dst = noField
			continue
		}
		*f.dst = int64(off)
		if f.strct == "runtime.g" {
			maxG = max(maxG, int64(off)+8)
		}
	}
	l.gReadSize = int(maxG)
	return l, nil
}

// Status values of runtime.g.atomicstatus, unchanged from Go 1.19 to 1.26
// (1.26 adds _Gleaked and _Gdeadextra).
const (
	gIdle      = 0
	gRunnable  = 1
	gRunning   = 2
	gSyscall   = 3
	gWaiting   = 4
	gDead      = 6
	gCopystack = 8
	gPreempted = 9
	gLeaked    = 10
	gDeadExtra = 11
	gScanBit   = 0x1000
)

// goroutineState maps a raw status to the go.goroutine.state attribute
// value; ok is false for goroutines that do not exist for the user (idle,
// dead, or the extra Ms' goroutines kept for cgo callbacks).
func goroutineState(status uint32) (state string, ok bool) {
	switch status &^ gScanBit {
	case gRunnable:
		return "runnable", true
	case gRunning:
		return "running", true
	case gSyscall:
		return "syscall", true
	case gWaiting, gCopystack, gPreempted:
		// A goroutine whose stack is being copied or that was preempted
		// is, for the user, waiting to run again.
		if status&^gScanBit == gWaiting {
			return "waiting", true
		}
		return "runnable", true
	case gLeaked:
		return "leaked", true
	default:
		return "", false
	}
}

// goRuntimeBucket layout (runtime.bucket followed by the stack and a
// memRecord), unchanged from Go 1.19 to 1.26 on 64-bit targets:
//
//	next, allnext *bucket; typ bucketType; hash, size, nstk uintptr
//	stk [nstk]uintptr
//	memRecord{ active memRecordCycle; future [3]memRecordCycle }
//	memRecordCycle{ allocs, frees, alloc_bytes, free_bytes uintptr }
const (
	bucketAllNextOff  = 8
	bucketTypOff      = 16
	bucketSizeOff     = 32
	bucketNstkOff     = 40
	bucketHeaderSize  = 48
	memRecordCycleLen = 32
	memRecordSize     = 4 * memRecordCycleLen
	memBucketType     = 1 // runtime.memProfile
)
