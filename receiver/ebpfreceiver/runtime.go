package ebpfreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
)

// RuntimeCollector collects Go runtime metrics from instrumented processes.
// Package internal/runtimemetrics implements it.
//
// The receiver calls Attach once per process it instruments (after the
// process's probes are attached), with goexe's inspection of the binary
// shared by every process of that binary; Detach when the process exits or
// is no longer selected; Collect every metrics.collection_interval from the
// metrics goroutine; Close at shutdown after the last Collect. Attach and
// Detach come from the discovery goroutine, concurrently with Collect.
// Collect returns one ResourceMetrics per process carrying at least
// process.pid; the receiver adds the other resource attributes (service.name,
// process.executable.path, ...) so that traces and metrics of a process share
// one resource.
type RuntimeCollector interface {
	Attach(pid int, exe *goexe.Executable) error
	Detach(pid int)
	Collect(ctx context.Context, now time.Time) (pmetric.Metrics, error)
	Close() error
}

func newRuntimeCollector(cfg MetricsConfig, logger *zap.Logger) (RuntimeCollector, error) {
	opts := runtimemetrics.DefaultOptions()
	opts.Goroutines = cfg.Runtime.Goroutines
	opts.Scheduler = cfg.Runtime.Scheduler
	opts.GC = cfg.Runtime.GC
	opts.Allocations = cfg.Runtime.Allocations
	opts.Logger = logger
	return runtimemetrics.New(opts)
}

func (r *ebpfReceiver) metricsLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Metrics.CollectionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			md, err := r.runtime.Collect(ctx, now)
			if err != nil {
				// Partial results still carry what could be read.
				r.set.Logger.Debug("Runtime metrics collection incomplete", zap.Error(err))
			}
			if md.ResourceMetrics().Len() == 0 {
				continue
			}
			r.enrichMetricResources(md)
			if err := r.metrics.ConsumeMetrics(ctx, md); err != nil {
				r.set.Logger.Debug("Next consumer refused runtime metrics", zap.Error(err))
			}
		}
	}
}

// enrichMetricResources gives each process's metrics the same resource
// attributes as its spans.
func (r *ebpfReceiver) enrichMetricResources(md pmetric.Metrics) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		res := md.ResourceMetrics().At(i).Resource()
		pid, ok := res.Attributes().Get("process.pid")
		if !ok {
			continue
		}
		r.resourceFor(uint32(pid.Int())).Fill(res)
	}
}
