package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/inject"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// injection is socket-level traceparent injection (traces.propagation.inject):
// the injector, the cgroups its sockops program is attached to and the
// counter totals already reported. Owned by the discovery goroutine, except
// counters (drain goroutine) and close (Shutdown, after both stopped).
type injection struct {
	in *inject.Injector
	// cgroupRoot is where the cgroup v2 hierarchy is mounted.
	cgroupRoot string
	// refs counts the instrumented processes in each attached cgroup dir.
	refs  map[string]int
	byPID map[int]string

	last      inject.Counters
	lastProbe tracer.InjectProbeCounts
}

// openInjection loads the inject programs. A missing capability turns
// injection off with one warning; so does any other failure, since spans
// do not depend on it. Nil when injection is off.
func (r *ebpfReceiver) openInjection() *injection {
	in, err := inject.Open(inject.Options{})
	if err != nil {
		if errors.Is(err, inject.ErrMissingPrivilege) {
			r.set.Logger.Warn("traces.propagation.inject is on but the collector lacks CAP_NET_ADMIN (socket-level injection needs CAP_NET_ADMIN, CAP_BPF and CAP_PERFMON): no traceparent is injected; spans and stitching are unaffected",
				zap.Error(err))
		} else {
			r.set.Logger.Warn("traces.propagation.inject is on but the injector cannot be loaded: no traceparent is injected; spans and stitching are unaffected",
				zap.Error(err))
		}
		return nil
	}
	root, err := cgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		_ = in.Close()
		r.set.Logger.Warn("traces.propagation.inject is on but no cgroup v2 hierarchy is mounted (the sockops program attaches to the targets' cgroups): no traceparent is injected",
			zap.Error(err))
		return nil
	}
	return &injection{in: in, cgroupRoot: root, refs: map[string]int{}, byPID: map[int]string{}}
}

// cgroup2Mount is the mount point of the cgroup v2 hierarchy, from a
// mountinfo file.
func cgroup2Mount(mountinfo string) (string, error) {
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		// "id parent major:minor root mountpoint options ... - fstype source options"
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if f := strings.Fields(pre); len(f) >= 5 {
			return f[4], nil
		}
	}
	return "", fmt.Errorf("%s: no cgroup2 mount", mountinfo)
}

// cgroup2Path is a process's cgroup v2 path (the "0::" line of
// /proc/<pid>/cgroup), relative to the hierarchy's root.
func cgroup2Path(procRoot string, pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, fmt.Sprint(pid), "cgroup"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("pid %d: no cgroup v2 membership in /proc/%d/cgroup", pid, pid)
}

// track attaches the sockops program to the process's own cgroup and makes
// its new connections candidates. A process in the root cgroup attaches it
// there: its sockops program then runs at the connection set-up of every
// socket of the host (never per write; only tracked processes' sockets
// enter the sockhash).
func (j *injection) track(procRoot string, pid int) error {
	rel, err := cgroup2Path(procRoot, pid)
	if err != nil {
		return err
	}
	dir := filepath.Join(j.cgroupRoot, rel)
	if j.refs[dir] == 0 {
		if err := j.in.AttachCgroup(dir); err != nil {
			return err
		}
	}
	if err := j.in.Track(pid); err != nil {
		if j.refs[dir] == 0 {
			_ = j.in.DetachCgroup(dir)
		}
		return err
	}
	j.refs[dir]++
	j.byPID[pid] = dir
	return nil
}

// untrack undoes track; the cgroup is detached with its last process.
func (j *injection) untrack(pid int) error {
	dir, ok := j.byPID[pid]
	if !ok {
		return nil
	}
	delete(j.byPID, pid)
	err := j.in.Untrack(pid)
	j.refs[dir]--
	if j.refs[dir] <= 0 {
		delete(j.refs, dir)
		err = errors.Join(err, j.in.DetachCgroup(dir))
	}
	return err
}

// injectSkipReasons names inject.Counters' skip counters by the reason
// attribute of receiver_ebpf_inject_skipped.
func injectSkipReasons(c *inject.Counters) map[string]*uint64 {
	return map[string]*uint64{
		"no_pending":        &c.SkippedNoPending,
		"has_traceparent":   &c.SkippedHasTraceparent,
		"head_split":        &c.SkippedHeadSplit,
		"too_large":         &c.SkippedTooLarge,
		"tls":               &c.SkippedTLS,
		"not_request_start": &c.SkippedNotRequestStart,
		"malformed":         &c.SkippedMalformed,
		"no_room":           &c.SkippedNoRoom,
		"error":             &c.SkippedError,
		"boundary_lost":     &c.SkippedBoundaryLost,
		"connection_closed": &c.PendingClosed,
		"pending_full":      &c.PendingRejected,
		"stale_context":     &c.PendingStale,
		"not_tracked":       &c.PendingNotTracked,
	}
}

// countInjection reports what the injector and the client probe counted
// since the last call.
func (r *ebpfReceiver) countInjection(ctx context.Context) {
	j := r.injection
	if j == nil {
		return
	}
	c, err := j.in.Counters()
	if err != nil {
		return
	}
	add := func(inst metric.Int64Counter, now, last uint64, opts ...metric.AddOption) {
		if now > last {
			inst.Add(ctx, int64(now-last), opts...)
		}
	}
	add(r.tel.ReceiverEbpfInjectInjected, c.Injected, j.last.Injected)
	cur, prev := injectSkipReasons(&c), injectSkipReasons(&j.last)
	for reason, v := range cur {
		add(r.tel.ReceiverEbpfInjectSkipped, *v, *prev[reason], metric.WithAttributes(attribute.String("reason", reason)))
	}
	add(r.tel.ReceiverEbpfInjectConnectionsLost, c.LostChunked, j.last.LostChunked, metric.WithAttributes(attribute.String("reason", "chunked")))
	add(r.tel.ReceiverEbpfInjectConnectionsLost, c.LostUpgrade, j.last.LostUpgrade, metric.WithAttributes(attribute.String("reason", "upgrade")))
	j.last = c
	if p, err := r.tracer.InjectCounts(); err == nil {
		add(r.tel.ReceiverEbpfInjectSkipped, p.Withdrawn, j.lastProbe.Withdrawn, metric.WithAttributes(attribute.String("reason", "not_sent")))
		add(r.tel.ReceiverEbpfInjectSkipped, p.OfferFailed, j.lastProbe.OfferFailed, metric.WithAttributes(attribute.String("reason", "pending_full")))
		add(r.tel.ReceiverEbpfInjectSkipped, p.NotTracked, j.lastProbe.NotTracked, metric.WithAttributes(attribute.String("reason", "not_tracked")))
		j.lastProbe = p
	}
}

func (j *injection) close() error {
	if j == nil {
		return nil
	}
	return j.in.Close()
}
