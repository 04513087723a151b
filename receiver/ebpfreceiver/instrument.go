package ebpfreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/cgroup"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/discovery"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

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
		r.sqlServers.Forget(pid)
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
		if err := r.cfg.Traces.grpcLayoutUnknown(b.info); err != nil {
			logOnce("No gRPC spans for executable: grpc-go struct layout unknown", err)
		} else if err := r.cfg.Traces.grpcStitchLayoutUnknown(b.info); err != nil {
			logOnce("No gRPC stitching for executable's client calls: grpc-go struct layout unknown", err)
		}
		if err := r.cfg.Traces.redisLayoutUnknown(b.info); err != nil {
			logOnce("No Redis spans (nor Redis pool metrics) for executable: go-redis struct layout unknown", err)
		}
		if err := r.cfg.Traces.saramaLayoutUnknown(b.info); err != nil {
			logOnce("No sarama spans for executable: sarama struct layout unknown", err)
		}
		if err := r.cfg.Traces.xnetLayoutUnknown(b.info); err != nil {
			logOnce("No spans of golang.org/x/net/http2's own server and client for executable: x/net struct layout unknown", err)
		}
		if !seen && b.info.ProbeErr == nil {
			for _, err := range b.info.Probe.Fallbacks {
				r.tel.ReceiverEbpfProbeFallbacks.Add(context.Background(), 1)
				r.set.Logger.Info("Probe at its fallback sites for executable", zap.String("path", p.ExePath), zap.Int("pid", p.PID), zap.Error(err))
			}
		}
		if b.info.ProbeErr != nil {
			r.recordFailure(b.info.ProbeErr)
			logOnce("Cannot trace executable", b.info.ProbeErr)
		} else if cookie, err := r.cookieFor(b); err != nil {
			r.recordFailure(&attachError{reason: reasonAttachFailed, err: err})
			r.set.Logger.Warn("Cannot register binary with the probes", zap.String("path", p.ExePath), zap.Error(err))
		} else {
			att, err := r.tracer.Attach(p.PID, cookie, b.info.Probe, r.cfg.Traces.probesWith(r.injection != nil))
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
				if r.injection != nil && r.cfg.Traces.HTTP.Client {
					if err := r.injection.track(r.scanner.Root, p.PID); err != nil {
						r.set.Logger.Warn("No traceparent injection for process", zap.String("path", p.ExePath), zap.Int("pid", p.PID), zap.Error(err))
					}
				}
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
	if r.dbpools != nil {
		r.dbpools.Forget(k.PID)
	}
	var err error
	if p.attachment != nil {
		err = errors.Join(p.attachment.Close(), r.tracer.ForgetProcess(k.PID))
	}
	if r.injection != nil {
		err = errors.Join(err, r.injection.untrack(k.PID))
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
