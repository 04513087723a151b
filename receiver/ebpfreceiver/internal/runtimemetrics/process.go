package runtimemetrics

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Where each runtime global is found in a stripped binary (see globals.go).
// The function lists name runtime functions that reference the global in
// every Go version from 1.19 to 1.26; missing ones are skipped.
var (
	allgsSpec = globalSpec{
		symbol:   "runtime.allgs",
		funcs:    []string{"runtime.allgadd"},
		fields:   []fieldRef{{"array", 0}, {"len", 8}, {"cap", 16}},
		minVotes: 3,
	}
	allpSpec = globalSpec{
		symbol:   "runtime.allp",
		funcs:    []string{"runtime.procresize", "runtime.gcStart"},
		fields:   []fieldRef{{"array", 0}, {"len", 8}, {"cap", 16}},
		minVotes: 2,
	}
	waitReasonStringsSpec = globalSpec{
		symbol:   "runtime.waitReasonStrings",
		funcs:    []string{"runtime.waitReason.String"},
		fields:   []fieldRef{{"array", 0}},
		minVotes: 1,
	}
	mbucketsSpec = globalSpec{
		symbol:     "runtime.mbuckets",
		funcs:      []string{"runtime.mProf_FlushLocked", "runtime.stkbucket", "runtime.memProfileInternal"},
		byFunction: true,
		minVotes:   2,
	}
	memProfileRateSpec = globalSpec{
		symbol: "runtime.MemProfileRate",
		funcs: []string{"runtime.profilealloc", "runtime.allocmcache", "runtime.mallocgc", "runtime.mallocgcTiny",
			"runtime.mallocgcSmallNoscan", "runtime.mallocgcSmallScanNoHeader", "runtime.mallocgcSmallScanHeader",
			"runtime.mallocgcLarge", "runtime.nextSample"},
		byFunction: true,
		minVotes:   3,
	}
)

func memstatsSpec(l *layout) globalSpec {
	return globalSpec{
		symbol: "runtime.memstats",
		funcs:  []string{"runtime.gcMarkTermination", "runtime.readmemstats_m"},
		fields: present(
			fieldRef{"numgc", uint64(l.msNumGC)}, fieldRef{"numforcedgc", uint64(l.msNumForcedGC)},
			fieldRef{"pause_total_ns", uint64(l.msPauseTotalNs)}, fieldRef{"pause_ns", uint64(l.msPauseNs)},
			fieldRef{"last_gc_unix", uint64(l.msLastGCUnix)}),
		minVotes: 3,
	}
}

func gcControllerSpec(l *layout) globalSpec {
	return globalSpec{
		symbol: "runtime.gcController",
		funcs:  []string{"runtime.gcMarkTermination", "runtime.(*mheap).grow", "runtime.gcStart", "runtime.gcControllerCommit", "runtime.readmemstats_m"},
		fields: present(
			fieldRef{"gcPercent", uint64(l.gcPercent)}, fieldRef{"memoryLimit", uint64(l.gcMemoryLimit)},
			fieldRef{"heapLive", uint64(l.gcHeapLive)}, fieldRef{"heapMarked", uint64(l.gcHeapMarked)},
			fieldRef{"heapInUse", uint64(l.gcHeapInUse)}, fieldRef{"heapFree", uint64(l.gcHeapFree)},
			fieldRef{"heapReleased", uint64(l.gcHeapReleased)}, fieldRef{"totalAlloc", uint64(l.gcTotalAlloc)},
			fieldRef{"gcPercentHeapGoal", uint64(l.gcHeapGoal)}),
		minVotes: 3,
	}
}

// present drops fields whose offset is unknown (noField).
func present(fs ...fieldRef) []fieldRef {
	out := fs[:0]
	for _, f := range fs {
		if int64(f.off) != noField {
			out = append(out, f)
		}
	}
	return out
}

// loadBias is what must be added to a link-time address to get the runtime
// address: 0 for ordinary executables. For PIE ones it is found from a code
// address (runtime.allgadd's entry): its file offset, and the mapping of the
// executable that covers that offset in /proc/<pid>/maps, give its runtime
// address. (Go's linker does not put PIE executables at 0.)
func loadBias(pid int, bin Binary) (uint64, error) {
	if !bin.PIE() {
		return 0, nil
	}
	_, vaddr, err := bin.FuncBytes("runtime.allgadd")
	if err != nil {
		return 0, fmt.Errorf("load bias of pid %d: %w", pid, err)
	}
	fileOff, err := bin.VaddrToFileOffset(vaddr)
	if err != nil {
		return 0, fmt.Errorf("load bias of pid %d: %w", pid, err)
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return 0, fmt.Errorf("load bias of pid %d: %w", pid, err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, fmt.Errorf("load bias of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe {
			continue
		}
		startS, endS, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(startS, 16, 64)
		end, err2 := strconv.ParseUint(endS, 16, 64)
		off, err3 := strconv.ParseUint(fields[2], 16, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return 0, fmt.Errorf("load bias of pid %d: parse %q: %w", pid, sc.Text(), err)
		}
		if fileOff >= off && fileOff < off+(end-start) {
			return start + (fileOff - off) - vaddr, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("load bias of pid %d: %w", pid, err)
	}
	return 0, fmt.Errorf("load bias of pid %d: no mapping of %s covers file offset %#x", pid, exe, fileOff)
}

// readString reads a Go string header (ptr, len) at addr and its bytes.
func readString(r memReader, addr uint64, maxLen int) (string, error) {
	var hdr [16]byte
	if _, err := r.ReadAt(hdr[:], addr); err != nil {
		return "", err
	}
	p, n := le.Uint64(hdr[:]), le.Uint64(hdr[8:])
	if n == 0 {
		return "", nil
	}
	if n > uint64(maxLen) {
		return "", fmt.Errorf("string at %#x: length %d too large", addr, n)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, p); err != nil {
		return "", err
	}
	return string(b), nil
}

// readWaitReasons reads runtime.waitReasonStrings from the target, so the
// names match its Go version exactly. The array is validated by its first
// two entries, which every Go version since 1.x has kept.
func readWaitReasons(r memReader, addr uint64) ([]string, error) {
	var out []string
	for i := 0; i < 256; i++ {
		s, err := readString(r, addr+uint64(i)*16, 64)
		if err != nil || !printable(s) {
			break
		}
		if i > 0 && s == "" {
			break // past the end of the array: next global
		}
		out = append(out, s)
	}
	if len(out) < 2 || out[0] != "" || out[1] != "GC assist marking" {
		return nil, errors.New("runtime.waitReasonStrings: unexpected contents")
	}
	return out, nil
}

func printable(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
