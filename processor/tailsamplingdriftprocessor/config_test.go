package tailsamplingdriftprocessor

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
)

func loadTestdata(t *testing.T, file string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	sub, err := cm.Sub("tail_sampling_drift")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

// Every policy type of the stock processor loads, validates, and decodes to
// exactly the policies the stock processor decodes from the same text.
func TestValidPolicyFilesMatchStock(t *testing.T) {
	files, err := filepath.Glob("testdata/valid_*.yaml")
	require.NoError(t, err)
	require.Len(t, files, 17)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			cfg, err := loadTestdata(t, name)
			require.NoError(t, err)
			want := strings.TrimSuffix(strings.TrimPrefix(name, "valid_"), ".yaml")
			require.Len(t, cfg.PolicyCfgs, 1)
			assert.Equal(t, tsp.PolicyType(want), cfg.PolicyCfgs[0].Type)

			cm, err := confmaptest.LoadConf(f)
			require.NoError(t, err)
			sub, err := cm.Sub("tail_sampling_drift")
			require.NoError(t, err)
			stock := tsp.NewFactory().CreateDefaultConfig().(*tsp.Config)
			require.NoError(t, sub.Unmarshal(stock))
			assert.Equal(t, stock.PolicyCfgs, cfg.PolicyCfgs)
			assert.Equal(t, stock.DecisionWait, cfg.DecisionWait)
			assert.Equal(t, stock.NumTraces, cfg.NumTraces)
			assert.Equal(t, stock.DecisionCache, cfg.DecisionCache)

			// Every shard compiles the same policies at start.
			_, err = compilePolicies(cfg.PolicyCfgs, nopTelemetrySettings(), 2, cfg.ConsistentProbability, false)
			require.NoError(t, err)
		})
	}
}

func TestFullConfig(t *testing.T) {
	cfg, err := loadTestdata(t, "full.yaml")
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, cfg.DecisionWait)
	assert.Equal(t, uint64(100000), cfg.NumTraces)
	assert.Equal(t, uint32(4), cfg.NumShards)
	assert.True(t, cfg.SampleOnFirstMatch)
	assert.Equal(t, uint64(1<<20), cfg.MaximumTraceSizeBytes)
	assert.Equal(t, 500*time.Millisecond, cfg.DecisionGrace)
	assert.Equal(t, uint64(256<<20), cfg.MemoryLimitBytes)
	assert.False(t, cfg.ConsistentProbability)
	assert.Equal(t, 50*time.Millisecond, cfg.TickInterval)
	assert.Equal(t, DriftConfig{
		CohortAttribute:    "service.version",
		Baseline:           "1.2.3",
		Signals:            []string{"latency", "errors"},
		Significance:       0.01,
		MinSamples:         100,
		KeepDriftingTraces: true,
		EmitInterval:       10 * time.Second,
		Hints:              hints.DefaultConfig(),
	}, cfg.Drift)
}

func TestDefaultConfigIsValid(t *testing.T) {
	require.NoError(t, confmap.Validate(createDefaultConfig()))
}

// The defaults make the stock processor's decisions: no root grace, the
// stock hash for probabilistic policies (its hash_salt honoured).
func TestDefaultsAreStockBehaviour(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Zero(t, cfg.DecisionGrace)
	assert.False(t, cfg.ConsistentProbability)
	stock := tsp.NewFactory().CreateDefaultConfig().(*tsp.Config)
	assert.Equal(t, stock.DecisionWait, cfg.DecisionWait)
	assert.Equal(t, stock.NumTraces, cfg.NumTraces)
	assert.Equal(t, stock.DecisionCache, cfg.DecisionCache)
	cfg, err := loadTestdata(t, "valid_probabilistic.yaml")
	require.NoError(t, err)
	assert.Equal(t, "custom-salt", cfg.PolicyCfgs[0].ProbabilisticCfg.HashSalt)
}

func TestInvalidConfigs(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"invalid_tail_storage.yaml", "tail_storage is not supported"},
		{"invalid_block_on_overflow.yaml", "block_on_overflow: true is not supported"},
		{"invalid_sampling_strategy.yaml", `sampling_strategy "span-ingest" is not supported`},
		{"invalid_num_shards.yaml", "num_shards must not exceed 256: 1000"},
		{"invalid_decision_wait.yaml", "decision_wait must be positive: 0s"},
		{"invalid_num_traces.yaml", "num_traces must be positive: 0"},
		{"invalid_decision_grace.yaml", "decision_grace is negative: -1s"},
		{"invalid_unknown_policy_type.yaml", `unknown sampling policy type "bogus"`},
		{"invalid_extension_policy.yaml", `policy type "my_ext" comes from a sampling policy extension`},
		{"invalid_empty_policy_name.yaml", "policies[0]: name cannot be empty"},
		{"invalid_duplicate_policy_name.yaml", `duplicate policy name "p"`},
		{"invalid_bad_status_code.yaml", `unknown status code "BROKEN"`},
		{"invalid_bad_regex.yaml", `invalid regex "("`},
		{"invalid_numeric_no_bounds.yaml", "at least one of min_value, max_value must be set"},
		{"invalid_bad_ottl.yaml", "ottl_condition: span:"},
		{"invalid_rate_limiting_zero.yaml", "spans_per_second must be positive: 0"},
		{"invalid_composite_nested.yaml", `policy type "composite" is not allowed at this nesting level`},
		{"invalid_drift_significance.yaml", "significance must be in (0, 1): 1.5"},
		{"invalid_drift_evaluate_interval.yaml", "evaluate_interval (10s) exceeds emit_interval (5s)"},
		{"invalid_drift_evaluate_negative.yaml", "evaluate_interval is negative: -1s"},
		{"invalid_drift_max_cohorts.yaml", "max_cohorts_per_key must be 0 (the default, 4) or at least 2: 1"},
		{"invalid_drift_signal.yaml", `unknown signal "throughput"`},
		{"invalid_drift_keep_without_cohort.yaml", "keep_drifting_traces needs cohort_attribute"},
		{"invalid_drift_hints_max_values.yaml", "drift: hints.max_values must be between 1 and 1024, got 0"},
		{"invalid_drift_hints_dimension.yaml", `drift: hints.dimensions[0] "|k8s.pod.name" has an empty attribute name`},
		{"invalid_consistent_hash_salt.yaml", `policies[0]: probabilistic: hash_salt "my-salt" cannot be used with consistent_probability: true`},
	}
	files, err := filepath.Glob("testdata/invalid_*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(tests), "every invalid file has a row")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := loadTestdata(t, tt.file)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// Drift is declared only at an evaluation; the detector's benchmark meets the
// 60 s error-shift detection goal only with evaluations every 5 s or less.
func TestDefaultDriftEmitIntervalMeetsDetectionGoal(t *testing.T) {
	cfg, err := loadTestdata(t, "valid_always_sample.yaml")
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, cfg.Drift.EmitInterval)
	assert.Equal(t, 5*time.Second, createDefaultConfig().(*Config).Drift.EmitInterval)
}
