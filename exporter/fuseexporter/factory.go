package fuseexporter // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

// NewFactory returns the factory of the fuse exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	// One consumer keeps a destination's alert state changes in order: a
	// resolve must never be overtaken by the firing record it ends.
	queue.NumConsumers = 1

	amClient := confighttp.NewDefaultClientConfig()
	amClient.Timeout = defaultHTTPTimeout
	return &Config{
		QueueConfig: configoptional.Some(queue),
		RetryConfig: configretry.NewDefaultBackOffConfig(),
		Alertmanager: configoptional.Default(AlertmanagerConfig{
			ClientConfig:    amClient,
			ResendInterval:  defaultResendInterval,
			MaxActiveAlerts: defaultMaxActiveAlerts,
		}),
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	return newFuseExporter(ctx, set, cfg.(*Config))
}
