package config

import (
	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
)

func confmapSettings() confmap.ProviderSettings {
	return confmap.ProviderSettings{Logger: zap.NewNop()}
}
