// Package tracer is the shared loader of the probes (package probes): it
// loads their one BPF object (package bpfprog) into the kernel, resolves
// each probe in a binary, attaches the selected probes to Go processes,
// and drains their events from the ring buffer. It knows no probe by name:
// what to attach and how to decode comes from the probes' descriptions.
//
// One program set serves every process. Each binary (inode) gets a cookie;
// the cookie travels with every uprobe attached to that binary and selects
// the binary's struct field offsets in the go_offsets_by_cookie map. The
// cookie's high half is the program's slot in the probe_hits counters.
package tracer

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/registry"
)

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
	// Stitch: server spans join a client span of this host on the same
	// connection (traces.propagation.stitch).
	Stitch bool
	// SQLPools: the sql probe notes the pools (*sql.DB) calls use, and
	// the Redis probe the clients (metrics.db_pools; read with SQLPools
	// and RedisClients).
	SQLPools bool
	// KafkaOffsets: the kafka-go producer probe notes each message's span
	// for the offsets probe (traces.kafka.join).
	KafkaOffsets bool
	// DeepGoroutines attaches the probes that carry span context to new
	// goroutines (runtime.newproc's call of runqput) to every binary, also where
	// g.parentGoid would find the parent one go statement away: calls from
	// goroutines any number of go statements below a handler join its span,
	// for 1 hit per goroutine created (traces.goroutine_ancestry: deep, the
	// receiver's default).
	DeepGoroutines bool
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
	// InjectPending is the inject object's map of pending contexts
	// (inject.Injector.PendingMap): the HTTP/1 client probe offers each
	// request's traceparent there, for its connection, before the request
	// is written (traces.propagation.inject). Nil: no injection.
	InjectPending *ebpf.Map
	// InjectAppContexts is the inject object's map of the traceparents
	// applications sent themselves (inject.Injector.AppContextMap): a client
	// span whose request carried one adopts it. Used with InjectPending.
	InjectAppContexts *ebpf.Map
	// InjectLiveConns is the inject object's map of open tracked
	// connections (inject.Injector.LiveConnsMap): the client probe offers
	// a context only for a connection there, with its socket cookie. Used
	// with InjectPending.
	InjectLiveConns *ebpf.Map
}

// Probes selects the probes attached to a process, by probe name. Probes
// that only carry span context (probes.Probe.CarriesSpans) are attached
// when needed, without being selected.
type Probes map[string]bool

// Tracer owns the loaded programs and maps.
type Tracer struct {
	coll   *ebpf.Collection
	reader *ringbuf.Reader
	opts   Options
	probes []*probes.Probe
	// slots: each program's index in probe_hits (the attach cookie's high half).
	slots map[string]uint32

	mu         sync.Mutex
	nextCookie uint32
	// multi: attach with uprobe_multi links (cleared by the first Attach on
	// a kernel without them).
	multi bool
}

// programEmpty is the benchmark's baseline program (Options.EmptyPrograms).
const programEmpty = "uprobe_empty"

// New loads the programs and maps of every registered probe into the kernel.
func New(opts Options) (*Tracer, error) {
	return NewWithProbes(opts, registry.All())
}

// NewWithProbes loads the BPF object and prepares the probes of list.
func NewWithProbes(opts Options, list []*probes.Probe) (*Tracer, error) {
	spec, err := bpfprog.LoadGoebpf()
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
	settings := probes.Settings{CaptureQuery: opts.CaptureQuery, Stitch: opts.Stitch, SQLPools: opts.SQLPools, KafkaOffsets: opts.KafkaOffsets}
	for _, p := range list {
		if p.Constants == nil {
			continue
		}
		for name, v := range p.Constants(settings) {
			variable, ok := spec.Variables[name]
			if !ok {
				return nil, fmt.Errorf("probe %s: no BPF variable %s in the object", p.Name, name)
			}
			if err := variable.Set(v); err != nil {
				return nil, fmt.Errorf("probe %s: set %s: %w", p.Name, name, err)
			}
		}
	}
	var loadOpts ebpf.CollectionOptions
	if opts.InjectPending != nil {
		// Without the injector's live_conns the probe would offer nothing
		// (its own copy of the map stays empty).
		if opts.InjectLiveConns == nil {
			return nil, errors.New("tracer options: InjectPending is set but InjectLiveConns is nil (the injector's LiveConnsMap is needed to offer contexts)")
		}
		if err := spec.Variables["inject_enabled"].Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("set inject_enabled: %w", err)
		}
		loadOpts.MapReplacements = map[string]*ebpf.Map{"inject_pending": opts.InjectPending}
		if opts.InjectAppContexts != nil {
			loadOpts.MapReplacements["inject_app_contexts"] = opts.InjectAppContexts
		}
		if opts.InjectLiveConns != nil {
			loadOpts.MapReplacements["inject_live_conns"] = opts.InjectLiveConns
		}
	} else {
		// Never used: no room reserved.
		spec.Maps["inject_pending"].MaxEntries = 1
		spec.Maps["inject_app_contexts"].MaxEntries = 1
		spec.Maps["inject_live_conns"].MaxEntries = 1
	}
	// Wake the reader early when a quarter of the ring is used, so a burst
	// cannot fill it between two timed drains.
	if err := spec.Variables["wakeup_threshold"].Set(uint64(size / 4)); err != nil {
		return nil, fmt.Errorf("set wakeup_threshold: %w", err)
	}
	t := &Tracer{opts: opts, nextCookie: 1, multi: !opts.PerfEventUprobes, probes: list, slots: map[string]uint32{}}
	for _, p := range list {
		for _, u := range p.Uprobes {
			progs := []string{u.Entry, u.Return}
			if f := u.Fallback; f != nil {
				progs = append(progs, f.Entry, f.Return)
			}
			for _, prog := range progs {
				if prog == "" {
					continue
				}
				if _, ok := spec.Programs[prog]; !ok {
					return nil, fmt.Errorf("probe %s: no BPF program %s in the object", p.Name, prog)
				}
				if _, ok := t.slots[prog]; !ok {
					t.slots[prog] = uint32(len(t.slots))
				}
			}
		}
	}
	if len(t.slots) > maxPrograms {
		return nil, fmt.Errorf("%d probe programs, probe_hits has %d slots", len(t.slots), maxPrograms)
	}
	if t.multi {
		// Kernels before 6.6 ignore the attach type of a kprobe-type
		// program, so the same programs still attach as perf_event uprobes
		// there.
		for _, p := range spec.Programs {
			p.AttachType = ebpf.AttachTraceUprobeMulti
		}
	}
	t.coll, err = ebpf.NewCollectionWithOptions(spec, loadOpts)
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load BPF programs: %+v", verr)
		}
		return nil, fmt.Errorf("load BPF programs: %w", err)
	}
	t.reader, err = ringbuf.NewReader(t.coll.Maps["events"])
	if err != nil {
		t.coll.Close()
		return nil, fmt.Errorf("open ring buffer reader: %w", err)
	}
	return t, nil
}

// maxPrograms is MAX_PROGRAMS of bpf/common/event.h.
const maxPrograms = 64

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
	if t.coll != nil {
		t.coll.Close()
	}
	return errors.Join(errs...)
}

// AddBinary registers a binary's offsets and returns the cookie its probes
// must carry.
func (t *Tracer) AddBinary(off probes.Offsets) (uint32, error) {
	t.mu.Lock()
	cookie := t.nextCookie
	t.nextCookie++
	t.mu.Unlock()
	v := off.BPF()
	if err := t.coll.Maps["go_offsets_by_cookie"].Put(cookie, &v); err != nil {
		return 0, fmt.Errorf("store offsets for cookie %d: %w", cookie, err)
	}
	return cookie, nil
}

// RemoveBinary forgets a cookie once no process of that binary is attached.
func (t *Tracer) RemoveBinary(cookie uint32) error {
	if err := t.coll.Maps["go_offsets_by_cookie"].Delete(cookie); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete offsets for cookie %d: %w", cookie, err)
	}
	return nil
}

// Attachment holds one process's uprobe links.
type Attachment struct {
	links []link.Link
	sites int
}

// Close detaches every probe of the process. The links are closed
// concurrently: closing a uprobe link removes its breakpoints at once but
// then waits for the kernel's RCU grace periods (~25 ms each on a 6.18
// VM), so one after the other a process with dozens of links took most of
// a second to detach.
func (a *Attachment) Close() error {
	errs := make([]error, len(a.links))
	var wg sync.WaitGroup
	for i, l := range a.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Close()
		}()
	}
	wg.Wait()
	a.links = nil
	return errors.Join(errs...)
}

// Links is the number of probe sites (function entries and RET
// instructions) attached.
func (a *Attachment) Links() int { return a.sites }

// Attach places the selected probes in process pid. The executable is
// opened through /proc/<pid>/exe so the probes land on the inode the process
// runs, even if its path was replaced since.
func (t *Tracer) Attach(pid int, cookie uint32, bin Binary, selected Probes) (*Attachment, error) {
	exe, err := link.OpenExecutable(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return nil, fmt.Errorf("open executable of pid %d: %w", pid, err)
	}
	a := &Attachment{}
	var errs []error
	var starts, joins bool
	for _, p := range t.probes {
		if p.CarriesSpans || !selected[p.Name] {
			continue
		}
		sites, ok := bin.Sites[p.Name]
		if !ok {
			err := bin.Unusable[p.Name]
			if err == nil {
				err = fmt.Errorf("probe %s not resolved", p.Name)
			}
			errs = append(errs, err)
			continue
		}
		attached, err := t.attachProbe(a, exe, pid, cookie, sites)
		if err != nil {
			errs = append(errs, err)
		}
		if !attached {
			continue
		}
		starts = starts || p.StartsSpans
		joins = joins || p.JoinsSpans
	}
	// Carrying span context between goroutines only matters when spans
	// are both started and joined (client calls from handler goroutines).
	for _, p := range t.probes {
		if !p.CarriesSpans || !starts || !joins || (!t.opts.DeepGoroutines && bin.Offsets.Fields.Known(p.NeedlessWith...)) {
			continue
		}
		if sites, ok := bin.Sites[p.Name]; ok {
			if _, err := t.attachProbe(a, exe, pid, cookie, sites); err != nil {
				errs = append(errs, err)
			}
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

// attachProbe attaches a probe's sites: the required ones first, then each
// optional group, which stops at its first error. attached is false when a
// required site failed (the probe makes no spans in this process).
func (t *Tracer) attachProbe(a *Attachment, exe *link.Executable, pid int, cookie uint32, sites []Site) (attached bool, err error) {
	for _, s := range sites {
		if s.Uprobe.Optional != "" {
			continue
		}
		if err := t.attachSite(a, exe, pid, cookie, s); err != nil {
			return false, err
		}
	}
	var errs []error
	failed := map[string]bool{}
	for _, s := range sites {
		if s.Uprobe.Optional == "" || failed[s.Uprobe.Optional] {
			continue
		}
		if err := t.attachSite(a, exe, pid, cookie, s); err != nil {
			failed[s.Uprobe.Optional] = true
			errs = append(errs, err)
		}
	}
	return true, errors.Join(errs...)
}

// attachSite places a site's entry and return programs.
func (t *Tracer) attachSite(a *Attachment, exe *link.Executable, pid int, cookie uint32, s Site) error {
	fn, u := s.Func, s.Uprobe
	prog := func(name string) (*ebpf.Program, uint64) {
		slot := uint64(t.slots[name]) << 32
		if t.opts.EmptyPrograms {
			name = programEmpty
		}
		return t.coll.Programs[name], slot | uint64(cookie)
	}
	if u.Entry != "" {
		p, c := prog(u.Entry)
		if err := t.attachSites(a, exe, pid, c, p, fn.Name, []uint64{fn.EntryOffset}); err != nil {
			return fmt.Errorf("uprobe %s entry at %#x: %w", fn.Name, fn.EntryOffset, err)
		}
	}
	if u.Return != "" {
		p, c := prog(u.Return)
		if err := t.attachSites(a, exe, pid, c, p, fn.Name, fn.ReturnOffsets); err != nil {
			return fmt.Errorf("uprobe %s returns at %#x: %w", fn.Name, fn.ReturnOffsets, err)
		}
	}
	return nil
}

// attachSites runs prog at every file offset in offs of the executable,
// for process pid only, with cookie as its attach cookie.
func (t *Tracer) attachSites(a *Attachment, exe *link.Executable, pid int, cookie uint64, prog *ebpf.Program, symbol string, offs []uint64) error {
	if len(offs) == 0 {
		return nil
	}
	t.mu.Lock()
	multi := t.multi
	t.mu.Unlock()
	if multi {
		cookies := make([]uint64, len(offs))
		for i := range cookies {
			cookies[i] = cookie
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
		l, err := exe.Uprobe(symbol, prog, &link.UprobeOptions{Address: off, PID: pid, Cookie: cookie})
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
	if err := t.coll.Maps["ringbuf_drops"].Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read ringbuf_drops: %w", err)
	}
	var sum uint64
	for _, v := range perCPU {
		sum += v
	}
	return sum, nil
}

// InjectProbeCounts is what the client probe counted of its offers.
type InjectProbeCounts struct {
	// Withdrawn: offered contexts withdrawn because their request ended
	// without a tracked socket taking them.
	Withdrawn uint64
	// OfferFailed: offers the pending map refused (full).
	OfferFailed uint64
	// NotTracked: offers not made (or withdrawn at once) because the
	// connection was not an open tracked one in live_conns: opened before
	// its process was tracked, or already closing.
	NotTracked uint64
}

// fields are the counts indexed by bpf2go's constants of enum
// inject_counter (bpf/common/inject.h): a counter added there leaves a nil
// entry that TestInjectCountsCoverEveryIndex reports.
func (c *InjectProbeCounts) fields() [bpfprog.GoebpfInjectCounterINJECT_COUNTERS]*uint64 {
	return [bpfprog.GoebpfInjectCounterINJECT_COUNTERS]*uint64{
		bpfprog.GoebpfInjectCounterINJECT_WITHDRAWN:    &c.Withdrawn,
		bpfprog.GoebpfInjectCounterINJECT_OFFER_FAILED: &c.OfferFailed,
		bpfprog.GoebpfInjectCounterINJECT_NOT_TRACKED:  &c.NotTracked,
	}
}

// InjectCounts returns the client probe's inject counters, summed over CPUs.
func (t *Tracer) InjectCounts() (InjectProbeCounts, error) {
	var out InjectProbeCounts
	for i, dst := range out.fields() {
		if dst == nil {
			return InjectProbeCounts{}, fmt.Errorf("inject_counters[%d] (enum inject_counter of bpf/common/inject.h) has no field in InjectProbeCounts", i)
		}
		var perCPU []uint64
		if err := t.coll.Maps["inject_counters"].Lookup(uint32(i), &perCPU); err != nil {
			return InjectProbeCounts{}, fmt.Errorf("read inject_counters[%d]: %w", i, err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return out, nil
}

// GRPCMetadataCounts is what the gRPC server probe counted of its
// searches of incoming metadata (grpc_server.c).
type GRPCMetadataCounts struct {
	// Truncated: searches that stopped at their bounds (tables, groups or
	// buckets left unsearched) without finding traceparent.
	Truncated uint64
	// ReadFailed: metadata maps whose header or a bucket could not be read.
	ReadFailed uint64
}

// GRPCMetadataCounts returns the gRPC server probe's metadata counters,
// summed over CPUs.
func (t *Tracer) GRPCMetadataCounts() (GRPCMetadataCounts, error) {
	var out GRPCMetadataCounts
	for i, dst := range []*uint64{&out.Truncated, &out.ReadFailed} {
		var perCPU []uint64
		if err := t.coll.Maps["grpc_md_counters"].Lookup(uint32(i), &perCPU); err != nil {
			return GRPCMetadataCounts{}, fmt.Errorf("read grpc_md_counters[%d]: %w", i, err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return out, nil
}

// Hits returns the hit counters of the probes' programs, summed over CPUs,
// by program name.
func (t *Tracer) Hits() (map[string]uint64, error) {
	out := make(map[string]uint64, len(t.slots))
	for name, slot := range t.slots {
		var perCPU []uint64
		if err := t.coll.Maps["probe_hits"].Lookup(slot, &perCPU); err != nil {
			return out, fmt.Errorf("read probe_hits[%d] (%s): %w", slot, name, err)
		}
		for _, v := range perCPU {
			out[name] += v
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
// by name without its "uprobe_" prefix ("server_entry"; non-zero only while
// BPF statistics are enabled, see ebpf.EnableStats): the benchmark's view
// of the probes' own cost.
func (t *Tracer) ProgramStats() (map[string]ebpf.ProgramStats, error) {
	out := make(map[string]ebpf.ProgramStats, len(t.coll.Programs))
	for name, p := range t.coll.Programs {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("stats of %s: %w", name, err)
		}
		out[strings.TrimPrefix(name, "uprobe_")] = *st
	}
	return out, nil
}

// SQLPools returns the addresses of the *sql.DB values each process has
// used since the sql probe was attached to it (Options.SQLPools), by pid.
func (t *Tracer) SQLPools() (map[int][]uint64, error) { return t.noted("sql_pools") }

// RedisClients returns the addresses of the go-redis *baseClient values
// each process has used since the Redis probe was attached to it
// (Options.SQLPools: metrics.db_pools covers Redis pools too), by pid.
func (t *Tracer) RedisClients() (map[int][]uint64, error) { return t.noted("redis_pools") }

// noted lists a {tgid, address} map's addresses by pid.
func (t *Tracer) noted(name string) (map[int][]uint64, error) {
	m := t.coll.Maps[name]
	if m == nil {
		return nil, fmt.Errorf("no BPF map %s", name)
	}
	out := map[int][]uint64{}
	var key struct {
		Tgid uint32
		Pad  uint32
		Addr uint64
	}
	var val uint8
	it := m.Iterate()
	for it.Next(&key, &val) {
		out[int(key.Tgid)] = append(out[int(key.Tgid)], key.Addr)
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// ForgetProcess deletes the per-goroutine state a process left behind
// (requests cut short by its exit). Goroutine ids restart at 1 in every
// process, so without this a later process reusing the pid could inherit a
// dead request's span context.
func (t *Tracer) ForgetProcess(pid int) error {
	var errs []error
	names := []string{"span_by_goroutine"}
	for _, p := range t.probes {
		names = append(names, p.GoroutineMaps...)
	}
	for _, name := range names {
		m := t.coll.Maps[name]
		if m == nil {
			errs = append(errs, fmt.Errorf("no BPF map %s", name))
			continue
		}
		var (
			cur, next bpfprog.GoebpfGoroutineKey
			stale     []bpfprog.GoebpfGoroutineKey
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
	if err := t.forgetConnections(uint32(pid)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// forgetConnections deletes the client spans a process left in flight on
// its connections and HTTP/2 streams (stitch.h client_by_conn, h2_stitch.h
// client_by_h2_stream): a later connection with the same 4-tuple must not
// join them.
func (t *Tracer) forgetConnections(pid uint32) error {
	return errors.Join(
		forgetClients[bpfprog.GoebpfConnTuple](t.coll.Maps, "client_by_conn", pid),
		forgetClients[bpfprog.GoebpfH2StreamTuple](t.coll.Maps, "client_by_h2_stream", pid),
	)
}

// forgetClients deletes the entries of process pid from the map name,
// whose keys are K and values conn_client.
func forgetClients[K any](maps map[string]*ebpf.Map, name string, pid uint32) error {
	m := maps[name]
	if m == nil {
		return fmt.Errorf("no BPF map %s", name)
	}
	var (
		k     K
		v     bpfprog.GoebpfConnClient
		stale []K
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if v.Tgid == pid {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate %s: %w", m, err)
	}
	var errs []error
	for _, k := range stale {
		if err := m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("delete from %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}
