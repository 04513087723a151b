package runtimemetrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics/runqlat"
)

// Options configures the collector. The receiver maps its
// `metrics.runtime` config section onto it.
type Options struct {
	// Goroutines enables goroutine counts by state, wait reason and creation site, and leak detection.
	Goroutines bool
	// Scheduler enables GOMAXPROCS and run-queue latency (sched tracepoints; needs BPF).
	Scheduler bool
	// GC enables GC cycles, pause histogram, heap goal, heap in use, GOGC.
	GC bool
	// Allocations enables allocation bytes/objects by call site from the runtime's own sampling.
	Allocations bool

	// TopKCreationSites bounds the creation sites reported per process; the rest fold into "other".
	TopKCreationSites int
	// TopKAllocationSites bounds the allocation sites reported per process.
	TopKAllocationSites int
	// LeakThreshold is the blocked-goroutine count from which a growing site is a suspected leak.
	LeakThreshold int64
	// LeakWindow is how many consecutive collections a site must grow over (without
	// shrinking) to be a suspected leak.
	LeakWindow int
	// MaxGoroutines bounds how many goroutines are read per process per collection.
	MaxGoroutines int

	// ScopeName is the instrumentation scope of the emitted metrics.
	ScopeName string
	// Logger receives one line per attach problem and per suspected leak.
	Logger *zap.Logger
}

// DefaultOptions returns options with every part enabled and bounded defaults.
func DefaultOptions() Options {
	return Options{
		Goroutines: true, Scheduler: true, GC: true, Allocations: true,
		TopKCreationSites:   20,
		TopKAllocationSites: 20,
		LeakThreshold:       100,
		LeakWindow:          3,
		MaxGoroutines:       1 << 20,
		ScopeName:           "github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver",
	}
}

// Validate checks the bounds; errors name the option and the bad value.
func (o Options) Validate() error {
	var errs []error
	if o.TopKCreationSites < 1 {
		errs = append(errs, fmt.Errorf("top_k_creation_sites must be at least 1: %d", o.TopKCreationSites))
	}
	if o.TopKAllocationSites < 1 {
		errs = append(errs, fmt.Errorf("top_k_allocation_sites must be at least 1: %d", o.TopKAllocationSites))
	}
	if o.LeakThreshold < 1 {
		errs = append(errs, fmt.Errorf("leak_threshold must be at least 1: %d", o.LeakThreshold))
	}
	if o.LeakWindow < 2 {
		errs = append(errs, fmt.Errorf("leak_window must be at least 2 collections: %d", o.LeakWindow))
	}
	if o.MaxGoroutines < 1 {
		errs = append(errs, fmt.Errorf("max_goroutines must be at least 1: %d", o.MaxGoroutines))
	}
	return errors.Join(errs...)
}

// Stats are counters for the receiver's internal telemetry.
type Stats struct {
	// FoldedCreationSites and FoldedAllocationSites count sites folded into "other", summed over collections.
	FoldedCreationSites, FoldedAllocationSites uint64
	// ReadErrors counts failed reads of a target's memory (process gone, race with exit).
	ReadErrors uint64
	// SuspectedLeaks counts creation sites that crossed the leak threshold.
	SuspectedLeaks uint64
}

// Collector reads runtime metrics of attached Go processes. Safe for
// concurrent use.
type Collector struct {
	opts Options
	log  *zap.Logger

	mu        sync.Mutex
	targets   map[int]*target
	tracer    *runqlat.Tracer
	tracerErr error

	foldedCreation, foldedAlloc, readErrors, leaks atomic.Uint64
}

// New returns a collector. The BPF run-queue tracer is loaded on the first
// Attach when Scheduler is enabled.
func New(opts Options) (*Collector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Collector{opts: opts, log: log, targets: map[int]*target{}}, nil
}

// Attach starts collecting from pid, whose executable goexe inspected.
// Attaching a pid again replaces its state (a restarted process reusing the pid).
func (c *Collector) Attach(pid int, exe *goexe.Executable) error {
	return c.AttachBinary(pid, FromExecutable(exe))
}

// AttachBinary is Attach for any Binary (tests use the standard library's
// debug packages).
func (c *Collector) AttachBinary(pid int, bin Binary) error {
	t, err := attachTarget(pid, bin, c.opts)
	if err != nil {
		return fmt.Errorf("runtime metrics: attach: %w", err)
	}
	if len(t.missing) > 0 {
		c.log.Info("Some runtime globals not found; the metrics read from them are not reported",
			zap.Int("pid", pid), zap.Strings("globals", t.missing))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.targets[pid]; old != nil {
		// A new process under a reused pid: its run-queue histogram starts afresh.
		_ = old.close()
		if c.tracer != nil {
			_ = c.tracer.Untrack(uint32(pid))
		}
	}
	c.targets[pid] = t
	if c.opts.Scheduler {
		if c.tracer == nil && c.tracerErr == nil {
			c.tracer, c.tracerErr = runqlat.Load()
			if c.tracerErr != nil {
				c.log.Warn("Run-queue latency unavailable (needs root and a kernel with BTF)", zap.Error(c.tracerErr))
			}
		}
		if c.tracer != nil {
			if err := c.tracer.Track(uint32(pid)); err != nil {
				c.log.Warn("Cannot track run-queue latency", zap.Int("pid", pid), zap.Error(err))
			}
		}
	}
	return nil
}

// SchedulerError is the reason run-queue latency is unavailable, if it is.
func (c *Collector) SchedulerError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tracerErr
}

// Detach stops collecting from pid.
func (c *Collector) Detach(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.targets[pid]
	if t == nil {
		return
	}
	delete(c.targets, pid)
	_ = t.close()
	if c.tracer != nil {
		_ = c.tracer.Untrack(uint32(pid))
	}
}

// Close detaches everything and unloads the BPF programs.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for pid, t := range c.targets {
		errs = append(errs, t.close())
		delete(c.targets, pid)
	}
	if c.tracer != nil {
		errs = append(errs, c.tracer.Close())
		c.tracer = nil
	}
	return errors.Join(errs...)
}

// Stats returns the internal-telemetry counters.
func (c *Collector) Stats() Stats {
	return Stats{
		FoldedCreationSites:   c.foldedCreation.Load(),
		FoldedAllocationSites: c.foldedAlloc.Load(),
		ReadErrors:            c.readErrors.Load(),
		SuspectedLeaks:        c.leaks.Load(),
	}
}

// RunQueueCalls returns how often the sched tracepoint programs ran
// (system-wide), or 0 when they are not loaded.
func (c *Collector) RunQueueCalls() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tracer == nil {
		return 0
	}
	n, _ := c.tracer.Calls()
	return n
}

// Collect reads every attached process once. A process whose reads fail is
// reported in the returned error but does not stop the others.
func (c *Collector) Collect(ctx context.Context, now time.Time) (pmetric.Metrics, error) {
	md := pmetric.NewMetrics()
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make([]int, 0, len(c.targets))
	for pid := range c.targets {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	var errs []error
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return md, errors.Join(append(errs, err)...)
		}
		if err := c.collectTarget(c.targets[pid], md, pcommon.NewTimestampFromTime(now)); err != nil {
			c.readErrors.Add(1)
			errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
		}
	}
	return md, errors.Join(errs...)
}

func (c *Collector) collectTarget(t *target, md pmetric.Metrics, now pcommon.Timestamp) error {
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutInt("process.pid", int64(t.pid))
	res.PutStr("process.runtime.name", "go")
	res.PutStr("process.runtime.version", "go1."+strconv.Itoa(t.bin.GoMinor()))
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(c.opts.ScopeName)
	b := metricBuilder{ms: sm.Metrics(), now: now, start: processStart(t.pid, t.attached)}
	attachStart := pcommon.NewTimestampFromTime(t.attached)

	var errs []error
	if c.opts.Goroutines {
		if err := c.collectGoroutines(t, &b); err != nil {
			errs = append(errs, err)
		}
	}
	if c.opts.Scheduler {
		if n, err := t.readGOMAXPROCS(); err == nil {
			b.sum("go.processor.limit", "The number of OS threads that can execute user-level Go code simultaneously (GOMAXPROCS).", "{thread}", false).setInt(n)
		} else {
			errs = append(errs, err)
		}
		if t.sched != 0 {
			if sl, err := t.readSchedLatency(); err == nil {
				b.schedHistogram("go.schedule.duration",
					"The time goroutines have spent in the scheduler in a runnable state before actually running (the runtime's own sampled histogram, /sched/latencies:seconds).", sl)
			} else {
				errs = append(errs, err)
			}
		}
		if c.tracer != nil {
			if h, err := c.tracer.Read(uint32(t.pid)); err == nil {
				b.expHistogram("go.thread.runqueue.duration",
					"Time the target's OS threads spent runnable in a kernel run queue before getting a CPU (sched tracepoints).",
					"s", attachStart, fromRunqlat(h))
			} else {
				errs = append(errs, err)
			}
		}
	}
	if c.opts.GC {
		if err := c.collectGC(t, &b, attachStart); err != nil {
			errs = append(errs, err)
		}
	}
	if c.opts.Allocations {
		if err := c.collectAllocations(t, &b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Collector) collectGoroutines(t *target, b *metricBuilder) error {
	sum, err := t.collectGoroutines(c.opts.MaxGoroutines)
	if err != nil {
		return err
	}
	count := b.sum("go.goroutine.count", "Count of live goroutines, by state.", "{goroutine}", false)
	for _, st := range sortedKeys(sum.ByState) {
		count.point(sum.ByState[st], "go.goroutine.state", st)
	}
	waiting := b.sum("go.goroutine.waiting", "Waiting (blocked) goroutines by wait reason.", "{goroutine}", false)
	for _, r := range sortedKeys(sum.ByWaitReason) {
		waiting.point(sum.ByWaitReason[r], "go.wait_reason", r)
	}
	kept, folded := foldSites(sum.Blocked, c.opts.TopKCreationSites)
	c.foldedCreation.Add(uint64(folded))
	blocked := b.gauge("go.goroutine.blocked", "Waiting goroutines by creation site (the function that ran the go statement) and start function; top K, the rest in \"other\".", "{goroutine}")
	longest := b.gauge("go.goroutine.blocked.duration.max", "Longest time a goroutine of this creation site and start function has been blocked, as known to the runtime (set at the first GC that saw it blocked).", "s")
	for _, s := range kept {
		blocked.siteInt(s.Count, s.Site)
		if s.MaxBlocked > 0 {
			longest.siteDouble(float64(s.MaxBlocked)/1e9, s.Site)
		}
	}
	b.gauge("go.goroutine.creation_site.folded", "Creation sites folded into \"other\" this collection.", "{site}").setInt(int64(folded))

	verdicts := t.leaks.observe(sum.Blocked)
	leak := b.gauge("go.goroutine.leak.suspected", "Blocked goroutines of creation sites and start functions whose blocked count keeps growing (suspected leaks); absent when none.", "{goroutine}")
	for _, v := range verdicts {
		leak.siteInt(v.Count, v.Site)
		if v.Crossed {
			c.leaks.Add(1)
			c.log.Warn("Suspected goroutine leak",
				zap.Int("pid", t.pid), zap.String("site", v.Site.Creation.String()),
				zap.String("start_function", v.Site.Start.String()),
				zap.Int64("blocked", v.Count), zap.Int64("growth", v.Growth))
		}
	}
	return nil
}

func (c *Collector) collectGC(t *target, b *metricBuilder, attachStart pcommon.Timestamp) error {
	if t.memstats == 0 && t.gcController == 0 {
		return fmt.Errorf("runtime.memstats and runtime.gcController: %w", errGlobalNotFound)
	}
	s, err := t.readGC(t.memstats, t.gcController)
	if err != nil {
		return err
	}
	if s.HaveMemstats {
		t.gc.observe(s)
		cycles := b.sum("go.gc.cycles", "Completed GC cycles, by whether the application forced them (runtime.GC).", "{gc_cycle}", true)
		cycles.point(int64(s.NumGC-s.NumForcedGC), "go.gc.forced", false)
		cycles.point(int64(s.NumForcedGC), "go.gc.forced", true)
		b.expHistogram("go.gc.pause.duration", "Stop-the-world pause of each GC cycle (both phases summed, from runtime.memstats.pause_ns).",
			"s", b.start, &t.gc.pauses)
		b.sum("go.gc.pause.total", "Cumulative stop-the-world GC pause time.", "s", true).setDouble(float64(s.PauseTotalNs) / 1e9)
	}
	if s.HaveController {
		if t.lay.gcHeapGoal != noField {
			b.sum("go.memory.gc.goal", "Heap size target for the end of the GC cycle.", "By", false).setInt(int64(s.HeapGoal))
		}
		if t.lay.gcMappedReady != noField {
			b.sum("go.memory.used", "Memory used by the Go runtime (mapped and ready, i.e. total minus released).", "By", false).setInt(int64(s.MappedReady))
		}
		if t.lay.gcHeapInUse != noField {
			b.sum("go.memory.heap.in_use", "Bytes in in-use heap spans.", "By", false).setInt(int64(s.HeapInUse))
		}
		if t.lay.gcMemoryLimit != noField {
			b.sum("go.memory.limit", "Go runtime memory limit configured by the user (GOMEMLIMIT), if a limit exists.", "By", false).setInt(s.MemoryLimit)
		}
		if t.lay.gcTotalAlloc != noField {
			b.sum("go.memory.allocated", "Memory allocated to the heap by the application.", "By", true).setInt(int64(s.TotalAlloc))
		}
		if t.lay.gcPercent != noField {
			b.sum("go.config.gogc", "Heap size target percentage configured by the user, otherwise 100 (-1 when GC is off).", "%", false).setInt(s.GOGC)
		}
	}
	return nil
}

func (c *Collector) collectAllocations(t *target, b *metricBuilder) error {
	rate := t.readMemProfileRate()
	if rate >= 0 {
		b.gauge("go.memory.profile.rate", "The target's runtime.MemProfileRate: one sample per this many bytes allocated; 0 means allocation sampling is off.", "By").setInt(rate)
	}
	if rate == 0 {
		if !t.alloc.rateZeroLogged {
			t.alloc.rateZeroLogged = true
			c.log.Info("Allocation sampling is off in the target (runtime.MemProfileRate is 0; the linker sets it when the program never references runtime.MemProfile); no allocation sites will be reported",
				zap.Int("pid", t.pid))
		}
		return nil
	}
	sites, err := t.collectAllocations(rate)
	if err != nil {
		return err
	}
	kept, folded := foldAllocSites(sites, c.opts.TopKAllocationSites)
	c.foldedAlloc.Add(uint64(folded))
	bytesM := b.sum("go.memory.profile.allocated", "Estimated bytes allocated by call site, from the runtime's allocation sampling; top K sites, the rest in \"other\".", "By", true)
	objsM := b.sum("go.memory.profile.allocations", "Estimated objects allocated by call site, from the runtime's allocation sampling.", "{allocation}", true)
	for _, s := range kept {
		bytesM.allocSite(s.Bytes, s.Key)
		objsM.allocSite(s.Objects, s.Key)
	}
	b.gauge("go.memory.profile.site.folded", "Allocation sites folded into \"other\" this collection.", "{site}").setInt(int64(folded))
	return nil
}

func fromRunqlat(h runqlat.Histogram) *log2Histogram {
	return &log2Histogram{Zero: h.Zero, One: h.One, Buckets: h.Buckets, Count: h.Count, SumNs: h.SumNs}
}

func sortedKeys(m map[string]int64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// processStart is the process's start time (from /proc/<pid>/stat and the
// boot time), the start of its cumulative runtime counters; fallback when
// unreadable.
func processStart(pid int, fallback time.Time) pcommon.Timestamp {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return pcommon.NewTimestampFromTime(fallback)
	}
	// Fields after the command name (which may contain spaces) start at ") ".
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return pcommon.NewTimestampFromTime(fallback)
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return pcommon.NewTimestampFromTime(fallback)
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64) // field 22 overall
	if err != nil {
		return pcommon.NewTimestampFromTime(fallback)
	}
	bt, err := bootTime()
	if err != nil {
		return pcommon.NewTimestampFromTime(fallback)
	}
	const clkTck = 100 // USER_HZ on every Linux architecture we support
	return pcommon.NewTimestampFromTime(bt.Add(time.Duration(ticks) * time.Second / clkTck))
}

func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, err
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, errors.New("no btime in /proc/stat")
}
