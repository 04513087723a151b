package sloburnprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	storageID := component.MustNewIDWithName("file_storage", "slo")
	tests := []struct {
		id       component.ID
		expected func() *Config
	}{
		{
			id: component.NewID(metadata.Type),
			expected: func() *Config {
				c := createDefaultConfig().(*Config)
				c.SLOs = []SLOConfig{
					{Name: "checkout-availability", Service: "checkout", Objective: 99.9, Period: Duration(30 * day), SLI: SLIConfig{Availability: &AvailabilitySLI{}}},
					{Name: "checkout-latency", Service: "checkout", Objective: 99, Period: Duration(30 * day), SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Value: 300 * time.Millisecond}}}},
				}
				return c
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			expected: func() *Config {
				return &Config{
					SLOs: []SLOConfig{{
						Name: "search-latency", Service: "search", SpanKind: "any", SpanName: "GET /search", HTTPRoute: "/search",
						Condition: `attributes["tenant"] == "gold"`, Objective: 99.5, Period: Duration(4 * week),
						SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Auto: true}, Percentile: 99.95, Floor: Duration(50 * time.Millisecond),
							Baseline: BaselineConfig{Period: Duration(day), UpdateInterval: Duration(6 * time.Hour), MinSamples: 20000}}},
					}},
					OpenSLOFiles: []string{"testdata/openslo/checkout.yaml"},
					Alerting: AlertingConfig{
						Tiers: []TierConfig{
							{Severity: "page", Long: Duration(time.Hour), Short: Duration(5 * time.Minute), BurnRate: 14.4},
							{Severity: "ticket", Long: Duration(week), Short: Duration(12 * time.Hour), BurnRate: 1},
						},
						MinEvents: 50, ResolveRatio: 0.8, ResolveFor: 5 * time.Minute,
					},
					EmitInterval: 30 * time.Second,
					Storage:      &storageID,
					Hints: hints.Config{Enabled: true, Dimensions: []string{"http.route", "service.version", hints.DownstreamDimension},
						MaxValues: 32, Window: 10 * time.Minute},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, cfg.(*Config).Validate())
			assert.Equal(t, tt.expected(), cfg)
		})
	}
}

func TestLoadConfigOpenSLOResolved(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub("slo_burn/custom")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	slos, err := cfg.resolveSLOs()
	require.NoError(t, err)
	require.Len(t, slos, 2)
	o := slos[1]
	assert.Equal(t, "checkout-orders", o.Name)
	assert.Equal(t, "checkout", o.Service)
	assert.Equal(t, "/orders", o.HTTPRoute)
	assert.Equal(t, "server", o.SpanKind)
	assert.InDelta(t, 99.5, o.Objective, 1e-9)
	assert.Equal(t, Duration(28*day), o.Period)
	require.NotNil(t, o.SLI.Availability)
	assert.Equal(t, []TierConfig{
		{Severity: "page", Long: Duration(time.Hour), Short: Duration(5 * time.Minute), BurnRate: 14.4},
		{Severity: "ticket", Long: Duration(3 * day), Short: Duration(6 * time.Hour), BurnRate: 1},
	}, o.tiers, "policy tiers replace alerting.tiers; alertAfter is the short window, else lookbackWindow/12")
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		file string
		// unmarshal is true when the error comes from decoding, not Validate.
		unmarshal bool
		errs      []string // every substring must appear in the error
	}{
		{file: "invalid_objective.yaml", errs: []string{"slos[0].objective", "100"}},
		{file: "invalid_objective_fraction.yaml", errs: []string{"slos[0]", "objective 0.999%", "did you mean 99.9?"}},
		{file: "invalid_period.yaml", errs: []string{"slos[0].period must be positive", "0s"}},
		{file: "invalid_period_unit.yaml", unmarshal: true, errs: []string{"period", "30x"}},
		{file: "invalid_burn_rate_exceeds_max.yaml", errs: []string{"slos[0]", "burn_rate 14.4 exceeds 1/(1-objective) = 10", "objective 90%"}},
		{file: "invalid_no_sli.yaml", errs: []string{"slos[0].sli must set availability or latency"}},
		{file: "invalid_both_sli.yaml", errs: []string{"slos[0].sli must set only one", "both"}},
		{file: "invalid_latency_threshold.yaml", errs: []string{"slos[0].sli.latency.threshold", "0s"}},
		{file: "invalid_auto_percentile.yaml", errs: []string{"slos[0].sli.latency.percentile", "100"}},
		{file: "invalid_static_with_percentile.yaml", errs: []string{"slos[0].sli.latency", "only to threshold: auto", "300ms"}},
		{file: "invalid_static_with_baseline.yaml", errs: []string{"slos[0].sli.latency", "percentile, floor and baseline apply only to threshold: auto", "300ms"}},
		{file: "invalid_auto_percentile_at_objective.yaml", errs: []string{"slos[0].sli.latency.percentile 99 must be above the objective 99", "marks 1% of healthy events slow", "steady burn rate (100-percentile)/(100-objective) = 1)", "e.g. 99.9"}},
		{file: "invalid_auto_percentile_below_objective.yaml", errs: []string{"slos[0].sli.latency.percentile 99 must be above the objective 99.9", "(100-percentile)/(100-objective) = 10)", "e.g. 99.99"}},
		{file: "invalid_baseline_update_interval.yaml", errs: []string{"slos[0].sli.latency.baseline.update_interval 2d must not exceed baseline.period 1d"}},
		{file: "invalid_baseline_slots.yaml", errs: []string{"slos[0].sli.latency.baseline.update_interval 1h splits baseline.period 7d into 168 slots, more than 28"}},
		{file: "invalid_baseline_min_samples.yaml", errs: []string{"slos[0].sli.latency.baseline.min_samples 500 is below 1/(1 - percentile/100) = 1000 for percentile 99.9"}},
		{file: "invalid_span_kind.yaml", errs: []string{"slos[0].span_kind", `"serve"`}},
		{file: "invalid_duplicate_name.yaml", errs: []string{"slos[1].name", `"a"`, "slos[0]"}},
		{file: "invalid_missing_name.yaml", errs: []string{"slos[0].name must not be empty"}},
		{file: "invalid_missing_service.yaml", errs: []string{"slos[0].service must not be empty"}},
		{file: "invalid_condition.yaml", errs: []string{"slos[0].condition", "parse OTTL condition"}},
		{file: "invalid_emit_interval.yaml", errs: []string{"emit_interval must be positive", "0s"}},
		{file: "invalid_tier_windows.yaml", errs: []string{"alerting.tiers[0].long must be longer than short (1h)", "5m"}},
		{file: "invalid_tier_severity.yaml", errs: []string{"alerting.tiers[0].severity must not be empty"}},
		{file: "invalid_tier_burn_rate.yaml", errs: []string{"alerting.tiers[0].burn_rate must be positive", "-1"}},
		{file: "invalid_tier_longer_than_period.yaml", errs: []string{"slos[0]", "long window 3d exceeds period 1d"}},
		{file: "invalid_empty_tiers.yaml", errs: []string{"alerting.tiers must not be empty"}},
		{file: "invalid_min_events.yaml", errs: []string{"alerting.min_events", "-1"}},
		{file: "invalid_resolve_ratio.yaml", errs: []string{"alerting.resolve_ratio", "1.5"}},
		{file: "invalid_resolve_for.yaml", errs: []string{"alerting.resolve_for", "-1m"}},
		{file: "invalid_no_slos.yaml", errs: []string{"no SLO defined"}},
		{file: "invalid_openslo_budgeting.yaml", errs: []string{"openslo_files[0]", "checkout-timeslices", "budgetingMethod must be Occurrences", "Timeslices"}},
		{file: "invalid_openslo_missing_file.yaml", errs: []string{"openslo_files[0]", "does-not-exist.yaml"}},
		{file: "invalid_unknown_field.yaml", unmarshal: true, errs: []string{"objectiv"}},
		{file: "invalid_hints_no_dimensions.yaml", errs: []string{"hints.dimensions must not be empty while hints.enabled is true"}},
		{file: "invalid_hints_empty_key.yaml", errs: []string{`hints.dimensions[1] "http.route|" has an empty attribute name`}},
		{file: "invalid_hints_duplicate_dimension.yaml", errs: []string{`hints.dimensions[1] "host.name" repeats hints.dimensions[0]`}},
		{file: "invalid_hints_max_values.yaml", errs: []string{"hints.max_values must be between 1 and 1024, got 5000"}},
		{file: "invalid_hints_window.yaml", errs: []string{"hints.window must be at least 2s, got 500ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			cfg := createDefaultConfig().(*Config)
			err = cm.Unmarshal(cfg)
			if !tt.unmarshal {
				require.NoError(t, err)
				err = cfg.Validate()
			}
			require.Error(t, err)
			for _, s := range tt.errs {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestDefaultConfigHasStandardTiers(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.Len(t, cfg.Alerting.Tiers, 4)
	assert.Equal(t, 14.4, cfg.Alerting.Tiers[0].BurnRate)
	assert.Equal(t, 15*time.Second, cfg.EmitInterval)
	// No SLOs: the default alone is not a usable config.
	assert.ErrorContains(t, cfg.Validate(), "no SLO defined")
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "30d", want: 30 * day},
		{in: "1w", want: week},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "300ms", want: 300 * time.Millisecond},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "0", want: 0},
		{in: "", wantErr: true},
		{in: "30", wantErr: true},
		{in: "d", wantErr: true},
		{in: "30x", wantErr: true},
		{in: "-1m", want: -time.Minute, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, "30d", formatDuration(30*day))
	assert.Equal(t, "5m", formatDuration(5*time.Minute))
	assert.Equal(t, "1h", formatDuration(time.Hour))
}
