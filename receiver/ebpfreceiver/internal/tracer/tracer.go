// Package tracer loads the HTTP probes (bpf/http/http.c) into the kernel,
// attaches them to Go processes and drains their events from the ring buffer.
//
// One program set serves every process. Each binary (inode) gets a cookie;
// the cookie travels with every uprobe attached to that binary and selects
// the binary's struct field offsets in the go_offsets_by_cookie map.
package tracer

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
)

// Offsets are what the probes read in one Go binary: struct field offsets
// by field ID (fields.Unknown where not known) and addresses.
type Offsets struct {
	Fields fields.Table
	// GopanicVaddr is runtime.gopanic's unrelocated entry address: the
	// panic probe subtracts the load bias from the panic value's type.
	GopanicVaddr uint64
}

func (o Offsets) bpf() httpGoOffsets {
	return httpGoOffsets{Field: o.Fields, GopanicVaddr: o.GopanicVaddr}
}

// Function is a probed function's location in the executable file: uprobes
// go at EntryOffset and at every ReturnOffsets entry (file offsets).
type Function struct {
	Name          string
	EntryOffset   uint64
	ReturnOffsets []uint64
}

// Binary is what the probes need to know about one executable.
type Binary struct {
	Offsets Offsets
	// ServeHTTP is net/http.serverHandler.ServeHTTP; nil if absent.
	ServeHTTP *Function
	// RoundTrip is net/http.(*Transport).roundTrip; nil if absent.
	RoundTrip *Function
	// Newproc1 is runtime.newproc1; nil if absent.
	Newproc1 *Function
	// Gopanic (entry only) and RecoveryResume (runtime.recovery's call of
	// gogo, as ReturnOffsets) end the span of a request whose handler
	// panicked; nil when either is missing, and panicking requests then
	// produce no span.
	Gopanic, RecoveryResume *Function
}

// Options configure the loaded programs.
type Options struct {
	// RingBufferSize in bytes; rounded up to a power of two of at least one page.
	RingBufferSize int
	// ExtractTraceContext and ExtractB3 enable parent extraction from
	// incoming request heads.
	ExtractTraceContext bool
	ExtractB3           bool
	// CaptureQuery: server spans carry the request's query string
	// (url.query; redacted in user space).
	CaptureQuery bool
	// EmptyPrograms attaches a program that does nothing at every probe
	// site instead of the real ones: the benchmark's baseline.
	EmptyPrograms bool
	// PerfEventUprobes attaches every probe site as its own perf_event
	// uprobe instead of one uprobe_multi link per program and function.
	// Kernels before 6.6 have only that way (Attach falls back to it by
	// itself there); since Linux 6.16 (commit ba677dbe77af, backported to
	// the stable kernels) creating a perf_event uprobe needs CAP_SYS_ADMIN,
	// while a uprobe_multi link needs only CAP_BPF and CAP_PERFMON.
	PerfEventUprobes bool
}

// Probes selects which functions are probed in a process.
type Probes struct {
	Server bool
	Client bool
}

// HitIndex names the probe hit counters.
type HitIndex int

const (
	HitServerEntry HitIndex = iota
	HitServerReturn
	HitClientEntry
	HitClientReturn
	HitNewprocReturn
	HitEmpty
	HitPanic
	HitRecovery
	hitCount = 8
)

// Tracer owns the loaded programs and maps.
type Tracer struct {
	objs   httpObjects
	reader *ringbuf.Reader
	opts   Options

	mu         sync.Mutex
	nextCookie uint32
	// multi: attach with uprobe_multi links (cleared by the first Attach on
	// a kernel without them).
	multi bool
}

// New loads the programs and maps into the kernel.
func New(opts Options) (*Tracer, error) {
	spec, err := loadHttp()
	if err != nil {
		return nil, fmt.Errorf("load BPF spec: %w", err)
	}
	size := ringSize(opts.RingBufferSize)
	spec.Maps["events"].MaxEntries = uint32(size)
	var extract uint32
	if opts.ExtractTraceContext {
		extract |= 1
	}
	if opts.ExtractB3 {
		extract |= 2
	}
	if err := spec.Variables["extract_flags"].Set(extract); err != nil {
		return nil, fmt.Errorf("set extract_flags: %w", err)
	}
	var captureQuery uint32
	if opts.CaptureQuery {
		captureQuery = 1
	}
	if err := spec.Variables["capture_query"].Set(captureQuery); err != nil {
		return nil, fmt.Errorf("set capture_query: %w", err)
	}
	// Wake the reader early when a quarter of the ring is used, so a burst
	// cannot fill it between two timed drains.
	if err := spec.Variables["wakeup_threshold"].Set(uint64(size / 4)); err != nil {
		return nil, fmt.Errorf("set wakeup_threshold: %w", err)
	}
	t := &Tracer{opts: opts, nextCookie: 1, multi: !opts.PerfEventUprobes}
	if t.multi {
		// Kernels before 6.6 ignore the attach type of a kprobe-type
		// program, so the same programs still attach as perf_event uprobes
		// there.
		for _, p := range spec.Programs {
			p.AttachType = ebpf.AttachTraceUprobeMulti
		}
	}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load BPF programs: %+v", verr)
		}
		return nil, fmt.Errorf("load BPF programs: %w", err)
	}
	t.reader, err = ringbuf.NewReader(t.objs.Events)
	if err != nil {
		_ = t.objs.Close()
		return nil, fmt.Errorf("open ring buffer reader: %w", err)
	}
	return t, nil
}

func ringSize(n int) int {
	page := os.Getpagesize()
	size := page
	for size < n {
		size <<= 1
	}
	return size
}

// Close detaches nothing (attachments are closed by their owners) and
// releases the programs, maps and the ring buffer reader.
func (t *Tracer) Close() error {
	var errs []error
	if t.reader != nil {
		errs = append(errs, t.reader.Close())
	}
	errs = append(errs, t.objs.Close())
	return errors.Join(errs...)
}

// AddBinary registers a binary's offsets and returns the cookie its probes
// must carry.
func (t *Tracer) AddBinary(off Offsets) (uint32, error) {
	t.mu.Lock()
	cookie := t.nextCookie
	t.nextCookie++
	t.mu.Unlock()
	v := off.bpf()
	if err := t.objs.GoOffsetsByCookie.Put(cookie, &v); err != nil {
		return 0, fmt.Errorf("store offsets for cookie %d: %w", cookie, err)
	}
	return cookie, nil
}

// RemoveBinary forgets a cookie once no process of that binary is attached.
func (t *Tracer) RemoveBinary(cookie uint32) error {
	if err := t.objs.GoOffsetsByCookie.Delete(cookie); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete offsets for cookie %d: %w", cookie, err)
	}
	return nil
}

// Attachment holds one process's uprobe links.
type Attachment struct {
	links []link.Link
	sites int
}

// Close detaches every probe of the process.
func (a *Attachment) Close() error {
	var errs []error
	for _, l := range a.links {
		errs = append(errs, l.Close())
	}
	a.links = nil
	return errors.Join(errs...)
}

// Links is the number of probe sites (function entries and RET
// instructions) attached.
func (a *Attachment) Links() int { return a.sites }

// Attach places the selected probes in process pid. The executable is
// opened through /proc/<pid>/exe so the probes land on the inode the process
// runs, even if its path was replaced since.
func (t *Tracer) Attach(pid int, cookie uint32, bin Binary, probes Probes) (*Attachment, error) {
	exe, err := link.OpenExecutable(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return nil, fmt.Errorf("open executable of pid %d: %w", pid, err)
	}
	a := &Attachment{}
	attach := func(fn *Function, entry, ret *ebpf.Program) error {
		if t.opts.EmptyPrograms {
			if entry != nil {
				entry = t.objs.UprobeEmpty
			}
			ret = t.objs.UprobeEmpty
		}
		if entry != nil {
			if err := t.attachSites(a, exe, pid, cookie, entry, fn.Name, []uint64{fn.EntryOffset}); err != nil {
				return fmt.Errorf("uprobe %s entry at %#x: %w", fn.Name, fn.EntryOffset, err)
			}
		}
		if err := t.attachSites(a, exe, pid, cookie, ret, fn.Name, fn.ReturnOffsets); err != nil {
			return fmt.Errorf("uprobe %s returns at %#x: %w", fn.Name, fn.ReturnOffsets, err)
		}
		return nil
	}
	var errs []error
	if probes.Server {
		if bin.ServeHTTP == nil {
			errs = append(errs, errors.New("net/http.serverHandler.ServeHTTP not found"))
		} else if err := attach(bin.ServeHTTP, t.objs.UprobeServerEntry, t.objs.UprobeServerReturn); err != nil {
			errs = append(errs, err)
		} else if bin.Gopanic != nil && bin.RecoveryResume != nil {
			// Both run only when the program panics: no hit on a normal request.
			if err := attach(bin.Gopanic, t.objs.UprobeGopanic, nil); err != nil {
				errs = append(errs, err)
			} else if err := attach(bin.RecoveryResume, nil, t.objs.UprobeRecoveryResume); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if probes.Client {
		if bin.RoundTrip == nil {
			errs = append(errs, errors.New("net/http.(*Transport).roundTrip not found"))
		} else if err := attach(bin.RoundTrip, t.objs.UprobeClientEntry, t.objs.UprobeClientReturn); err != nil {
			errs = append(errs, err)
		}
	}
	// Goroutine inheritance only matters when both server and client spans
	// are produced (it links client calls made from handler goroutines); with
	// runtime.g.parentGoid known it costs no probe at all.
	if probes.Server && probes.Client && bin.Newproc1 != nil && bin.Offsets.Fields.Known(goroutineFields...) && !bin.Offsets.Fields.Known(fields.RuntimeGParentGoid) && bin.ServeHTTP != nil && bin.RoundTrip != nil {
		if err := attach(bin.Newproc1, nil, t.objs.UprobeNewproc1Return); err != nil {
			errs = append(errs, err)
		}
	}
	if len(a.links) == 0 {
		errs = append(errs, errors.New("no probe attached"))
		return nil, errors.Join(errs...)
	}
	// A partial attachment still yields correct spans for what is probed;
	// the error reports what is missing.
	return a, errors.Join(errs...)
}

// attachSites runs prog at every file offset in offs of the executable,
// for process pid only, with cookie as its attach cookie.
func (t *Tracer) attachSites(a *Attachment, exe *link.Executable, pid int, cookie uint32, prog *ebpf.Program, symbol string, offs []uint64) error {
	if len(offs) == 0 {
		return nil
	}
	t.mu.Lock()
	multi := t.multi
	t.mu.Unlock()
	if multi {
		cookies := make([]uint64, len(offs))
		for i := range cookies {
			cookies[i] = uint64(cookie)
		}
		l, err := exe.UprobeMulti(nil, prog, &link.UprobeMultiOptions{Addresses: offs, PID: uint32(pid), Cookies: cookies})
		if err == nil {
			a.links = append(a.links, l)
			a.sites += len(offs)
			return nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return err
		}
		// A kernel before 6.6: perf_event uprobes from now on.
		t.mu.Lock()
		t.multi = false
		t.mu.Unlock()
	}
	for _, off := range offs {
		l, err := exe.Uprobe(symbol, prog, &link.UprobeOptions{Address: off, PID: pid, Cookie: uint64(cookie)})
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("at %#x: %w (a perf_event uprobe needs CAP_SYS_ADMIN since Linux 6.16 and its stable backports; uprobe_multi links, Linux 6.6+, need only CAP_BPF and CAP_PERFMON)", off, err)
		}
		if err != nil {
			return fmt.Errorf("at %#x: %w", off, err)
		}
		a.links = append(a.links, l)
		a.sites++
	}
	return nil
}

// Drops returns the number of events lost because the ring buffer was full.
func (t *Tracer) Drops() (uint64, error) {
	var perCPU []uint64
	if err := t.objs.RingbufDrops.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read ringbuf_drops: %w", err)
	}
	var sum uint64
	for _, v := range perCPU {
		sum += v
	}
	return sum, nil
}

// Hits returns the probe hit counters summed over CPUs.
func (t *Tracer) Hits() ([hitCount]uint64, error) {
	var out [hitCount]uint64
	for i := range uint32(hitCount) {
		var perCPU []uint64
		if err := t.objs.ProbeHits.Lookup(i, &perCPU); err != nil {
			return out, fmt.Errorf("read probe_hits[%d]: %w", i, err)
		}
		for _, v := range perCPU {
			out[i] += v
		}
	}
	return out, nil
}

// Drain reads every record in the ring buffer, waiting at most wait for the
// first one, and passes each to handle. It returns when the ring is empty
// after the wait, or os.ErrClosed / ringbuf.ErrClosed once Close was called.
func (t *Tracer) Drain(wait time.Duration, handle func([]byte)) error {
	t.reader.SetDeadline(time.Now().Add(wait))
	var rec ringbuf.Record
	for {
		err := t.reader.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return err
		}
		handle(rec.RawSample)
	}
}

// ProgramStats returns the kernel's run count and run time of each program
// by name (non-zero only while BPF statistics are enabled, see
// ebpf.EnableStats): the benchmark's view of the probes' own cost.
func (t *Tracer) ProgramStats() (map[string]ebpf.ProgramStats, error) {
	progs := map[string]*ebpf.Program{
		"server_entry":    t.objs.UprobeServerEntry,
		"server_return":   t.objs.UprobeServerReturn,
		"client_entry":    t.objs.UprobeClientEntry,
		"client_return":   t.objs.UprobeClientReturn,
		"newproc1_return": t.objs.UprobeNewproc1Return,
		"gopanic":         t.objs.UprobeGopanic,
		"recovery_resume": t.objs.UprobeRecoveryResume,
		"empty":           t.objs.UprobeEmpty,
	}
	out := make(map[string]ebpf.ProgramStats, len(progs))
	for name, p := range progs {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("stats of %s: %w", name, err)
		}
		out[name] = *st
	}
	return out, nil
}

// ForgetProcess deletes the per-goroutine state a process left behind
// (requests cut short by its exit). Goroutine ids restart at 1 in every
// process, so without this a later process reusing the pid could inherit a
// dead request's span context.
func (t *Tracer) ForgetProcess(pid int) error {
	var errs []error
	for _, m := range []*ebpf.Map{t.objs.SpanByGoroutine, t.objs.ServerRequests, t.objs.ClientRequests} {
		var (
			cur, next httpGoroutineKey
			stale     []httpGoroutineKey
			after     any // nil: start at the first key
		)
		// Keys only (values differ per map); bounded by the map's size.
		for range m.MaxEntries() + 1 {
			err := m.NextKey(after, &next)
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("iterate %s: %w", m, err))
				break
			}
			if next.Tgid == uint32(pid) {
				stale = append(stale, next)
			}
			cur = next
			after = &cur
		}
		for _, k := range stale {
			if err := m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, fmt.Errorf("delete from %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}
