package tailsamplingdriftprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/sharedcomponent"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/metadata"
)

// tailSamplingDrift is the one instance behind every pipeline that lists a
// tail_sampling_drift ID: it samples in the traces pipeline and emits drift
// metrics and alert logs into the metrics and logs pipelines.
type tailSamplingDrift struct {
	cfg    *Config
	set    processor.Settings
	tel    *metadata.TelemetryBuilder
	engine *engine

	mu          sync.Mutex
	nextTraces  consumer.Traces
	nextMetrics consumer.Metrics
	nextLogs    consumer.Logs
}

func newTailSamplingDrift(set processor.Settings, cfg *Config) (*tailSamplingDrift, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("tail_sampling_drift telemetry: %w", err)
	}
	e, err := newEngine(cfg, set, tel)
	if err != nil {
		tel.Shutdown()
		return nil, err
	}
	e.drift = newDriftRunner(&cfg.Drift, set.Logger, set.ID.String())
	p := &tailSamplingDrift{cfg: cfg, set: set, tel: tel, engine: e}
	err = errors.Join(
		tel.RegisterProcessorTailSamplingDriftTracesInMemoryCallback(func(_ context.Context, o metric.Int64Observer) error {
			n, _ := e.inMemory()
			o.Observe(n)
			return nil
		}),
		tel.RegisterProcessorTailSamplingDriftBytesInMemoryCallback(func(_ context.Context, o metric.Int64Observer) error {
			_, b := e.inMemory()
			o.Observe(b)
			return nil
		}),
	)
	if err == nil && e.drift != nil {
		err = e.drift.registerTelemetry(tel)
	}
	if err != nil {
		tel.Shutdown()
		return nil, fmt.Errorf("tail_sampling_drift telemetry: %w", err)
	}
	return p, nil
}

func (p *tailSamplingDrift) setTraces(next consumer.Traces) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextTraces = next
	p.engine.next = next
}

func (p *tailSamplingDrift) setMetrics(next consumer.Metrics) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextMetrics = next
}

func (p *tailSamplingDrift) setLogs(next consumer.Logs) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextLogs = next
}

// Start starts the shard tickers (and the drift emitter).
func (p *tailSamplingDrift) Start(context.Context, component.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nextTraces != nil && p.nextMetrics == nil && p.cfg.Drift.CohortAttribute != "" {
		p.set.Logger.Warn("tail_sampling_drift is in a traces pipeline but in no metrics pipeline: its drift metrics go nowhere; list the same processor ID in a metrics pipeline",
			zap.String("id", p.set.ID.String()))
	}
	if p.nextTraces != nil {
		p.engine.start()
	}
	if p.engine.drift != nil {
		p.engine.drift.setConsumers(p.nextMetrics, p.nextLogs)
		p.engine.drift.start()
	}
	return nil
}

// Shutdown decides what is still pending (or drops it when
// drop_pending_traces_on_shutdown is set) and stops. Safe without Start.
func (p *tailSamplingDrift) Shutdown(ctx context.Context) error {
	var errs []error
	if p.engine.drift != nil {
		errs = append(errs, p.engine.drift.shutdown(ctx))
	}
	if p.nextTraces != nil {
		errs = append(errs, p.engine.shutdown(ctx))
	}
	p.tel.Shutdown()
	return errors.Join(errs...)
}

// tracesProcessor is the traces-pipeline face of the shared instance.
type tracesProcessor struct {
	*sharedcomponent.Component[*tailSamplingDrift]
}

func (t *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return t.Unwrap().engine.consumeTraces(ctx, td)
}

// Capabilities: the spans are moved out of the incoming batch into the
// processor's own storage.
func (*tracesProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// metricsProcessor passes incoming metrics on unchanged; the drift metrics are
// emitted from the instance's own timer.
type metricsProcessor struct {
	*sharedcomponent.Component[*tailSamplingDrift]
	next consumer.Metrics
}

func (m *metricsProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return m.next.ConsumeMetrics(ctx, md)
}

func (*metricsProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// logsProcessor passes incoming logs on unchanged; drift alert records are
// emitted from the instance's own timer.
type logsProcessor struct {
	*sharedcomponent.Component[*tailSamplingDrift]
	next consumer.Logs
}

func (l *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return l.next.ConsumeLogs(ctx, ld)
}

func (*logsProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}
