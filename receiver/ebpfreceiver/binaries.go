package ebpfreceiver

import (
	"fmt"
	"syscall"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// binaryInfo is what the receiver learns from one executable file.
type binaryInfo struct {
	GoVersion string
	Probe     tracer.Binary
	// Exe is goexe's inspection, shared with the runtime metrics collector.
	Exe *goexe.Executable
	// ProbeErr says why the HTTP probes cannot be placed (an *attachError);
	// runtime metrics may still be collected.
	ProbeErr error
}

// inspectFunc inspects an executable; errors are *attachError.
type inspectFunc func(path string) (*binaryInfo, error)

// fileID identifies an executable file: processes of one binary share its
// inspection and BPF cookie.
type fileID struct {
	dev, ino uint64
	ctime    int64
}

// binaryState is kept after its last process exits (without its BPF
// cookie), so a restarted service reuses the resolved probe sites instead of
// re-reading a file whose /proc path died with the old process.
type binaryState struct {
	info   *binaryInfo
	err    error
	cookie uint32 // 0 while no process of this binary is attached
	refs   int
}

// maxIdleBinaries bounds the binaries remembered with no process attached.
const maxIdleBinaries = 256

func statFile(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{dev: st.Dev, ino: st.Ino, ctime: st.Ctim.Nano()}, nil
}

func (r *ebpfReceiver) binaryFor(pid int, id fileID) *binaryState {
	b, ok := r.binaries[id]
	if !ok {
		r.evictIdleBinaries()
		b = &binaryState{}
		b.info, b.err = r.inspect(fmt.Sprintf("/proc/%d/exe", pid))
		r.binaries[id] = b
	}
	return b
}

// cookieFor registers the binary's offsets with the tracer on first use.
func (r *ebpfReceiver) cookieFor(b *binaryState) (uint32, error) {
	if b.cookie == 0 {
		cookie, err := r.tracer.AddBinary(b.info.Probe.Offsets)
		if err != nil {
			return 0, err
		}
		b.cookie = cookie
	}
	return b.cookie, nil
}

func (r *ebpfReceiver) evictIdleBinaries() {
	idle := 0
	for _, b := range r.binaries {
		if b.refs == 0 {
			idle++
		}
	}
	for id, b := range r.binaries {
		if idle < maxIdleBinaries {
			return
		}
		if b.refs == 0 {
			delete(r.binaries, id)
			idle--
		}
	}
}
