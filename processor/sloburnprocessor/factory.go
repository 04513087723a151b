package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/sharedcomponent"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadata"
)

// instances holds one sloBurn per component ID, shared by its traces, metrics and logs
// pipelines.
var instances = sharedcomponent.NewMap[component.ID, *sloBurn]()

// NewFactory returns the slo_burn processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Alerting: AlertingConfig{
			Tiers:        defaultTiers(),
			MinEvents:    10,
			ResolveRatio: 0.9,
			ResolveFor:   time.Minute,
		},
		EmitInterval: 15 * time.Second,
		Hints:        hints.DefaultConfig(),
	}
}

func sharedInstance(set processor.Settings, cfg component.Config) (*sharedcomponent.Component[*sloBurn], error) {
	return instances.LoadOrStore(set.ID, func() (*sloBurn, error) {
		return newSLOBurn(set, cfg.(*Config))
	})
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	shared, err := sharedInstance(set, cfg)
	if err != nil {
		return nil, err
	}
	p := shared.Unwrap()
	p.markTraces()
	// Not processorhelper: its per-batch span events and obsreport allocate, and the hot
	// path is meant to be allocation-free. The processor counts spans itself
	// (processor_slo_burn_spans_observed).
	return &tracesProcessor{Component: shared, p: p, next: next}, nil
}

// tracesProcessor observes spans for the shared instance and passes them on.
type tracesProcessor struct {
	*sharedcomponent.Component[*sloBurn]
	p    *sloBurn
	next consumer.Traces
}

// Capabilities: spans of a firing SLO get slo.name and slo.burning attributes.
func (*tracesProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (t *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	td, _ = t.p.processTraces(ctx, td)
	// Counted before the call: the next consumer may take the spans away.
	n := int64(td.SpanCount())
	if err := t.next.ConsumeTraces(ctx, td); err != nil {
		t.p.tel.ProcessorSloBurnSpansRefused.Add(ctx, n)
		return err
	}
	t.p.tel.ProcessorSloBurnSpansForwarded.Add(ctx, n)
	return nil
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	shared, err := sharedInstance(set, cfg)
	if err != nil {
		return nil, err
	}
	shared.Unwrap().addMetricsConsumer(next)
	return processorhelper.NewMetrics(ctx, set, cfg, next,
		func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) { return md, nil },
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		processorhelper.WithStart(shared.Start),
		processorhelper.WithShutdown(shared.Shutdown))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	shared, err := sharedInstance(set, cfg)
	if err != nil {
		return nil, err
	}
	shared.Unwrap().addLogsConsumer(next)
	return processorhelper.NewLogs(ctx, set, cfg, next,
		func(_ context.Context, ld plog.Logs) (plog.Logs, error) { return ld, nil },
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		processorhelper.WithStart(shared.Start),
		processorhelper.WithShutdown(shared.Shutdown))
}
