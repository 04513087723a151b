package ebpfreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
)

func loadConfig(t *testing.T, file string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewID(component.MustNewType("ebpf")).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, "config.yaml")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))
	want := &Config{
		Discovery: DiscoveryConfig{
			Instrument: []ProcessSelector{
				{ExePath: "/usr/local/bin/orders*"},
				{OpenPorts: "8080,9000-9100"},
				{PID: 4242},
			},
			Exclude:      []ProcessSelector{{ExePath: "*/otelcol*"}},
			PollInterval: time.Second,
		},
		Traces: TracesConfig{
			HTTP:              HTTPConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: false}, CaptureQuery: false, RedactQueryKeys: []string{"session", "X-Api-Key"}},
			SQL:               SQLConfig{Enabled: true, QueryText: true},
			Redis:             RedisConfig{Enabled: true},
			Kafka:             KafkaConfig{Producer: true, Consumer: false, Join: true, JoinWait: 1500 * time.Millisecond, JoinMaxHeldSpans: 10000},
			Propagation:       PropagationConfig{Extract: []string{"tracecontext"}},
			GoroutineAncestry: AncestryParent,
			CaptureHeaders:    []string{},
		},
		Metrics: MetricsConfig{
			CollectionInterval: 30 * time.Second,
			Runtime: RuntimeMetricsConfig{
				Goroutines: true, GC: true,
				TopKCreationSites: 5, TopKAllocationSites: 20, LeakThreshold: 50, LeakWindow: 3,
				MaxGoroutines: 1 << 20,
			},
			DBPools: true,
		},
		RingBufferSize: 16 << 20,
	}
	assert.Equal(t, want, cfg)
}

func TestDefaultConfigNeedsOnlyASelector(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	err := confmap.Validate(cfg)
	require.ErrorContains(t, err, "discovery.instrument: at least one selector is required")
	cfg.Discovery.Instrument = []ProcessSelector{{PID: 1}}
	require.NoError(t, confmap.Validate(cfg))
	// gRPC spans are on by default, as HTTP's are.
	require.Equal(t, GRPCConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: true}, ClientStreams: true}, cfg.Traces.GRPC)
}

func TestInvalidConfigs(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string
	}{
		{"invalid_no_instrument.yaml", "discovery.instrument: at least one selector is required"},
		{"invalid_selector_two_fields.yaml", `discovery.instrument[0]: exactly one of exe_path, open_ports, pid must be set: exe_path="/srv/a" open_ports="" pid=12`},
		{"invalid_selector_empty.yaml", `discovery.instrument[0]: exactly one of exe_path, open_ports, pid must be set: exe_path="" open_ports="" pid=0`},
		{"invalid_ports.yaml", `discovery.instrument[0]: open_ports: port list "9100-9000": range "9100-9000" is reversed`},
		{"invalid_glob.yaml", `discovery.instrument[0]: exe_path: bad glob "/srv/[abc"`},
		{"invalid_negative_pid.yaml", "discovery.instrument[0]: pid must be positive: -5"},
		{"invalid_exclude.yaml", `discovery.exclude[0]: open_ports: port list "http": invalid port "http"`},
		{"invalid_poll_interval.yaml", "discovery.poll_interval must be at least 100ms: 10ms"},
		{"invalid_redact_query_key.yaml", `traces.http.redact_query_keys[1]: invalid query parameter name "a=b"`},
		{"invalid_redact_query_key_empty.yaml", `traces.http.redact_query_keys[0]: invalid query parameter name ""`},
		{"invalid_extract.yaml", `traces.propagation.extract[1]: unknown format "jaeger"`},
		{"invalid_inject.yaml", "traces.propagation.inject: true needs traces.http.client: true"},
		{"invalid_db_pools.yaml", "metrics.db_pools: true needs traces.sql.enabled: true or traces.redis.enabled: true"},
		{"invalid_sql_query_text.yaml", "traces.sql.query_text: true needs traces.sql.enabled: true"},
		{"invalid_goroutine_ancestry.yaml", `traces.goroutine_ancestry: unknown value "all" (want parent or deep)`},
		{"invalid_kafka_join_wait.yaml", "traces.kafka.join_wait must be more than 0 and at most 1m: 0s"},
		{"invalid_capture_headers.yaml", `traces.capture_headers: header capture is not implemented in this version: ["X-Request-Id"]`},
		{"invalid_collection_interval.yaml", "metrics.collection_interval must be positive: 0s"},
		{"invalid_top_k.yaml", "metrics.runtime: top_k_creation_sites must be at least 1: 0"},
		{"invalid_leak_window.yaml", "metrics.runtime: leak_window must be at least 2 collections: 1"},
		{"invalid_mem_profile_rate.yaml", "metrics.runtime.set_mem_profile_rate is not supported: -1 (this receiver never writes into a target's memory; set runtime.MemProfileRate in the program itself to have allocation sites reported)"},
		{"invalid_mem_profile_rate_positive.yaml", "metrics.runtime.set_mem_profile_rate is not supported: 524288"},
		{"invalid_ring_buffer_small.yaml", "ring_buffer_size must be between 4KiB and 1GiB: 1024 bytes"},
		{"invalid_ring_buffer_unit.yaml", `invalid byte size "8 parsecs"`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.file)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"8MiB": 8 << 20, "512KiB": 512 << 10, "1MB": 1_000_000, "4096": 4096, "2 GiB": 2 << 30, "10B": 10} {
		var b ByteSize
		require.NoError(t, b.UnmarshalText([]byte(in)), in)
		assert.Equal(t, want, b, in)
	}
	for _, in := range []string{"", "-1MiB", "MiB", "1.5MiB", "99999999999999999GiB"} {
		var b ByteSize
		assert.Error(t, b.UnmarshalText([]byte(in)), in)
	}
}

func TestRuntimeOptionsFollowConfig(t *testing.T) {
	cfg, err := loadConfig(t, "config.yaml")
	require.NoError(t, err)
	got := cfg.Metrics.Runtime.options()
	want := runtimemetrics.DefaultOptions()
	want.Scheduler, want.Allocations = false, false
	want.TopKCreationSites, want.LeakThreshold = 5, 50
	assert.Equal(t, want, got)
}
