package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// OpenSLO v1 support. The processor reads SLO, SLI, AlertPolicy and AlertCondition
// documents (several per file, separated by ---, or a YAML list of documents). An SLI must
// be a ratioMetric whose good and total sources have type "spans" — the metric source this
// processor defines:
//
//	total.metricSource.spec: selection (service, span_kind, span_name, http_route, condition)
//	good.metricSource.spec:  the criterion, as the inline `sli` (availability: {} or latency: {...})
//
// Only rolling time windows and budgetingMethod Occurrences are supported. A burnrate
// AlertCondition maps to a tier: lookbackWindow is the long window, alertAfter the short
// window (lookbackWindow/12 when absent), threshold the burn rate, severity the severity.
const openSLOSpanSource = "spans"

type openSLODoc struct {
	APIVersion string          `yaml:"apiVersion"`
	Kind       string          `yaml:"kind"`
	Metadata   openSLOMetadata `yaml:"metadata"`
	Spec       yaml.Node       `yaml:"spec"`
}

type openSLOMetadata struct {
	Name        string `yaml:"name"`
	DisplayName string `yaml:"displayName"`
}

type openSLOSpec struct {
	Service         string               `yaml:"service"`
	Indicator       *openSLOInlineSLI    `yaml:"indicator"`
	IndicatorRef    string               `yaml:"indicatorRef"`
	TimeWindow      []openSLOTimeWindow  `yaml:"timeWindow"`
	BudgetingMethod string               `yaml:"budgetingMethod"`
	Objectives      []openSLOObjective   `yaml:"objectives"`
	AlertPolicies   []openSLOPolicyOrRef `yaml:"alertPolicies"`
}

type openSLOInlineSLI struct {
	Metadata openSLOMetadata `yaml:"metadata"`
	Spec     openSLOSLISpec  `yaml:"spec"`
}

type openSLOSLISpec struct {
	ThresholdMetric *yaml.Node          `yaml:"thresholdMetric"`
	RatioMetric     *openSLORatioMetric `yaml:"ratioMetric"`
}

type openSLORatioMetric struct {
	Counter bool                  `yaml:"counter"`
	Good    *openSLOMetricWrapper `yaml:"good"`
	Bad     *openSLOMetricWrapper `yaml:"bad"`
	Total   *openSLOMetricWrapper `yaml:"total"`
}

type openSLOMetricWrapper struct {
	MetricSource struct {
		Type string    `yaml:"type"`
		Spec yaml.Node `yaml:"spec"`
	} `yaml:"metricSource"`
}

// spanSelection is the spec of a "spans" total source.
type spanSelection struct {
	Service   string `yaml:"service"`
	SpanKind  string `yaml:"span_kind"`
	SpanName  string `yaml:"span_name"`
	HTTPRoute string `yaml:"http_route"`
	Condition string `yaml:"condition"`
}

// spanCriterion is the spec of a "spans" good source.
type spanCriterion struct {
	Availability *struct{} `yaml:"availability"`
	Latency      *struct {
		Threshold  string  `yaml:"threshold"`
		Percentile float64 `yaml:"percentile"`
		Floor      string  `yaml:"floor"`
		Baseline   struct {
			Period         string  `yaml:"period"`
			UpdateInterval string  `yaml:"update_interval"`
			MinSamples     float64 `yaml:"min_samples"`
		} `yaml:"baseline"`
	} `yaml:"latency"`
}

type openSLOTimeWindow struct {
	Duration  string `yaml:"duration"`
	IsRolling bool   `yaml:"isRolling"`
	Calendar  any    `yaml:"calendar"`
}

type openSLOObjective struct {
	DisplayName   string   `yaml:"displayName"`
	Target        *float64 `yaml:"target"`
	TargetPercent *float64 `yaml:"targetPercent"`
}

type openSLOPolicyOrRef struct {
	AlertPolicyRef string            `yaml:"alertPolicyRef"`
	Kind           string            `yaml:"kind"`
	Metadata       openSLOMetadata   `yaml:"metadata"`
	Spec           openSLOPolicySpec `yaml:"spec"`
}

type openSLOPolicySpec struct {
	Conditions []openSLOConditionOrRef `yaml:"conditions"`
}

type openSLOConditionOrRef struct {
	ConditionRef string               `yaml:"conditionRef"`
	Kind         string               `yaml:"kind"`
	Metadata     openSLOMetadata      `yaml:"metadata"`
	Spec         openSLOConditionSpec `yaml:"spec"`
}

type openSLOConditionSpec struct {
	Severity  string `yaml:"severity"`
	Condition struct {
		Kind           string  `yaml:"kind"`
		Op             string  `yaml:"op"`
		Threshold      float64 `yaml:"threshold"`
		LookbackWindow string  `yaml:"lookbackWindow"`
		AlertAfter     string  `yaml:"alertAfter"`
	} `yaml:"condition"`
}

func loadOpenSLOFile(path string) ([]SLOConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read OpenSLO file: %w", err)
	}
	slos, err := parseOpenSLO(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return slos, nil
}

// parseOpenSLO turns OpenSLO v1 documents into SLO configs. Validation of the resulting
// SLOs (objective, windows, tiers) is left to validateSLO.
func parseOpenSLO(data []byte) ([]SLOConfig, error) {
	var docs []openSLODoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse YAML: %w", err)
		}
		root := &node
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		if root.Kind == yaml.SequenceNode {
			var list []openSLODoc
			if err := root.Decode(&list); err != nil {
				return nil, fmt.Errorf("parse OpenSLO document list: %w", err)
			}
			docs = append(docs, list...)
			continue
		}
		var d openSLODoc
		if err := root.Decode(&d); err != nil {
			return nil, fmt.Errorf("parse OpenSLO document: %w", err)
		}
		docs = append(docs, d)
	}

	slis := map[string]openSLOSLISpec{}
	policies := map[string]openSLOPolicySpec{}
	conditions := map[string]openSLOConditionSpec{}
	var slos []openSLODoc
	for i, d := range docs {
		where := fmt.Sprintf("document %d (kind %q, name %q)", i+1, d.Kind, d.Metadata.Name)
		if d.APIVersion != "openslo/v1" {
			return nil, fmt.Errorf("%s: apiVersion must be openslo/v1, got %q", where, d.APIVersion)
		}
		if d.Metadata.Name == "" {
			return nil, fmt.Errorf("%s: metadata.name must not be empty", where)
		}
		var err error
		switch d.Kind {
		case "SLO":
			slos = append(slos, d)
		case "SLI":
			var s openSLOSLISpec
			err = d.Spec.Decode(&s)
			slis[d.Metadata.Name] = s
		case "AlertPolicy":
			var s openSLOPolicySpec
			err = d.Spec.Decode(&s)
			policies[d.Metadata.Name] = s
		case "AlertCondition":
			var s openSLOConditionSpec
			err = d.Spec.Decode(&s)
			conditions[d.Metadata.Name] = s
		case "Service", "AlertNotificationTarget", "DataSource":
			// Informational for this processor.
		default:
			return nil, fmt.Errorf("%s: unsupported kind %q", where, d.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: spec: %w", where, err)
		}
	}

	out := make([]SLOConfig, 0, len(slos))
	for _, d := range slos {
		s, err := openSLOToConfig(d, slis, policies, conditions)
		if err != nil {
			return nil, fmt.Errorf("SLO %q: %w", d.Metadata.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func openSLOToConfig(d openSLODoc, slis map[string]openSLOSLISpec, policies map[string]openSLOPolicySpec, conditions map[string]openSLOConditionSpec) (SLOConfig, error) {
	var spec openSLOSpec
	if err := d.Spec.Decode(&spec); err != nil {
		return SLOConfig{}, fmt.Errorf("spec: %w", err)
	}
	cfg := SLOConfig{Name: d.Metadata.Name, Service: spec.Service}

	if spec.BudgetingMethod != "Occurrences" {
		return cfg, fmt.Errorf("spec.budgetingMethod must be Occurrences, got %q", spec.BudgetingMethod)
	}
	if len(spec.TimeWindow) != 1 {
		return cfg, fmt.Errorf("spec.timeWindow must hold exactly one window, got %d", len(spec.TimeWindow))
	}
	tw := spec.TimeWindow[0]
	if !tw.IsRolling || tw.Calendar != nil {
		return cfg, fmt.Errorf("spec.timeWindow[0]: only rolling windows are supported, got isRolling=%v", tw.IsRolling)
	}
	period, err := parseDuration(tw.Duration)
	if err != nil {
		return cfg, fmt.Errorf("spec.timeWindow[0].duration: %w", err)
	}
	cfg.Period = Duration(period)

	if len(spec.Objectives) != 1 {
		return cfg, fmt.Errorf("spec.objectives must hold exactly one objective, got %d", len(spec.Objectives))
	}
	switch o := spec.Objectives[0]; {
	case o.Target != nil && o.TargetPercent != nil:
		return cfg, errors.New("spec.objectives[0]: set target or targetPercent, not both")
	case o.Target != nil:
		cfg.Objective = *o.Target * 100
	case o.TargetPercent != nil:
		cfg.Objective = *o.TargetPercent
	default:
		return cfg, errors.New("spec.objectives[0]: target or targetPercent is required")
	}

	var sli openSLOSLISpec
	switch {
	case spec.Indicator != nil && spec.IndicatorRef != "":
		return cfg, errors.New("spec: set indicator or indicatorRef, not both")
	case spec.Indicator != nil:
		sli = spec.Indicator.Spec
	case spec.IndicatorRef != "":
		var ok bool
		if sli, ok = slis[spec.IndicatorRef]; !ok {
			return cfg, fmt.Errorf("spec.indicatorRef %q: no SLI document of that name", spec.IndicatorRef)
		}
	default:
		return cfg, errors.New("spec: indicator or indicatorRef is required")
	}
	if err := applySpanSLI(&cfg, sli); err != nil {
		return cfg, err
	}

	if len(spec.AlertPolicies) > 0 {
		cfg.tiers = []TierConfig{}
	}
	for i, ap := range spec.AlertPolicies {
		pol := ap.Spec
		if ap.AlertPolicyRef != "" {
			var ok bool
			if pol, ok = policies[ap.AlertPolicyRef]; !ok {
				return cfg, fmt.Errorf("spec.alertPolicies[%d].alertPolicyRef %q: no AlertPolicy document of that name", i, ap.AlertPolicyRef)
			}
		}
		for j, c := range pol.Conditions {
			cs := c.Spec
			if c.ConditionRef != "" {
				var ok bool
				if cs, ok = conditions[c.ConditionRef]; !ok {
					return cfg, fmt.Errorf("spec.alertPolicies[%d] conditions[%d].conditionRef %q: no AlertCondition document of that name", i, j, c.ConditionRef)
				}
			}
			t, err := conditionToTier(cs)
			if err != nil {
				return cfg, fmt.Errorf("spec.alertPolicies[%d] conditions[%d]: %w", i, j, err)
			}
			cfg.tiers = append(cfg.tiers, t)
		}
	}
	if cfg.tiers != nil && len(cfg.tiers) == 0 {
		return cfg, errors.New("spec.alertPolicies: no conditions")
	}
	return cfg, nil
}

func applySpanSLI(cfg *SLOConfig, sli openSLOSLISpec) error {
	if sli.ThresholdMetric != nil || sli.RatioMetric == nil {
		return errors.New("indicator: only ratioMetric with metricSource type \"spans\" is supported")
	}
	rm := sli.RatioMetric
	if rm.Bad != nil {
		return errors.New("indicator.ratioMetric.bad: use good and total")
	}
	if rm.Good == nil || rm.Total == nil {
		return errors.New("indicator.ratioMetric: good and total are required")
	}
	for name, w := range map[string]*openSLOMetricWrapper{"good": rm.Good, "total": rm.Total} {
		if !strings.EqualFold(w.MetricSource.Type, openSLOSpanSource) {
			return fmt.Errorf("indicator.ratioMetric.%s.metricSource.type must be %q, got %q", name, openSLOSpanSource, w.MetricSource.Type)
		}
	}
	var sel spanSelection
	if err := decodeStrict(&rm.Total.MetricSource.Spec, &sel); err != nil {
		return fmt.Errorf("indicator.ratioMetric.total.metricSource.spec: %w", err)
	}
	if sel.Service != "" {
		if cfg.Service != "" && cfg.Service != sel.Service {
			return fmt.Errorf("indicator.ratioMetric.total.metricSource.spec.service %q differs from spec.service %q", sel.Service, cfg.Service)
		}
		cfg.Service = sel.Service
	}
	cfg.SpanKind, cfg.SpanName, cfg.HTTPRoute, cfg.Condition = sel.SpanKind, sel.SpanName, sel.HTTPRoute, sel.Condition

	var crit spanCriterion
	if err := decodeStrict(&rm.Good.MetricSource.Spec, &crit); err != nil {
		return fmt.Errorf("indicator.ratioMetric.good.metricSource.spec: %w", err)
	}
	if crit.Availability != nil {
		cfg.SLI.Availability = &AvailabilitySLI{}
	}
	if l := crit.Latency; l != nil {
		lat := &LatencySLI{Percentile: l.Percentile, Baseline: BaselineConfig{MinSamples: l.Baseline.MinSamples}}
		if err := lat.Threshold.UnmarshalText([]byte(l.Threshold)); err != nil {
			return fmt.Errorf("indicator.ratioMetric.good.metricSource.spec.latency.threshold: %w", err)
		}
		for field, pair := range map[string]struct {
			s string
			d *Duration
		}{
			"floor":                    {l.Floor, &lat.Floor},
			"baseline.period":          {l.Baseline.Period, &lat.Baseline.Period},
			"baseline.update_interval": {l.Baseline.UpdateInterval, &lat.Baseline.UpdateInterval},
		} {
			if pair.s == "" {
				continue
			}
			if err := pair.d.UnmarshalText([]byte(pair.s)); err != nil {
				return fmt.Errorf("indicator.ratioMetric.good.metricSource.spec.latency.%s: %w", field, err)
			}
		}
		cfg.SLI.Latency = lat
	}
	return nil
}

func decodeStrict(n *yaml.Node, out any) error {
	if n.Kind == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(n); err != nil {
		return err
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	return dec.Decode(out)
}

func conditionToTier(c openSLOConditionSpec) (TierConfig, error) {
	cond := c.Condition
	if !strings.EqualFold(cond.Kind, "burnrate") {
		return TierConfig{}, fmt.Errorf("condition.kind must be burnrate, got %q", cond.Kind)
	}
	if cond.Op != "gte" && cond.Op != "gt" {
		return TierConfig{}, fmt.Errorf("condition.op must be gte or gt, got %q", cond.Op)
	}
	long, err := parseDuration(cond.LookbackWindow)
	if err != nil {
		return TierConfig{}, fmt.Errorf("condition.lookbackWindow: %w", err)
	}
	short := long / 12
	if cond.AlertAfter != "" {
		if short, err = parseDuration(cond.AlertAfter); err != nil {
			return TierConfig{}, fmt.Errorf("condition.alertAfter: %w", err)
		}
	}
	sev := c.Severity
	if sev == "" {
		return TierConfig{}, errors.New("severity must not be empty")
	}
	return TierConfig{Severity: sev, Long: Duration(long), Short: Duration(short.Truncate(time.Second)), BurnRate: cond.Threshold}, nil
}
