// Package runqlat loads the sched-tracepoint program that measures run-queue
// latency (time runnable before getting a CPU) of the threads of tracked
// processes, aggregated per process into log2 buckets of 2^-30 s units.
package runqlat

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Buckets is the number of log2 buckets per histogram.
const Buckets = 64

// Histogram is one process's run-queue latency, summed over CPUs. Values
// are in units of 2^-30 s; bucket k counts values v with 2^k < v <= 2^(k+1).
type Histogram struct {
	Zero, One uint64
	Buckets   [Buckets]uint64
	Count     uint64
	SumNs     uint64
	// Hits is how many tracepoint invocations concerned this process.
	Hits uint64
}

// Tracer owns the loaded programs, their links and maps.
type Tracer struct {
	mu    sync.Mutex
	objs  runqlatObjects
	links []link.Link
}

// Load loads and attaches the programs. It needs CAP_BPF/CAP_PERFMON (or
// root) and a kernel with BTF (tp_btf programs).
func Load() (*Tracer, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("runqlat: remove memlock limit: %w", err)
	}
	t := &Tracer{}
	if err := loadRunqlatObjects(&t.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("runqlat: load programs: %+v", ve)
		}
		return nil, fmt.Errorf("runqlat: load programs: %w", err)
	}
	for _, p := range []*ebpf.Program{t.objs.RunqWakeup, t.objs.RunqWakeupNew, t.objs.RunqSwitch} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			_ = t.Close()
			return nil, fmt.Errorf("runqlat: attach %s: %w", p, err)
		}
		t.links = append(t.links, l)
	}
	return t, nil
}

// Track starts measuring process tgid (creates its zeroed histogram; the
// programs ignore every process without one).
func (t *Tracer) Track(tgid uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("runqlat: possible CPUs: %w", err)
	}
	zero := make([]runqlatRunqHist, n)
	if err := t.objs.RunqHists.Update(tgid, zero, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("runqlat: track pid %d: %w", tgid, err)
	}
	return nil
}

// Untrack stops measuring tgid.
func (t *Tracer) Untrack(tgid uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.objs.RunqHists.Delete(tgid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("runqlat: untrack pid %d: %w", tgid, err)
	}
	return nil
}

// Read returns tgid's cumulative histogram, summed over CPUs.
func (t *Tracer) Read(tgid uint32) (Histogram, error) {
	var per []runqlatRunqHist
	if err := t.objs.RunqHists.Lookup(tgid, &per); err != nil {
		return Histogram{}, fmt.Errorf("runqlat: read pid %d: %w", tgid, err)
	}
	var h Histogram
	for _, c := range per {
		h.Zero += c.Zero
		h.One += c.One
		for i := range h.Buckets {
			h.Buckets[i] += c.Buckets[i]
		}
		h.Count += c.Count
		h.SumNs += c.SumNs
		h.Hits += c.Hits
	}
	return h, nil
}

// Calls returns how many times the tracepoint programs ran, for every
// process on the machine (their system-wide cost).
func (t *Tracer) Calls() (uint64, error) {
	var per []uint64
	if err := t.objs.RunqCalls.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("runqlat: read call counter: %w", err)
	}
	var n uint64
	for _, c := range per {
		n += c
	}
	return n, nil
}

// Cost returns how often the programs ran and the time they took in total.
// The kernel counts these only while BPF statistics are enabled
// (ebpf.EnableStats or sysctl kernel.bpf_stats_enabled=1).
func (t *Tracer) Cost() (runs uint64, total time.Duration, err error) {
	for _, p := range []*ebpf.Program{t.objs.RunqWakeup, t.objs.RunqWakeupNew, t.objs.RunqSwitch} {
		st, err := p.Stats()
		if err != nil {
			return 0, 0, fmt.Errorf("runqlat: program stats: %w", err)
		}
		runs += st.RunCount
		total += st.Runtime
	}
	return runs, total, nil
}

// Close detaches the programs and frees the maps.
func (t *Tracer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	errs = append(errs, t.objs.Close())
	return errors.Join(errs...)
}
