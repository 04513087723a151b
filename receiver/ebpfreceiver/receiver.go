package ebpfreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/cgroup"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/discovery"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// drainInterval bounds how long an event waits in the ring buffer before it
// becomes a span when traffic is too low to trigger a wakeup.
const drainInterval = 200 * time.Millisecond

// Attach failure reasons (metadata.yaml attribute "reason").
const (
	reasonNotGo           = "not_go"
	reasonInspectFailed   = "inspect_failed"
	reasonFunctionMissing = "function_missing"
	reasonOffsetsMissing  = "offsets_missing"
	reasonAttachFailed    = "attach_failed"
)

// attachError carries the telemetry reason of a failed instrumentation.
type attachError struct {
	reason string
	err    error
}

func (e *attachError) Error() string { return e.err.Error() }
func (e *attachError) Unwrap() error { return e.err }

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

type instrumentedProcess struct {
	key        discovery.Key
	file       fileID
	attachment *tracer.Attachment // nil when only runtime metrics are collected
	runtime    bool               // attached to the runtime metrics collector
	// runtimeRetry is set while the process is younger than
	// runtimeStartGrace and its runtime-metrics attach failed: it is retried
	// at every poll.
	runtimeRetry bool
}

// runtimeStartGrace: until schedinit has run, a Go program's runtime
// globals are empty (no goroutine in allgs), so they cannot be told from
// unrelated data, and attaching the runtime-metrics collector fails. A
// process discovered before it is this old gets its attach retried at every
// poll until it succeeds or the process reaches this age. On a busy machine
// runtime start-up can take far longer than the usual millisecond.
const runtimeStartGrace = 10 * time.Second

// userHZ is the unit of /proc/<pid>/stat start times (USER_HZ, 100 on Linux).
const userHZ = 100

// processAge is how long ago p started, from its start time in clock ticks
// since boot; a very large duration when the clock cannot be read.
func processAge(p discovery.Key) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 1 << 62
	}
	return time.Duration(ts.Nano()) - time.Duration(p.StartTime)*(time.Second/userHZ)
}

type ebpfReceiver struct {
	cfg     *Config
	set     receiver.Settings
	tel     *metadata.TelemetryBuilder
	traces  consumer.Traces
	metrics consumer.Metrics
	runtime RuntimeCollector // nil unless a metrics pipeline lists the receiver
	inspect inspectFunc
	scanner discovery.Scanner
	matcher discovery.Matcher
	tracker *discovery.Tracker
	host    string

	tracer *tracer.Tracer
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the discovery goroutine.
	binaries map[fileID]*binaryState
	procs    map[discovery.Key]*instrumentedProcess

	resMu sync.Mutex
	// resources by pid; a process's entry outlives it by one poll so that
	// its last events still get a resource.
	resources map[uint32]httpspan.Resource
	// exes by pid, with resources: names the type of a panic value.
	exes      map[uint32]*goexe.Executable
	typeNames map[panicTypeKey]string
	exited    []uint32

	redactor *httpspan.Redactor

	lastDrops uint64
}

func newReceiver(cfg *Config, set receiver.Settings) (*ebpfReceiver, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("create telemetry: %w", err)
	}
	m, err := buildMatcher(cfg.Discovery)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &ebpfReceiver{
		cfg:       cfg,
		set:       set,
		tel:       tel,
		inspect:   goexeInspector{cache: goexe.NewCache()}.inspect,
		scanner:   discovery.Scanner{Root: "/proc", Self: os.Getpid()},
		matcher:   m,
		tracker:   discovery.NewTracker(),
		host:      host,
		binaries:  map[fileID]*binaryState{},
		procs:     map[discovery.Key]*instrumentedProcess{},
		resources: map[uint32]httpspan.Resource{},
		exes:      map[uint32]*goexe.Executable{},
		typeNames: map[panicTypeKey]string{},
		redactor:  httpspan.NewRedactor(cfg.Traces.HTTP.RedactQueryKeys),
	}, nil
}

func buildMatcher(d DiscoveryConfig) (discovery.Matcher, error) {
	conv := func(list []ProcessSelector, field string) ([]discovery.Selector, error) {
		var out []discovery.Selector
		for i, s := range list {
			var sel discovery.Selector
			var err error
			switch {
			case s.ExePath != "":
				sel, err = discovery.NewExeSelector(s.ExePath)
			case s.OpenPorts != "":
				sel, err = discovery.NewPortSelector(s.OpenPorts)
			default:
				sel = discovery.NewPIDSelector(s.PID)
			}
			if err != nil {
				return nil, fmt.Errorf("discovery.%s[%d]: %w", field, i, err)
			}
			out = append(out, sel)
		}
		return out, nil
	}
	inst, err := conv(d.Instrument, "instrument")
	if err != nil {
		return discovery.Matcher{}, err
	}
	excl, err := conv(d.Exclude, "exclude")
	if err != nil {
		return discovery.Matcher{}, err
	}
	return discovery.Matcher{Instrument: inst, Exclude: excl}, nil
}

// Linux capability numbers (include/uapi/linux/capability.h).
const (
	capDACReadSearch = 2
	capSysPtrace     = 19
	capSysAdmin      = 21
	capPerfmon       = 38
	capBPF           = 39
)

// requiredCapability is one capability the receiver needs, and why.
type requiredCapability struct {
	name string
	bit  uint
	// coveredBySysAdmin: CAP_SYS_ADMIN grants it too (the kernel's
	// bpf_capable and perfmon_capable accept either).
	coveredBySysAdmin bool
	why               string
}

// requiredCapabilities is the least privilege of the receiver, measured on
// Linux 6.18 (see the README's Privileges section): with any one missing,
// some instrumentation fails for processes of other users.
var requiredCapabilities = []requiredCapability{
	{"CAP_BPF", capBPF, true, "load BPF programs and maps"},
	{"CAP_PERFMON", capPerfmon, true, "load tracing programs and attach uprobe_multi links and sched tracepoints"},
	{"CAP_SYS_PTRACE", capSysPtrace, false, "open /proc/<pid>/exe and read /proc/<pid>/mem of processes of other users"},
	{"CAP_DAC_READ_SEARCH", capDACReadSearch, false, "list /proc/<pid>/fd (open_ports discovery) and open executables the collector's user cannot read"},
}

// checkCapabilities names the capabilities the calling thread lacks.
func checkCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read process capabilities: %w", err)
	}
	missing := missingCapabilities(uint64(data[1].Effective)<<32 | uint64(data[0].Effective))
	if len(missing) == 0 {
		return nil
	}
	var names, whys []string
	for _, c := range missing {
		names = append(names, c.name)
		whys = append(whys, c.name+" to "+c.why)
	}
	return fmt.Errorf("ebpf receiver lacks %s: it needs %s; run as root or grant exactly cap_bpf,cap_perfmon,cap_sys_ptrace,cap_dac_read_search (file capabilities, ambient capabilities, or a container's capabilities.add)",
		strings.Join(names, " and "), strings.Join(whys, ", "))
}

// missingCapabilities lists what an effective capability set lacks.
func missingCapabilities(effective uint64) []requiredCapability {
	has := func(c uint) bool { return effective&(1<<c) != 0 }
	var missing []requiredCapability
	for _, c := range requiredCapabilities {
		if !has(c.bit) && !(c.coveredBySysAdmin && has(capSysAdmin)) {
			missing = append(missing, c)
		}
	}
	return missing
}

func (r *ebpfReceiver) Start(_ context.Context, _ component.Host) error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("ebpf receiver supports linux/amd64 only, not %s", runtime.GOARCH)
	}
	if err := checkCapabilities(); err != nil {
		return err
	}
	if r.traces != nil && (r.cfg.Traces.HTTP.Server || r.cfg.Traces.HTTP.Client) {
		tr, err := tracer.New(tracer.Options{
			RingBufferSize:      int(r.cfg.RingBufferSize),
			ExtractTraceContext: contains(r.cfg.Traces.Propagation.Extract, "tracecontext"),
			ExtractB3:           contains(r.cfg.Traces.Propagation.Extract, "b3"),
			CaptureQuery:        r.cfg.Traces.HTTP.CaptureQuery,
		})
		if err != nil {
			return fmt.Errorf("ebpf receiver: %w", err)
		}
		r.tracer = tr
	}
	if r.metrics != nil {
		rc, err := newRuntimeCollector(r.cfg.Metrics, r.set.Logger)
		if err != nil {
			if r.tracer != nil {
				_ = r.tracer.Close()
			}
			return fmt.Errorf("ebpf receiver: runtime metrics: %w", err)
		}
		r.runtime = rc
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if r.runtime != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.metricsLoop(ctx)
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.discoverLoop(ctx)
	}()
	if r.tracer != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.drainLoop(ctx)
		}()
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (r *ebpfReceiver) Shutdown(ctx context.Context) error {
	if r.cancel == nil {
		r.tel.Shutdown()
		return nil
	}
	r.cancel()
	// A drain in progress returns within drainInterval; the programs stay
	// loaded until every link is closed below.
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("ebpf receiver shutdown: %w", ctx.Err())
	}
	var errs []error
	for k := range r.procs {
		errs = append(errs, r.detach(k))
	}
	if r.runtime != nil {
		errs = append(errs, r.runtime.Close())
	}
	if r.tracer != nil {
		errs = append(errs, r.tracer.Close())
	}
	r.tel.Shutdown()
	return errors.Join(errs...)
}

func (r *ebpfReceiver) discoverLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Discovery.PollInterval)
	defer t.Stop()
	for {
		r.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll scans /proc once and instruments or cleans up what changed.
func (r *ebpfReceiver) poll(ctx context.Context) {
	procs, err := r.scanner.Scan(r.matcher)
	if err != nil {
		r.set.Logger.Warn("Process discovery failed", zap.Error(err))
		return
	}
	ch := r.tracker.Update(procs)
	r.resMu.Lock()
	for _, pid := range r.exited {
		delete(r.resources, pid)
		delete(r.exes, pid)
	}
	r.exited = r.exited[:0]
	r.resMu.Unlock()
	for _, k := range ch.Exited {
		if err := r.detach(k); err != nil {
			r.set.Logger.Debug("Detaching exited process", zap.Int("pid", k.PID), zap.Error(err))
		}
	}
	for _, p := range ch.Started {
		if ctx.Err() != nil {
			return
		}
		r.instrument(ctx, p)
	}
	r.retryRuntime()
}

// retryRuntime retries the runtime-metrics attach of processes that were
// still starting when discovered (see runtimeStartGrace).
func (r *ebpfReceiver) retryRuntime() {
	for k, proc := range r.procs {
		if !proc.runtimeRetry {
			continue
		}
		// The binary stays known while a process of it is registered (refs > 0).
		err := r.runtime.Attach(k.PID, r.binaries[proc.file].info.Exe)
		if err == nil {
			proc.runtime, proc.runtimeRetry = true, false
			r.set.Logger.Info("Runtime metrics attached once the process had started", zap.Int("pid", k.PID),
				zap.Duration("age", processAge(k)))
			continue
		}
		if processAge(k) < runtimeStartGrace {
			continue
		}
		proc.runtimeRetry = false
		r.set.Logger.Info("Runtime metrics unavailable for process", zap.Int("pid", k.PID), zap.Error(err))
		if proc.attachment == nil {
			// Nothing else was attached: forget the process like one never instrumented.
			if err := r.detach(k); err != nil {
				r.set.Logger.Debug("Detaching process without runtime metrics", zap.Int("pid", k.PID), zap.Error(err))
			}
		}
	}
}

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

func (r *ebpfReceiver) instrument(_ context.Context, p *discovery.Process) {
	exe := fmt.Sprintf("/proc/%d/exe", p.PID)
	id, err := statFile(exe)
	if err != nil {
		return // exited already
	}
	_, seen := r.binaries[id]
	b := r.binaryFor(p.PID, id)
	// Log once per binary, not per process: siblings share the result.
	logOnce := func(msg string, err error) {
		if !seen {
			r.set.Logger.Warn(msg, zap.String("path", p.ExePath), zap.Int("pid", p.PID), zap.Error(err))
		}
	}
	if b.err != nil {
		r.recordFailure(b.err)
		var ae *attachError
		if errors.As(b.err, &ae) && ae.reason == reasonNotGo {
			if !seen {
				r.set.Logger.Debug("Skipping non-Go executable", zap.String("path", p.ExePath), zap.Int("pid", p.PID))
			}
		} else {
			logOnce("Cannot instrument executable", b.err)
		}
		return
	}
	proc := &instrumentedProcess{key: p.Key(), file: id}
	uprobes := 0
	if r.tracer != nil {
		if b.info.ProbeErr != nil {
			r.recordFailure(b.info.ProbeErr)
			logOnce("Cannot trace executable", b.info.ProbeErr)
		} else if cookie, err := r.cookieFor(b); err != nil {
			r.recordFailure(&attachError{reason: reasonAttachFailed, err: err})
			r.set.Logger.Warn("Cannot register binary with the probes", zap.String("path", p.ExePath), zap.Error(err))
		} else {
			probes := tracer.Probes{Server: r.cfg.Traces.HTTP.Server, Client: r.cfg.Traces.HTTP.Client}
			att, err := r.tracer.Attach(p.PID, cookie, b.info.Probe, probes)
			switch {
			case att == nil:
				r.recordFailure(&attachError{reason: reasonAttachFailed, err: err})
				r.set.Logger.Warn("Cannot attach probes", zap.String("path", p.ExePath), zap.Int("pid", p.PID), zap.Error(err))
			case err != nil:
				r.set.Logger.Info("Some probes not attached", zap.String("path", p.ExePath), zap.Int("pid", p.PID), zap.Error(err))
			}
			if att != nil {
				proc.attachment = att
				uprobes = att.Links()
			}
		}
	}
	if r.runtime != nil {
		if err := r.runtime.Attach(p.PID, b.info.Exe); err == nil {
			proc.runtime = true
		} else if age := processAge(p.Key()); age < runtimeStartGrace {
			proc.runtimeRetry = true
			r.set.Logger.Debug("Runtime metrics not attachable yet; retrying while the process starts",
				zap.Int("pid", p.PID), zap.Duration("age", age), zap.Error(err))
		} else {
			r.set.Logger.Info("Runtime metrics unavailable for process", zap.Int("pid", p.PID), zap.Error(err))
		}
	}
	if proc.attachment == nil && !proc.runtime && !proc.runtimeRetry {
		if b.refs == 0 && b.cookie != 0 {
			_ = r.tracer.RemoveBinary(b.cookie)
			b.cookie = 0
		}
		return
	}
	b.refs++
	r.procs[p.Key()] = proc
	r.resMu.Lock()
	// A process outside containers, or one that exited, has no identity.
	ident, _ := cgroup.Read(r.scanner.Root, p.PID)
	r.resources[uint32(p.PID)] = httpspan.Resource{
		ServiceName:    serviceName(p.PID, p.ExePath),
		PID:            p.PID,
		ExePath:        strings.TrimSuffix(p.ExePath, " (deleted)"),
		RuntimeVersion: b.info.GoVersion,
		HostName:       r.host,
		ContainerID:    ident.ContainerID,
		PodUID:         ident.PodUID,
	}
	r.exes[uint32(p.PID)] = b.info.Exe
	r.resMu.Unlock()
	r.tel.ReceiverEbpfProcessesInstrumented.Add(context.Background(), 1)
	r.set.Logger.Info("Instrumented process", zap.String("path", p.ExePath), zap.Int("pid", p.PID),
		zap.String("go_version", b.info.GoVersion), zap.Int("uprobes", uprobes), zap.Bool("runtime_metrics", proc.runtime))
}

func (r *ebpfReceiver) recordFailure(err error) {
	reason := reasonAttachFailed
	var ae *attachError
	if errors.As(err, &ae) {
		reason = ae.reason
	}
	r.tel.ReceiverEbpfAttachFailures.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reason)))
}

// detach closes a process's probes and releases its binary when it was the
// last process using it.
func (r *ebpfReceiver) detach(k discovery.Key) error {
	p, ok := r.procs[k]
	if !ok {
		return nil
	}
	delete(r.procs, k)
	if p.runtime {
		r.runtime.Detach(k.PID)
	}
	var err error
	if p.attachment != nil {
		err = errors.Join(p.attachment.Close(), r.tracer.ForgetProcess(k.PID))
	}
	r.tel.ReceiverEbpfProcessesInstrumented.Add(context.Background(), -1)
	if b := r.binaries[p.file]; b != nil {
		b.refs--
		if b.refs <= 0 && b.cookie != 0 && r.tracer != nil {
			err = errors.Join(err, r.tracer.RemoveBinary(b.cookie))
			b.cookie = 0
		}
	}
	r.resMu.Lock()
	r.exited = append(r.exited, uint32(k.PID))
	r.resMu.Unlock()
	return err
}

// serviceName is the target's OTEL_SERVICE_NAME, else its executable name.
func serviceName(pid int, exe string) string {
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err == nil {
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("OTEL_SERVICE_NAME=")); ok && len(v) > 0 {
				return string(v)
			}
		}
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
}

func (r *ebpfReceiver) drainLoop(ctx context.Context) {
	for ctx.Err() == nil {
		batch := newSpanBatch(r.clock(), r.redactor, r.panicTypeName)
		err := r.tracer.Drain(drainInterval, func(raw []byte) {
			r.tel.ReceiverEbpfEventsReceived.Add(ctx, 1)
			ev, err := tracer.Decode(raw)
			if err != nil {
				r.tel.ReceiverEbpfEventsLost.Add(ctx, 1, lostUndecodable)
				return
			}
			batch.add(ev, r.resourceFor)
		})
		r.countDrops(ctx)
		if n := batch.td.SpanCount(); n > 0 && r.traces != nil {
			if cerr := r.traces.ConsumeTraces(ctx, batch.td); cerr != nil {
				r.tel.ReceiverEbpfSpansRefused.Add(ctx, int64(n))
				r.set.Logger.Debug("Next consumer refused spans", zap.Int("spans", n), zap.Error(cerr))
			} else {
				r.tel.ReceiverEbpfSpansEmitted.Add(ctx, int64(n))
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				r.set.Logger.Error("Ring buffer read failed", zap.Error(err))
			}
			return
		}
	}
}

// The reason attribute of events_lost.
var (
	lostRingBufferFull = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "ring_buffer_full")))
	lostUndecodable    = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "undecodable")))
)

func (r *ebpfReceiver) countDrops(ctx context.Context) {
	drops, err := r.tracer.Drops()
	if err != nil {
		return
	}
	if drops > r.lastDrops {
		r.tel.ReceiverEbpfEventsLost.Add(ctx, int64(drops-r.lastDrops), lostRingBufferFull)
		r.lastDrops = drops
	}
}

func (r *ebpfReceiver) clock() httpspan.Clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return httpspan.NewClock(time.Now(), ts.Nano())
}

func (r *ebpfReceiver) resourceFor(pid uint32) httpspan.Resource {
	r.resMu.Lock()
	defer r.resMu.Unlock()
	if res, ok := r.resources[pid]; ok {
		return res
	}
	return httpspan.Resource{ServiceName: "unknown_service", PID: int(pid), HostName: r.host}
}

type panicTypeKey struct {
	exe  *goexe.Executable
	addr uint64
}

// maxPanicTypeNames bounds the cache of panic value type names.
const maxPanicTypeNames = 4096

// panicTypeName names the type of a panic value from the process's
// executable; "" when it cannot (the span's error.type is then _OTHER).
func (r *ebpfReceiver) panicTypeName(pid uint32, addr uint64) string {
	if addr == 0 {
		return ""
	}
	r.resMu.Lock()
	exe := r.exes[pid]
	name, ok := r.typeNames[panicTypeKey{exe, addr}]
	r.resMu.Unlock()
	if exe == nil || ok {
		return name
	}
	name, err := exe.TypeName(addr)
	if err != nil {
		r.set.Logger.Debug("Cannot name a panic value's type", zap.Uint32("pid", pid), zap.Error(err))
	}
	r.resMu.Lock()
	if len(r.typeNames) < maxPanicTypeNames {
		r.typeNames[panicTypeKey{exe, addr}] = name
	}
	r.resMu.Unlock()
	return name
}

// spanBatch groups one drain's spans by process.
type spanBatch struct {
	td       ptrace.Traces
	clock    httpspan.Clock
	scopes   map[uint32]ptrace.ScopeSpans
	redactor *httpspan.Redactor
	typeName func(pid uint32, addr uint64) string
}

func newSpanBatch(c httpspan.Clock, red *httpspan.Redactor, typeName func(uint32, uint64) string) *spanBatch {
	return &spanBatch{td: ptrace.NewTraces(), clock: c, scopes: map[uint32]ptrace.ScopeSpans{}, redactor: red, typeName: typeName}
}

func (b *spanBatch) scope(pid uint32, resource func(uint32) httpspan.Resource) ptrace.ScopeSpans {
	if ss, ok := b.scopes[pid]; ok {
		return ss
	}
	rs := b.td.ResourceSpans().AppendEmpty()
	resource(pid).Fill(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver")
	b.scopes[pid] = ss
	return ss
}

func (b *spanBatch) add(ev any, resource func(uint32) httpspan.Resource) {
	switch e := ev.(type) {
	case *tracer.ServerEvent:
		if e.Panicked && b.typeName != nil {
			e.PanicType = b.typeName(e.PID, e.PanicTypeAddr)
		}
		httpspan.AppendServer(b.scope(e.PID, resource), e, b.clock, b.redactor)
	case *tracer.ClientEvent:
		httpspan.AppendClient(b.scope(e.PID, resource), e, b.clock, b.redactor)
	}
}
