package sloburnprocessor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const openSLOInline = `
apiVersion: openslo/v1
kind: SLO
metadata: { name: pay-latency }
spec:
  service: payments
  indicator:
    metadata: { name: pay-latency-sli }
    spec:
      ratioMetric:
        counter: true
        good: { metricSource: { type: Spans, spec: { latency: { threshold: 250ms } } } }
        total: { metricSource: { type: spans, spec: { span_name: "POST /pay", condition: 'attributes["tier"] == "gold"' } } }
  timeWindow: [{ duration: 1w, isRolling: true }]
  budgetingMethod: Occurrences
  objectives: [{ targetPercent: 99.5 }]
  alertPolicies:
    - kind: AlertPolicy
      metadata: { name: inline-policy }
      spec:
        conditions:
          - kind: AlertCondition
            metadata: { name: c }
            spec:
              severity: page
              condition: { kind: burnrate, op: gte, threshold: 6, lookbackWindow: 6h }
`

func TestParseOpenSLOInline(t *testing.T) {
	slos, err := parseOpenSLO([]byte(openSLOInline))
	require.NoError(t, err)
	require.Len(t, slos, 1)
	s := slos[0]
	assert.Equal(t, "pay-latency", s.Name)
	assert.Equal(t, "payments", s.Service)
	assert.Equal(t, "POST /pay", s.SpanName)
	assert.Equal(t, `attributes["tier"] == "gold"`, s.Condition)
	assert.Equal(t, 99.5, s.Objective)
	assert.Equal(t, Duration(week), s.Period)
	require.NotNil(t, s.SLI.Latency)
	assert.Equal(t, "250ms", s.SLI.Latency.Threshold.Value.String())
	require.Len(t, s.tiers, 1)
	assert.Equal(t, TierConfig{Severity: "page", Long: Duration(6 * 3600e9), Short: Duration(30 * 60e9), BurnRate: 6}, s.tiers[0])
	require.NoError(t, validateSLO("test", &s))
}

// An OpenSLO latency criterion takes threshold: auto with its percentile, floor and
// baseline, and validates like an inline one.
func TestParseOpenSLOAutoLatency(t *testing.T) {
	doc := strings.Replace(openSLOInline, "latency: { threshold: 250ms }",
		"latency: { threshold: auto, percentile: 99.95, floor: 20ms, baseline: { period: 2w, update_interval: 1d, min_samples: 50000 } }", 1)
	slos, err := parseOpenSLO([]byte(doc))
	require.NoError(t, err)
	require.Len(t, slos, 1)
	l := slos[0].SLI.Latency
	require.NotNil(t, l)
	assert.True(t, l.Threshold.Auto)
	assert.Equal(t, 99.95, l.Percentile)
	assert.Equal(t, Duration(20e6), l.Floor)
	assert.Equal(t, BaselineConfig{Period: Duration(2 * week), UpdateInterval: Duration(day), MinSamples: 50000}, l.Baseline)
	require.NoError(t, validateSLO("test", &slos[0]))

	// The objective is 99.5: a percentile at or below it is refused here too.
	bad := strings.Replace(doc, "percentile: 99.95", "percentile: 99.5", 1)
	slos, err = parseOpenSLO([]byte(bad))
	require.NoError(t, err)
	assert.ErrorContains(t, validateSLO("test", &slos[0]), "percentile 99.5 must be above the objective 99.5")
}

func TestParseOpenSLOErrors(t *testing.T) {
	valid := openSLOInline
	tests := []struct {
		name, from, to, want string
	}{
		{"api version", "apiVersion: openslo/v1", "apiVersion: openslo/v2alpha", `apiVersion must be openslo/v1, got "openslo/v2alpha"`},
		{"budgeting", "budgetingMethod: Occurrences", "budgetingMethod: RatioTimeslices", `budgetingMethod must be Occurrences, got "RatioTimeslices"`},
		{"calendar", "isRolling: true", "isRolling: false", "only rolling windows"},
		{"source type", "type: Spans", "type: Prometheus", `good.metricSource.type must be "spans", got "Prometheus"`},
		{"unknown selector", "span_name:", "span_nme:", "span_nme"},
		{"condition kind", "kind: burnrate", "kind: threshold", `condition.kind must be burnrate, got "threshold"`},
		{"bad duration", "duration: 1w", "duration: 1fortnight", "1fortnight"},
		{"missing indicator ref", "  indicator:\n", "  indicatorRef: nope\n  indicatorX:\n", `indicatorRef "nope": no SLI document`},
		{"unknown kind", "kind: SLO", "kind: Dashboard", `unsupported kind "Dashboard"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(valid, tt.from, tt.to, 1)
			require.NotEqual(t, valid, doc)
			_, err := parseOpenSLO([]byte(doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// FuzzParseOpenSLO: arbitrary bytes never panic the parser, and whatever it accepts can be
// validated without panicking.
func FuzzParseOpenSLO(f *testing.F) {
	f.Add([]byte(openSLOInline))
	files, _ := filepath.Glob(filepath.Join("testdata", "openslo", "*.yaml"))
	for _, path := range files {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("- apiVersion: openslo/v1\n  kind: SLI\n  metadata: {name: x}\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		slos, err := parseOpenSLO(data)
		if err != nil {
			return
		}
		for i := range slos {
			if slos[i].tiers == nil {
				slos[i].tiers = defaultTiers()
			}
			_ = validateSLO("fuzz", &slos[i])
		}
	})
}
