package ebpfreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/dbpools"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
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
	// Stats returns cumulative counters (folded sites, read errors, suspected
	// leaks) for the receiver's internal telemetry.
	Stats() runtimemetrics.Stats
	Close() error
}

func newRuntimeCollector(cfg MetricsConfig, logger *zap.Logger) (RuntimeCollector, error) {
	opts := cfg.Runtime.options()
	opts.Logger = logger
	return runtimemetrics.New(opts)
}

func (r *ebpfReceiver) metricsLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Metrics.CollectionInterval)
	defer t.Stop()
	var recorded runtimemetrics.Stats
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
			recorded = r.recordRuntimeStats(ctx, recorded)
			r.collectDBPools(md, now)
			if md.ResourceMetrics().Len() == 0 {
				continue
			}
			r.enrichMetricResources(md)
			if err := r.metrics.ConsumeMetrics(ctx, md); err != nil {
				r.tel.ReceiverEbpfMetricPointsRefused.Add(ctx, int64(md.DataPointCount()))
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

// recordRuntimeStats adds to the internal telemetry what the runtime collector's
// cumulative counters gained since prev, and returns the new totals.
func (r *ebpfReceiver) recordRuntimeStats(ctx context.Context, prev runtimemetrics.Stats) runtimemetrics.Stats {
	now := r.runtime.Stats()
	delta := func(cur, old uint64) int64 {
		if cur < old {
			return 0
		}
		return int64(cur - old)
	}
	if d := delta(now.FoldedCreationSites, prev.FoldedCreationSites); d > 0 {
		r.tel.ReceiverEbpfRuntimeSitesFolded.Add(ctx, d, metric.WithAttributes(attribute.String("site_kind", "creation")))
	}
	if d := delta(now.FoldedAllocationSites, prev.FoldedAllocationSites); d > 0 {
		r.tel.ReceiverEbpfRuntimeSitesFolded.Add(ctx, d, metric.WithAttributes(attribute.String("site_kind", "allocation")))
	}
	if d := delta(now.ReadErrors, prev.ReadErrors); d > 0 {
		r.tel.ReceiverEbpfRuntimeReadErrors.Add(ctx, d)
	}
	if d := delta(now.SuspectedLeaks, prev.SuspectedLeaks); d > 0 {
		r.tel.ReceiverEbpfRuntimeLeaksSuspected.Add(ctx, d)
	}
	return now
}

// collectDBPools adds the database/sql pool metrics (metrics.db_pools).
func (r *ebpfReceiver) collectDBPools(md pmetric.Metrics, now time.Time) {
	if r.dbpools == nil || r.tracer == nil {
		return
	}
	pools, err := r.tracer.SQLPools()
	if err != nil {
		r.set.Logger.Debug("Cannot list database/sql pools", zap.Error(err))
	}
	var clients map[int][]uint64
	if r.cfg.Traces.Redis.Enabled {
		if clients, err = r.tracer.RedisClients(); err != nil {
			r.set.Logger.Debug("Cannot list go-redis clients", zap.Error(err))
		}
	}
	err = r.dbpools.Collect(md, now, pools, clients, func(pid int) (dbpools.Process, bool) {
		r.resMu.Lock()
		exe := r.exes[uint32(pid)]
		r.resMu.Unlock()
		if exe == nil {
			return dbpools.Process{}, false
		}
		p := dbpools.Process{Exe: exe, TypeName: func(addr uint64) string { return r.panicTypeName(uint32(pid), addr) }}
		if r.sqlServers != nil {
			p.Server = func(db uint64) sqlconnector.Server { return r.sqlServers.Lookup(uint32(pid), db) }
		}
		return p, true
	})
	if err != nil {
		r.set.Logger.Debug("Database/sql pool metrics incomplete", zap.Error(err))
	}
}
