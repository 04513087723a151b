package fuseexporter

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	am := full.Alertmanager.GetOrInsertDefault()
	am.ClientConfig.Endpoint = "https://alertmanager.example:9093/prefix"
	am.ClientConfig.Timeout = 5 * time.Second
	am.ClientConfig.Headers = configopaque.MapList{{Name: "X-Scope-OrgID", Value: "team-a"}}
	am.ResendInterval = 30 * time.Second
	am.Lease = 3 * time.Minute
	am.MaxActiveAlerts = 500
	hook1 := WebhookConfig{ClientConfig: confighttp.ClientConfig{Endpoint: "https://rollouts.example/abort", Headers: configopaque.MapList{{Name: "X-Team", Value: "sre"}}}, Secret: "topsecret"}
	hook2 := WebhookConfig{ClientConfig: confighttp.ClientConfig{Endpoint: "http://127.0.0.1:8080/hook", Timeout: 2 * time.Second}, Secret: "other"}
	full.Webhooks = []WebhookConfig{hook1, hook2}
	full.RetryConfig.InitialInterval = time.Second
	full.RetryConfig.MaxElapsedTime = time.Minute
	full.QueueConfig.Get().QueueSize = 50

	tests := []struct {
		id       component.ID
		expected *Config
	}{
		{
			id: component.NewIDWithName(metadata.Type, "alertmanager_only"),
			expected: func() *Config {
				cfg := createDefaultConfig().(*Config)
				cfg.Alertmanager.GetOrInsertDefault().ClientConfig.Endpoint = "http://127.0.0.1:9093"
				return cfg
			}(),
		},
		{id: component.NewIDWithName(metadata.Type, "full"), expected: full},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.False(t, cfg.Alertmanager.HasValue(), "no destination until one is configured")
	am := cfg.Alertmanager.GetOrInsertDefault()
	assert.Equal(t, time.Minute, am.ResendInterval)
	assert.Equal(t, 4*time.Minute, am.leaseDuration())
	assert.Equal(t, 10000, am.MaxActiveAlerts)
	assert.Equal(t, 1, cfg.QueueConfig.Get().NumConsumers)
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string
	}{
		{"no_destination", "no destination: set alertmanager.endpoint or at least one entry in webhooks"},
		{"alertmanager_endpoint_empty", "alertmanager.endpoint: is empty"},
		{"alertmanager_endpoint_scheme", `alertmanager.endpoint: "ftp://127.0.0.1:9093": scheme must be http or https`},
		{"alertmanager_endpoint_unparsable", `alertmanager.endpoint: "http://[::1" does not parse`},
		{"alertmanager_resend_interval_zero", "alertmanager.resend_interval must be positive, got 0s"},
		{"alertmanager_lease_too_short", "alertmanager.lease (30s) must be longer than alertmanager.resend_interval (1m0s)"},
		{"alertmanager_lease_negative", "alertmanager.lease must not be negative, got -1m0s"},
		{"alertmanager_max_active_alerts_zero", "alertmanager.max_active_alerts must be positive, got 0"},
		{"webhook_endpoint_empty", "webhooks[0].endpoint: is empty"},
		{"webhook_endpoint_no_host", `webhooks[0].endpoint: "https:///abort" has no host`},
		{"webhook_secret_empty", "webhooks[0].secret is empty"},
		{"storage_with_two_destinations", "sending_queue.storage (file_storage) supports a single destination, got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", tt.file+".yaml"))
			require.NoError(t, err)
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, cm.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// TestSecretFromEnv resolves ${env:FUSE_SECRET} the way the collector does and
// checks the secret never shows when the config is printed or marshaled.
func TestSecretFromEnv(t *testing.T) {
	t.Setenv("FUSE_SECRET", "from-the-environment")
	resolver, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              []string{"file:" + filepath.Join("testdata", "webhook_secret_from_env.yaml")},
		ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
		DefaultScheme:     "env",
	})
	require.NoError(t, err)
	conf, err := resolver.Resolve(t.Context())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, conf.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	require.Len(t, cfg.Webhooks, 1)
	assert.Equal(t, configopaque.String("from-the-environment"), cfg.Webhooks[0].Secret)

	assert.NotContains(t, fmt.Sprintf("%v %+v %s", cfg, *cfg, cfg.Webhooks[0].Secret), "from-the-environment")
	out, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.NotContains(t, string(out), "from-the-environment")
	marshaled := confmap.New()
	require.NoError(t, marshaled.Marshal(cfg))
	assert.NotContains(t, fmt.Sprint(marshaled.ToStringMap()), "from-the-environment")

	t.Setenv("FUSE_SECRET", "")
	conf, err = resolver.Resolve(t.Context())
	require.NoError(t, err)
	cfg = createDefaultConfig().(*Config)
	require.NoError(t, conf.Unmarshal(cfg))
	assert.ErrorContains(t, confmap.Validate(cfg), "webhooks[0].secret is empty", "an unset variable is caught at load")
}
