// Package runtimemetrics reads the Go runtime's own state (goroutines, GC,
// allocation profile buckets) out of another process's memory and turns it,
// together with kernel run-queue latency from sched tracepoints, into
// OpenTelemetry metrics. Nothing here probes a hot path of the target: the
// runtime keeps these figures for itself, and we only copy them.
package runtimemetrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// memReader reads a target's virtual memory. Reads are racy by nature (the
// target keeps running), so every consumer validates what it reads.
type memReader interface {
	ReadAt(p []byte, addr uint64) (int, error)
}

// procMem reads another process's memory with process_vm_readv, falling back
// to pread on /proc/<pid>/mem when the syscall is refused (some seccomp
// profiles forbid it).
type procMem struct {
	pid  int
	file *os.File // opened lazily for the fallback path
	// noVMReadv is set once process_vm_readv failed with ENOSYS/EPERM.
	noVMReadv bool
}

func newProcMem(pid int) *procMem { return &procMem{pid: pid} }

func (m *procMem) ReadAt(p []byte, addr uint64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !m.noVMReadv {
		local := []unix.Iovec{{Base: &p[0]}}
		local[0].SetLen(len(p))
		remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(p)}}
		n, err := unix.ProcessVMReadv(m.pid, local, remote, 0)
		if err == nil {
			if n < len(p) {
				return n, fmt.Errorf("read pid %d at %#x: short read %d of %d", m.pid, addr, n, len(p))
			}
			return n, nil
		}
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return 0, fmt.Errorf("read pid %d at %#x (%d bytes): %w", m.pid, addr, len(p), err)
		}
		m.noVMReadv = true
	}
	if m.file == nil {
		f, err := os.Open(fmt.Sprintf("/proc/%d/mem", m.pid))
		if err != nil {
			return 0, fmt.Errorf("open memory of pid %d: %w", m.pid, err)
		}
		m.file = f
	}
	n, err := m.file.ReadAt(p, int64(addr))
	if err != nil {
		return n, fmt.Errorf("read pid %d at %#x (%d bytes): %w", m.pid, addr, len(p), err)
	}
	return n, nil
}

func (m *procMem) Close() error {
	if m.file != nil {
		err := m.file.Close()
		m.file = nil
		return err
	}
	return nil
}

// readBatch fills bufs[i] from addrs[i] with as few syscalls as possible
// (process_vm_readv takes up to IOV_MAX iovecs per call). A failed entry is
// reported through ok[i] = false; the others are still read.
func readBatch(r memReader, addrs []uint64, bufs [][]byte, ok []bool) {
	pm, isProc := r.(*procMem)
	if !isProc || pm.noVMReadv {
		for i := range addrs {
			_, err := r.ReadAt(bufs[i], addrs[i])
			ok[i] = err == nil
		}
		return
	}
	const iovMax = 1024
	for start := 0; start < len(addrs); start += iovMax {
		end := min(start+iovMax, len(addrs))
		local := make([]unix.Iovec, 0, end-start)
		remote := make([]unix.RemoteIovec, 0, end-start)
		total := 0
		for i := start; i < end; i++ {
			iov := unix.Iovec{Base: &bufs[i][0]}
			iov.SetLen(len(bufs[i]))
			local = append(local, iov)
			remote = append(remote, unix.RemoteIovec{Base: uintptr(addrs[i]), Len: len(bufs[i])})
			total += len(bufs[i])
		}
		n, err := unix.ProcessVMReadv(pm.pid, local, remote, 0)
		if err == nil && n == total {
			for i := start; i < end; i++ {
				ok[i] = true
			}
			continue
		}
		// A partial read stops at the first bad iovec; read the rest one by one.
		for i := start; i < end; i++ {
			_, err := r.ReadAt(bufs[i], addrs[i])
			ok[i] = err == nil
		}
	}
}

var le = binary.LittleEndian

func readU64(r memReader, addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := r.ReadAt(b[:], addr); err != nil {
		return 0, err
	}
	return le.Uint64(b[:]), nil
}

// u64At and friends decode little-endian fields from a buffer, returning 0
// when the offset is outside it (a missing field reads as zero, never panics).
func u64At(b []byte, off int64) uint64 {
	if off < 0 || off+8 > int64(len(b)) {
		return 0
	}
	return le.Uint64(b[off:])
}

func u32At(b []byte, off int64) uint32 {
	if off < 0 || off+4 > int64(len(b)) {
		return 0
	}
	return le.Uint32(b[off:])
}

func u8At(b []byte, off int64) uint8 {
	if off < 0 || off >= int64(len(b)) {
		return 0
	}
	return b[off]
}
