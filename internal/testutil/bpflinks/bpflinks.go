// Package bpflinks reads, from the kernel, which BPF links on this machine
// concern one executable: how many uprobes a benchmark's target carries is
// counted from the real attachments, never assumed.
package bpflinks

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Kernel ABI (include/uapi/linux/bpf.h) for the parts of struct
// bpf_link_info read here; cilium/ebpf does not expose a uprobe's file.
const (
	bpfObjGetInfoByFD  = 15
	perfEventUprobe    = 1 // BPF_PERF_EVENT_UPROBE
	perfEventUretprobe = 2 // BPF_PERF_EVENT_URETPROBE
)

// linkInfo is struct bpf_link_info: a header, then a union at offset 16.
type linkInfo struct {
	typ, id, progID, _ uint32
	union              [96]byte
}

// scratch holds what the kernel reads and writes through the pointers in
// the syscall's arguments. Globals never move; a stack copy could, between
// taking an address and the syscall.
var scratch struct {
	mu   sync.Mutex
	info linkInfo
	name [unix.PathMax]byte
	attr struct {
		fd, infoLen uint32
		info        uint64
	}
}

func objInfo(fd int, info *linkInfo) error {
	attr := &scratch.attr
	attr.fd, attr.infoLen, attr.info = uint32(fd), uint32(unsafe.Sizeof(*info)), uint64(uintptr(unsafe.Pointer(info)))
	_, _, errno := unix.Syscall(unix.SYS_BPF, bpfObjGetInfoByFD, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	if errno != 0 {
		return errno
	}
	return nil
}

func putU64(b []byte, v uint64) { *(*uint64)(unsafe.Pointer(&b[0])) = v }
func putU32(b []byte, v uint32) { *(*uint32)(unsafe.Pointer(&b[0])) = v }
func u32(b []byte) uint32       { return *(*uint32)(unsafe.Pointer(&b[0])) }

// uprobesOf returns the executable and the number of uprobes of one link
// (0 and "" for a link that is not a uprobe).
func uprobesOf(fd int, typ link.Type) (path string, n int, err error) {
	scratch.mu.Lock()
	defer scratch.mu.Unlock()
	info, name := &scratch.info, &scratch.name
	*info, *name = linkInfo{}, [unix.PathMax]byte{}
	switch typ {
	case link.PerfEventType:
		// perf_event: type u32, pad u32, uprobe { file_name u64, name_len u32, ... }.
		putU64(info.union[8:], uint64(uintptr(unsafe.Pointer(&name[0]))))
		putU32(info.union[16:], uint32(len(name)))
		if err := objInfo(fd, info); err != nil {
			return "", 0, err
		}
		if t := u32(info.union[0:]); t != perfEventUprobe && t != perfEventUretprobe {
			return "", 0, nil
		}
		return cString(name[:]), 1, nil
	case link.UprobeMultiType:
		// uprobe_multi: path u64, offsets u64, ref_ctr_offsets u64, cookies u64,
		// path_size u32, count u32, flags u32, pid u32.
		putU64(info.union[0:], uint64(uintptr(unsafe.Pointer(&name[0]))))
		putU32(info.union[32:], uint32(len(name)))
		if err := objInfo(fd, info); err != nil {
			return "", 0, err
		}
		return cString(name[:]), int(u32(info.union[36:])), nil
	}
	return "", 0, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// Uprobes counts the uprobes attached through BPF links to the executable
// at path, by any process on the machine: one per perf-event uprobe link,
// the probe count of each uprobe-multi link. It needs root (CAP_SYS_ADMIN,
// to open other programs' links by id).
func Uprobes(path string) (int, error) {
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		return 0, err
	}
	if want, err = filepath.Abs(want); err != nil {
		return 0, err
	}
	var n int
	it := new(link.Iterator)
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			continue // the link went away while we looked
		}
		fdl, ok := it.Link.(interface{ FD() int })
		if !ok {
			continue
		}
		got, k, err := uprobesOf(fdl.FD(), info.Type)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return 0, fmt.Errorf("link %d: %w", it.ID, err)
		}
		if k > 0 && got == want {
			n += k
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("iterate BPF links: %w", err)
	}
	return n, nil
}
