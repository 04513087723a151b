package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
)

// Config is the slo_burn processor configuration. The names follow DESIGN.md's contract.
type Config struct {
	// SLOs are the service level objectives defined inline.
	SLOs []SLOConfig `mapstructure:"slos"`

	// OpenSLOFiles are paths of YAML files holding OpenSLO v1 documents (SLO, SLI,
	// AlertPolicy, AlertCondition). Their SLOs are added to the inline ones; see README for
	// the span-based metric source.
	OpenSLOFiles []string `mapstructure:"openslo_files"`

	// Alerting holds the multi-window, multi-burn-rate tiers and the alert state rules.
	Alerting AlertingConfig `mapstructure:"alerting"`

	// EmitInterval is how often burn rates are evaluated and the derived metrics emitted
	// into the metrics pipelines that list this processor.
	EmitInterval time.Duration `mapstructure:"emit_interval"`

	// Storage is the ID of a storage extension (e.g. file_storage) that keeps window and
	// alert state across restarts. Without it state starts empty on every start.
	Storage *component.ID `mapstructure:"storage"`

	// Hints configures root-cause hints and exemplar trace IDs in alert records: per SLO,
	// the values of a few dimensions (route, status, version, host, pod, downstream)
	// over-represented among the bad events of the last hints.window. On by default.
	Hints hints.Config `mapstructure:"hints"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// AlertingConfig configures how burn rates become alerts.
type AlertingConfig struct {
	// Tiers are the (long window, short window, burn rate) alert tiers. An alert tier fires
	// when both windows burn at least burn_rate. Default: the four tiers of the SRE workbook.
	Tiers []TierConfig `mapstructure:"tiers"`

	// MinEvents is the minimum number of events (adjusted count) a window must hold before
	// its burn rate can fire an alert; it keeps a single failed request at 3 a.m. from paging.
	MinEvents float64 `mapstructure:"min_events"`

	// ResolveRatio is the hysteresis: a firing tier resolves only once a window's burn rate
	// falls below burn_rate × resolve_ratio.
	ResolveRatio float64 `mapstructure:"resolve_ratio"`

	// ResolveFor is how long the resolve condition must hold before the resolved record is
	// emitted. Together with ResolveRatio it keeps alerts from flapping.
	ResolveFor time.Duration `mapstructure:"resolve_for"`
}

// TierConfig is one multi-window burn-rate alert tier.
type TierConfig struct {
	// Severity is the alert's severity label (page, ticket, ...).
	Severity string `mapstructure:"severity"`
	// Long is the long window (e.g. 1h); it makes the alert significant.
	Long Duration `mapstructure:"long"`
	// Short is the short window (e.g. 5m); it makes the alert reset quickly once fixed.
	Short Duration `mapstructure:"short"`
	// BurnRate is the burn rate both windows must reach to fire. It cannot exceed
	// 1/(1 - objective): a burn rate above that needs an error ratio above 100%.
	BurnRate float64 `mapstructure:"burn_rate"`
}

// SLOConfig is one service level objective.
type SLOConfig struct {
	// Name identifies the SLO; it becomes the `slo` label and attribute. Must be unique.
	Name string `mapstructure:"name"`
	// Service selects spans whose resource service.name equals it. Required.
	Service string `mapstructure:"service"`
	// SpanKind selects spans of this kind: server (default), client, internal, producer,
	// consumer, or any.
	SpanKind string `mapstructure:"span_kind"`
	// SpanName, if set, selects only spans with exactly this name.
	SpanName string `mapstructure:"span_name"`
	// HTTPRoute, if set, selects only spans whose http.route attribute equals it.
	HTTPRoute string `mapstructure:"http_route"`
	// Condition is an optional OTTL span condition; only spans for which it is true count.
	Condition string `mapstructure:"condition"`
	// Objective is the target share of good events, in percent (99.9).
	Objective float64 `mapstructure:"objective"`
	// Period is the SLO's rolling period (30d, 4w); the error budget is computed over it.
	Period Duration `mapstructure:"period"`
	// SLI says what makes an event good: exactly one of availability or latency.
	SLI SLIConfig `mapstructure:"sli"`

	// tiers is set for SLOs from OpenSLO documents that carry their own alert policies.
	tiers []TierConfig
}

// SLIConfig chooses the indicator; exactly one field must be set.
type SLIConfig struct {
	// Availability: a span is bad when it failed per the semantic conventions (HTTP server
	// 5xx, HTTP client 4xx/5xx, gRPC server/client error codes, span status Error).
	Availability *AvailabilitySLI `mapstructure:"availability"`
	// Latency: a span is good when its duration is at most the threshold.
	Latency *LatencySLI `mapstructure:"latency"`
}

// AvailabilitySLI has no options; its presence selects the availability indicator.
type AvailabilitySLI struct {
	_ struct{}
}

// LatencySLI judges spans by duration.
type LatencySLI struct {
	// Threshold is the exact duration limit (300ms), or "auto" to learn it from a baseline
	// of healthy traffic (see Baseline).
	Threshold LatencyThreshold `mapstructure:"threshold"`
	// Percentile (auto only) is the percentile of baseline latency that becomes the
	// threshold. Healthy traffic then has (100 - percentile)% of its events above the
	// threshold, a steady burn rate of (100 - percentile)/(100 - objective), so it must be
	// above the objective. Default: 100 - (100 - objective)/10 (99.9 for objective 99), a
	// steady burn rate of 0.1.
	Percentile float64 `mapstructure:"percentile"`
	// Floor (auto only) is the smallest threshold that may be learned. Default 0.
	Floor Duration `mapstructure:"floor"`
	// Baseline (auto only) says how the threshold is learned and updated.
	Baseline BaselineConfig `mapstructure:"baseline"`
}

// BaselineConfig is how a `threshold: auto` latency SLI learns its threshold. Latency is
// collected in slots of update_interval; the threshold is the percentile of the healthy
// slots of the last period, recomputed at the end of each slot. Until a first full period
// is learned no latency event is judged, so nothing burns and nothing alerts.
type BaselineConfig struct {
	// Period is how much history the learned threshold describes (7d covers a weekly
	// cycle). No event is judged before one period has been learned. Default 7d.
	Period Duration `mapstructure:"period"`
	// UpdateInterval is how often the threshold is recomputed, and the slot length:
	// a slot enters the baseline only if neither it nor the slot after it burned
	// (error ratio above the budget) or had an alert tier firing, and no update happens
	// while a tier fires. period/update_interval must be at most 28. Default period/7.
	UpdateInterval Duration `mapstructure:"update_interval"`
	// MinSamples is how many events (adjusted count) the last period must hold before a
	// threshold is learned or updated. Default max(1000, 10/(1 - percentile/100)): ten
	// events above the percentile.
	MinSamples float64 `mapstructure:"min_samples"`
}

// maxBaselineSlots bounds the memory of a learned baseline: one latency histogram
// (5.25 KiB) per slot.
const maxBaselineSlots = 28

// LatencyThreshold is a duration, or "auto".
type LatencyThreshold struct {
	Auto  bool
	Value time.Duration
}

// UnmarshalText accepts "auto" or a duration.
func (l *LatencyThreshold) UnmarshalText(text []byte) error {
	if strings.TrimSpace(string(text)) == "auto" {
		*l = LatencyThreshold{Auto: true}
		return nil
	}
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*l = LatencyThreshold{Value: v}
	return nil
}

// MarshalText writes "auto" or the duration.
func (l LatencyThreshold) MarshalText() ([]byte, error) {
	if l.Auto {
		return []byte("auto"), nil
	}
	return []byte(l.Value.String()), nil
}

// defaultTiers are the four tiers of the Google SRE workbook: 2% of a 30d budget in 1h,
// 5% in 6h, 10% in 1d, 10% in 3d.
func defaultTiers() []TierConfig {
	return []TierConfig{
		{Severity: "page", Long: Duration(time.Hour), Short: Duration(5 * time.Minute), BurnRate: 14.4},
		{Severity: "page", Long: Duration(6 * time.Hour), Short: Duration(30 * time.Minute), BurnRate: 6},
		{Severity: "ticket", Long: Duration(day), Short: Duration(2 * time.Hour), BurnRate: 3},
		{Severity: "ticket", Long: Duration(3 * day), Short: Duration(6 * time.Hour), BurnRate: 1},
	}
}

var validSpanKinds = []string{"server", "client", "internal", "producer", "consumer", "any"}

// Validate checks the configuration; every error names the field and the bad value.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.EmitInterval <= 0 {
		errs = append(errs, fmt.Errorf("emit_interval must be positive, got %v", cfg.EmitInterval))
	}
	a := cfg.Alerting
	if a.MinEvents < 0 || math.IsNaN(a.MinEvents) {
		errs = append(errs, fmt.Errorf("alerting.min_events must not be negative, got %v", a.MinEvents))
	}
	if !(a.ResolveRatio > 0 && a.ResolveRatio <= 1) {
		errs = append(errs, fmt.Errorf("alerting.resolve_ratio must be in (0, 1], got %v", a.ResolveRatio))
	}
	if a.ResolveFor < 0 {
		errs = append(errs, fmt.Errorf("alerting.resolve_for must not be negative, got %v", a.ResolveFor))
	}
	if len(a.Tiers) == 0 {
		errs = append(errs, errors.New("alerting.tiers must not be empty (omit alerting.tiers for the four default tiers)"))
	}
	if err := cfg.Hints.Validate("hints"); err != nil {
		errs = append(errs, err)
	}
	for i, t := range a.Tiers {
		if err := validateTier(fmt.Sprintf("alerting.tiers[%d]", i), t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	slos, err := cfg.resolveSLOs()
	if err != nil {
		return err
	}
	if len(slos) == 0 {
		return errors.New("slos: no SLO defined (set slos or openslo_files)")
	}
	return nil
}

func validateTier(field string, t TierConfig) error {
	var errs []error
	if t.Severity == "" {
		errs = append(errs, fmt.Errorf("%s.severity must not be empty", field))
	}
	if t.Short <= 0 {
		errs = append(errs, fmt.Errorf("%s.short must be positive, got %s", field, formatDuration(time.Duration(t.Short))))
	}
	if t.Long <= t.Short {
		errs = append(errs, fmt.Errorf("%s.long must be longer than short (%s), got %s", field,
			formatDuration(time.Duration(t.Short)), formatDuration(time.Duration(t.Long))))
	}
	if !(t.BurnRate > 0) || math.IsInf(t.BurnRate, 0) {
		errs = append(errs, fmt.Errorf("%s.burn_rate must be positive, got %v", field, t.BurnRate))
	}
	return errors.Join(errs...)
}

// resolveSLOs returns inline and OpenSLO SLOs, validated, each with its tiers set.
func (cfg *Config) resolveSLOs() ([]SLOConfig, error) {
	var out []SLOConfig
	var errs []error
	seen := map[string]string{}
	add := func(field string, s SLOConfig) {
		if s.tiers == nil {
			s.tiers = cfg.Alerting.Tiers
		}
		if err := validateSLO(field, &s); err != nil {
			errs = append(errs, err)
			return
		}
		if prev, dup := seen[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name %q is already used by %s", field, s.Name, prev))
			return
		}
		seen[s.Name] = field
		out = append(out, s)
	}
	for i, s := range cfg.SLOs {
		add(fmt.Sprintf("slos[%d]", i), s)
	}
	for i, path := range cfg.OpenSLOFiles {
		docs, err := loadOpenSLOFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("openslo_files[%d]: %w", i, err))
			continue
		}
		for _, s := range docs {
			add(fmt.Sprintf("openslo_files[%d] (%s) SLO %q", i, path, s.Name), s)
		}
	}
	return out, errors.Join(errs...)
}

func validateSLO(field string, s *SLOConfig) error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, fmt.Errorf("%s.name must not be empty", field))
	}
	if s.Service == "" {
		errs = append(errs, fmt.Errorf("%s.service must not be empty", field))
	}
	if s.SpanKind == "" {
		s.SpanKind = "server"
	}
	kindOK := false
	for _, k := range validSpanKinds {
		kindOK = kindOK || s.SpanKind == k
	}
	if !kindOK {
		errs = append(errs, fmt.Errorf("%s.span_kind must be one of %s, got %q", field, strings.Join(validSpanKinds, ", "), s.SpanKind))
	}
	if !(s.Objective > 0 && s.Objective < 100) {
		errs = append(errs, fmt.Errorf("%s.objective must be a percentage strictly between 0 and 100, got %v", field, s.Objective))
	}
	if s.Period <= 0 {
		errs = append(errs, fmt.Errorf("%s.period must be positive, got %s", field, formatDuration(time.Duration(s.Period))))
	}
	switch {
	case s.SLI.Availability == nil && s.SLI.Latency == nil:
		errs = append(errs, fmt.Errorf("%s.sli must set availability or latency, got neither", field))
	case s.SLI.Availability != nil && s.SLI.Latency != nil:
		errs = append(errs, fmt.Errorf("%s.sli must set only one of availability or latency, got both", field))
	case s.SLI.Latency != nil:
		errs = append(errs, validateLatency(field+".sli.latency", s.SLI.Latency, s.Objective))
	}
	if s.Condition != "" {
		if _, err := parseSpanCondition(s.Condition, component.TelemetrySettings{}); err != nil {
			errs = append(errs, fmt.Errorf("%s.condition %q: %w", field, s.Condition, err))
		}
	}
	if s.Objective > 0 && s.Objective < 100 {
		maxRate := 1 / (1 - s.Objective/100)
		for i, t := range s.tiers {
			if err := validateTier(fmt.Sprintf("%s tier[%d]", field, i), t); err != nil {
				errs = append(errs, err)
				continue
			}
			if t.BurnRate > maxRate {
				hint := ""
				if s.Objective < 1 {
					hint = fmt.Sprintf(" (objective is a percentage: did you mean %v?)", s.Objective*100)
				}
				errs = append(errs, fmt.Errorf("%s: tier[%d] (%s %s/%s) burn_rate %v exceeds 1/(1-objective) = %.4g for objective %v%%: it could never fire, since that would need more than 100%% errors%s",
					field, i, t.Severity, formatDuration(time.Duration(t.Long)), formatDuration(time.Duration(t.Short)), t.BurnRate, maxRate, s.Objective, hint))
			}
			if s.Period > 0 && t.Long > s.Period {
				errs = append(errs, fmt.Errorf("%s: tier[%d] long window %s exceeds period %s", field, i,
					formatDuration(time.Duration(t.Long)), formatDuration(time.Duration(s.Period))))
			}
		}
	}
	return errors.Join(errs...)
}

func validateLatency(field string, l *LatencySLI, objective float64) error {
	if !l.Threshold.Auto {
		var errs []error
		if l.Threshold.Value <= 0 {
			errs = append(errs, fmt.Errorf("%s.threshold must be a positive duration or \"auto\", got %v", field, l.Threshold.Value))
		}
		if l.Percentile != 0 || l.Floor != 0 || l.Baseline != (BaselineConfig{}) {
			errs = append(errs, fmt.Errorf("%s: percentile, floor and baseline apply only to threshold: auto (threshold is %v)", field, l.Threshold.Value))
		}
		return errors.Join(errs...)
	}
	objectiveOK := objective > 0 && objective < 100
	if l.Percentile == 0 && objectiveOK {
		l.Percentile = 100 - (100-objective)/10
	}
	b := &l.Baseline
	if b.Period == 0 {
		b.Period = Duration(week)
	}
	if b.UpdateInterval == 0 && b.Period > 0 {
		b.UpdateInterval = b.Period / 7
	}
	var errs []error
	percentileOK := l.Percentile > 0 && l.Percentile < 100
	switch {
	case !percentileOK:
		errs = append(errs, fmt.Errorf("%s.percentile must be strictly between 0 and 100, got %v", field, l.Percentile))
	case objectiveOK && l.Percentile <= objective:
		errs = append(errs, fmt.Errorf("%s.percentile %v must be above the objective %v: a threshold at the %vth percentile of healthy latency marks %.4g%% of healthy events slow, which spends the whole %.4g%% error budget or more (steady burn rate (100-percentile)/(100-objective) = %.3g), so the SLO would burn while the service is healthy; choose a percentile above the objective, e.g. %v for a steady burn rate of 0.1",
			field, l.Percentile, objective, l.Percentile, 100-l.Percentile, 100-objective, (100-l.Percentile)/(100-objective), 100-(100-objective)/10))
	}
	if l.Floor < 0 {
		errs = append(errs, fmt.Errorf("%s.floor must not be negative, got %s", field, formatDuration(time.Duration(l.Floor))))
	}
	if b.Period <= 0 {
		errs = append(errs, fmt.Errorf("%s.baseline.period must be positive, got %s", field, formatDuration(time.Duration(b.Period))))
	}
	switch {
	case b.UpdateInterval <= 0:
		errs = append(errs, fmt.Errorf("%s.baseline.update_interval must be positive, got %s", field, formatDuration(time.Duration(b.UpdateInterval))))
	case b.Period > 0 && b.UpdateInterval > b.Period:
		errs = append(errs, fmt.Errorf("%s.baseline.update_interval %s must not exceed baseline.period %s", field,
			formatDuration(time.Duration(b.UpdateInterval)), formatDuration(time.Duration(b.Period))))
	case b.Period > 0 && baselineSlots(*b) > maxBaselineSlots:
		errs = append(errs, fmt.Errorf("%s.baseline.update_interval %s splits baseline.period %s into %d slots, more than %d (each slot holds a latency histogram); use a longer update_interval",
			field, formatDuration(time.Duration(b.UpdateInterval)), formatDuration(time.Duration(b.Period)), baselineSlots(*b), maxBaselineSlots))
	}
	if percentileOK {
		least := ceilSamples(1 / (1 - l.Percentile/100))
		if b.MinSamples == 0 {
			b.MinSamples = max(1000, ceilSamples(10/(1-l.Percentile/100)))
		}
		if b.MinSamples < least || math.IsNaN(b.MinSamples) {
			errs = append(errs, fmt.Errorf("%s.baseline.min_samples %v is below 1/(1 - percentile/100) = %v for percentile %v: with fewer samples the percentile is just the slowest one seen",
				field, b.MinSamples, least, l.Percentile))
		}
	}
	return errors.Join(errs...)
}

// ceilSamples rounds a sample count up, ignoring the float error of 1 - 0.9995.
func ceilSamples(v float64) float64 { return math.Ceil(math.Round(v*1e6) / 1e6) }

// baselineSlots is how many update intervals the baseline period spans.
func baselineSlots(b BaselineConfig) int64 {
	return int64(math.Ceil(float64(b.Period) / float64(b.UpdateInterval)))
}
