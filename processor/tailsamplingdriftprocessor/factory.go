package tailsamplingdriftprocessor

import (
	"context"
	"time"

	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/sharedcomponent"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/metadata"
)

// instances holds one processor per component ID, shared by the traces, metrics
// and logs pipelines that list it.
var instances = sharedcomponent.NewMap[component.ID, *tailSamplingDrift]()

// NewFactory returns the factory of the tail_sampling_drift processor.
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
		Config: tsp.Config{
			DecisionWait:     30 * time.Second,
			NumTraces:        50000,
			SamplingStrategy: "trace-complete",
		},
		TickInterval: 100 * time.Millisecond,
		Drift: DriftConfig{
			Signals:      []string{signalLatency, signalErrors},
			Significance: 0.01,
			MinSamples:   100,
			EmitInterval: defaultEmitInterval,
			Hints:        hints.DefaultConfig(),
		},
	}
}

func loadInstance(set processor.Settings, cfg component.Config) (*sharedcomponent.Component[*tailSamplingDrift], error) {
	return instances.LoadOrStore(set.ID, func() (*tailSamplingDrift, error) {
		return newTailSamplingDrift(set, cfg.(*Config))
	})
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	c, err := loadInstance(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().setTraces(next)
	return &tracesProcessor{Component: c}, nil
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	c, err := loadInstance(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().setMetrics(next)
	return &metricsProcessor{Component: c, next: next}, nil
}

func createLogs(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	c, err := loadInstance(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().setLogs(next)
	return &logsProcessor{Component: c, next: next}, nil
}
