package main

import (
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// driftSeries is the latest verdict of tail_sampling_drift for one service,
// operation, canary cohort and signal, read from its canary.drift.* gauges.
type driftSeries struct {
	service, key, cohort, baseline, signal string
	drifting, statistic, threshold         float64
}

// printDrift prints the canary drift verdicts (the latest canary.drift.*
// gauges) and the CanaryDrift alert records with their labels.
func printDrift(md pmetric.Metrics, ld plog.Logs) {
	series := map[string]*driftSeries{}
	errorRatio := map[string]float64{} // service|key|cohort|role
	get := func(a map[string]any) *driftSeries {
		id := fmt.Sprint(a["service"], "|", a["key"], "|", a["cohort"], "|", a["signal"])
		s := series[id]
		if s == nil {
			s = &driftSeries{service: fmt.Sprint(a["service"]), key: fmt.Sprint(a["key"]), cohort: fmt.Sprint(a["cohort"]),
				baseline: fmt.Sprint(a["baseline"]), signal: fmt.Sprint(a["signal"])}
			series[id] = s
		}
		return s
	}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if !strings.HasPrefix(m.Name(), "canary.drift.") || m.Type() != pmetric.MetricTypeGauge {
					continue
				}
				// Points come in time order: the last one of a series wins.
				for _, dp := range m.Gauge().DataPoints().All() {
					a := dp.Attributes().AsRaw()
					v := dp.DoubleValue()
					switch m.Name() {
					case "canary.drift.drifting":
						get(a).drifting = v
					case "canary.drift.statistic":
						get(a).statistic = v
					case "canary.drift.threshold":
						get(a).threshold = v
					case "canary.drift.error_ratio":
						errorRatio[fmt.Sprint(a["service"], "|", a["key"], "|", a["cohort"], "|", a["role"])] = v
					}
				}
			}
		}
	}
	ids := make([]string, 0, len(series))
	for id := range series {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Printf("\n== Canary drift: %d verdicts (latest)\n", len(ids))
	for _, id := range ids {
		s := series[id]
		verdict := "ok"
		if s.drifting == 1 {
			verdict = "DRIFTING"
		}
		k := s.service + "|" + s.key + "|" + s.cohort + "|"
		fmt.Printf("  %s %s: cohort %s vs baseline %s on %s: %s (statistic %.3g, threshold %.3g; error ratio %.3g vs %.3g)\n",
			s.service, s.key, s.cohort, s.baseline, s.signal, verdict, s.statistic, s.threshold, errorRatio[k+"canary"], errorRatio[k+"baseline"])
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				a := r.Attributes()
				if v, ok := a.Get("alertname"); !ok || v.Str() != "CanaryDrift" {
					continue
				}
				var labels []string
				for _, l := range []string{"alert.state", "alertname", "service", "key", "cohort", "baseline", "signal"} {
					if v, ok := a.Get(l); ok {
						labels = append(labels, l+"="+v.AsString())
					}
				}
				fmt.Printf("  CanaryDrift record: %s\n    %s\n", strings.Join(labels, " "), r.Body().AsString())
			}
		}
	}
}
