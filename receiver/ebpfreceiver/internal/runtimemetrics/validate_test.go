package runtimemetrics

import (
	"encoding/binary"
	"errors"
	"testing"
)

// sliceMem is a target's memory as one byte slice starting at base.
type sliceMem struct {
	base uint64
	b    []byte
}

func (m sliceMem) Close() error { return nil }

func (m sliceMem) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < m.base || addr+uint64(len(p)) > m.base+uint64(len(m.b)) {
		return 0, errors.New("unmapped")
	}
	return copy(p, m.b[addr-m.base:]), nil
}

// TestValidGCControllerRejectsLookalikes feeds the validator snapshots of
// runtime.gcController and of the lookalike global that the stripped-binary
// locator once took for it (CI saw "GOGC -1" on a go1.23 stripped build: the
// lookalike ranks first among equal votes and passed whenever its
// "mappedReady" word happened to exceed its "heapInUse" word).
func TestValidGCControllerRejectsLookalikes(t *testing.T) {
	lay := layout{
		gcPercent: 8, gcMemoryLimit: 16, gcHeapGoal: 24, gcHeapLive: noField, gcHeapMarked: noField,
		gcHeapInUse: 32, gcHeapFree: noField, gcHeapReleased: noField, gcTotalAlloc: noField, gcMappedReady: 40,
	}
	const base = 0x1000
	snap := func(gogc int32, limit int64, goal, inUse, mapped uint64) *target {
		b := make([]byte, 64)
		binary.LittleEndian.PutUint32(b[8:], uint32(gogc))
		binary.LittleEndian.PutUint64(b[16:], uint64(limit))
		binary.LittleEndian.PutUint64(b[24:], goal)
		binary.LittleEndian.PutUint64(b[32:], inUse)
		binary.LittleEndian.PutUint64(b[40:], mapped)
		return &target{mem: sliceMem{base: base, b: b}, lay: &lay}
	}
	const maxInt64 = int64(^uint64(0) >> 1)
	for _, c := range []struct {
		name string
		t    *target
		want bool
	}{
		{"GOGC=100", snap(100, maxInt64, 4<<20, 401408, 3062800), true},
		{"GOGC=off", snap(-1, maxInt64, ^uint64(0), 401408, 3062800), true},
		{"GOGC=0", snap(0, maxInt64, 1<<20, 401408, 3062800), true},
		// The go1.23 lookalike: gcPercent word 0xffffffff, goal word 48.
		{"lookalike with finite goal", snap(-1, maxInt64, 48, 483328, 500000), false},
		{"goal below the minimum heap", snap(100, maxInt64, 1<<20, 401408, 3062800), false},
		{"heapInUse not whole pages", snap(100, maxInt64, 4<<20, 72984, 730658), false},
		{"mappedReady below heapInUse", snap(100, maxInt64, 4<<20, 483328, 0), false},
		{"no memory limit", snap(100, 0, 4<<20, 401408, 3062800), false},
		{"GOGC out of range", snap(-2, maxInt64, ^uint64(0), 401408, 3062800), false},
	} {
		if got := c.t.validGCController(base); got != c.want {
			t.Errorf("%s: valid = %v, want %v", c.name, got, c.want)
		}
	}
}
