package ebpfreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/sharedcomponent"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
)

// receivers holds one instance per component ID, shared by the traces and
// metrics pipelines that list it: one set of probes per ID.
var receivers = sharedcomponent.NewMap[component.ID, *ebpfReceiver]()

// NewFactory returns the ebpf receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithTraces(createTraces, metadata.TracesStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Discovery: DiscoveryConfig{PollInterval: 2 * time.Second},
		Traces: TracesConfig{
			HTTP:              HTTPConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: true}, CaptureQuery: true},
			GRPC:              GRPCConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: true}, ClientStreams: true},
			Propagation:       PropagationConfig{Extract: []string{"tracecontext", "b3"}, Stitch: true},
			GoroutineAncestry: AncestryDeep,
			Kafka:             KafkaConfig{Join: true, JoinWait: 2 * time.Second, JoinMaxHeldSpans: 10000},
		},
		Metrics: MetricsConfig{
			CollectionInterval: 10 * time.Second,
			Runtime:            defaultRuntimeMetricsConfig(),
		},
		RingBufferSize: 8 << 20,
	}
}

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	c, err := receivers.LoadOrStore(set.ID, func() (*ebpfReceiver, error) {
		return newReceiver(cfg.(*Config), set)
	})
	if err != nil {
		return nil, err
	}
	c.Unwrap().traces = next
	return c, nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c, err := receivers.LoadOrStore(set.ID, func() (*ebpfReceiver, error) {
		return newReceiver(cfg.(*Config), set)
	})
	if err != nil {
		return nil, err
	}
	c.Unwrap().metrics = next
	return c, nil
}

func defaultRuntimeMetricsConfig() RuntimeMetricsConfig {
	d := runtimemetrics.DefaultOptions()
	return RuntimeMetricsConfig{
		Goroutines: true, Scheduler: true, GC: true, Allocations: true,
		TopKCreationSites:   d.TopKCreationSites,
		TopKAllocationSites: d.TopKAllocationSites,
		LeakThreshold:       d.LeakThreshold,
		LeakWindow:          d.LeakWindow,
		MaxGoroutines:       d.MaxGoroutines,
	}
}
