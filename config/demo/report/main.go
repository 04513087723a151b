// Command demo-report prints, readably, what the collector captured during `make run`:
// spans grouped by service, version, kind and name with their durations, parent/child
// links and errors; the latest value of each metric; the canary drift verdicts; and any
// alert records with their root-cause hints and example traces.
package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/otlpfile"
)

func main() {
	dir := flag.String("dir", "", "directory holding traces.jsonl, metrics.jsonl and logs.jsonl")
	flag.Parse()
	if err := report(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "demo-report:", err)
		os.Exit(1)
	}
}

func report(dir string) error {
	td, err := otlpfile.ReadTraces(filepath.Join(dir, "traces.jsonl"))
	if err != nil {
		return err
	}
	md, err := otlpfile.ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	ld, err := otlpfile.ReadLogs(filepath.Join(dir, "logs.jsonl"))
	if err != nil {
		return err
	}
	printSpans(td)
	printMetrics(md)
	printDrift(md, ld)
	fmt.Printf("\n== Alerts: %d records\n", ld.LogRecordCount())
	byTrace := spansByTrace(td)
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				r := recs.At(k)
				fmt.Printf("  %s %-5s %s\n", r.Timestamp().AsTime().Format(time.TimeOnly), r.SeverityText(), r.Body().AsString())
				printHint(r.Attributes(), byTrace)
			}
		}
	}
	return nil
}

// printHint prints an alert record's root-cause hint and its exemplar traces, each
// with the captured span it names, so the reader can see they are failing requests.
func printHint(a pcommon.Map, byTrace map[pcommon.TraceID][]ptrace.Span) {
	if v, ok := a.Get("annotation.hint"); ok {
		fmt.Printf("      where: %s\n", v.AsString())
	}
	v, ok := a.Get("annotation.exemplar_trace_ids")
	if !ok || v.AsString() == "" {
		return
	}
	for _, id := range strings.Split(v.AsString(), ",") {
		desc := "(not among the captured spans)"
		var tid pcommon.TraceID
		if b, err := hex.DecodeString(id); err == nil && len(b) == len(tid) {
			copy(tid[:], b)
			// The trace's entry: its server span whose parent is not captured (the
			// caller's), not the downstream server spans stitched into the trace.
			in := map[pcommon.SpanID]bool{}
			for _, s := range byTrace[tid] {
				in[s.SpanID()] = true
			}
			for _, s := range byTrace[tid] {
				if s.Kind() == ptrace.SpanKindServer && !in[s.ParentSpanID()] {
					code, _ := s.Attributes().Get("http.response.status_code")
					desc = fmt.Sprintf("%s status=%s http.response.status_code=%s", s.Name(), s.Status().Code(), code.AsString())
					break
				}
			}
		}
		fmt.Printf("      example trace %s: %s\n", id, desc)
	}
}

func spansByTrace(td ptrace.Traces) map[pcommon.TraceID][]ptrace.Span {
	out := map[pcommon.TraceID][]ptrace.Span{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				out[s.TraceID()] = append(out[s.TraceID()], s)
			}
		}
	}
	return out
}

type spanGroup struct {
	service, version, kind, name string
	count, errors                int
	durations                    []time.Duration
}

func printSpans(td ptrace.Traces) {
	groups := map[string]*spanGroup{}
	ids := map[pcommon.SpanID]bool{}
	var all []ptrace.Span
	var (
		example     ptrace.Span
		exampleRes  pcommon.Resource
		haveExample bool
	)
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		svc := serviceName(rs.Resource())
		version := "-"
		if v, ok := rs.Resource().Attributes().Get("service.version"); ok {
			version = v.AsString()
		}
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				all = append(all, s)
				ids[s.SpanID()] = true
				key := svc + "|" + version + "|" + s.Kind().String() + "|" + s.Name()
				g := groups[key]
				if g == nil {
					g = &spanGroup{service: svc, version: version, kind: strings.TrimPrefix(s.Kind().String(), "Span_Kind_"), name: s.Name()}
					groups[key] = g
				}
				g.count++
				if s.Status().Code() == ptrace.StatusCodeError {
					g.errors++
				}
				g.durations = append(g.durations, s.EndTimestamp().AsTime().Sub(s.StartTimestamp().AsTime()))
				if !haveExample && s.Kind() == ptrace.SpanKindServer {
					example, exampleRes, haveExample = s, rs.Resource(), true
				}
			}
		}
	}
	fmt.Printf("== Spans: %d captured\n", len(all))
	if len(all) == 0 {
		fmt.Println("  (none: is the demo running, and is the collector running as root?)")
		return
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  SERVICE\tVERSION\tKIND\tNAME\tCOUNT\tERRORS\tP50\tP99")
	for _, k := range keys {
		g := groups[k]
		sort.Slice(g.durations, func(a, b int) bool { return g.durations[a] < g.durations[b] })
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", g.service, g.version, g.kind, g.name, g.count, g.errors,
			quantile(g.durations, 0.50), quantile(g.durations, 0.99))
	}
	_ = w.Flush()

	children, remoteParents := 0, 0
	for _, s := range all {
		switch {
		case s.ParentSpanID().IsEmpty():
		case ids[s.ParentSpanID()]:
			children++
		default:
			remoteParents++
		}
	}
	fmt.Printf("  links: %d spans are children of a captured span; %d continue a caller's trace (traceparent)\n", children, remoteParents)
	if haveExample {
		fmt.Println("  example server span:")
		fmt.Printf("    resource: %s\n", attrs(exampleRes.Attributes()))
		fmt.Printf("    %s trace=%s span=%s parent=%s status=%s\n", example.Name(), example.TraceID(), example.SpanID(), example.ParentSpanID(), example.Status().Code())
		fmt.Printf("    attributes: %s\n", attrs(example.Attributes()))
	}
	printExampleTrace(td)
}

// resSpan is a span with the resource (process) that made it.
type resSpan struct {
	span ptrace.Span
	res  pcommon.Resource
}

// printExampleTrace prints, as a tree, the first order (by start time) whose trace
// reaches the database: the orders server span, its HTTP client calls, the server spans
// those calls reached (inventory, in the same process, and pricing, in another: both
// stitched on this host), the inventory's database client span, and the order's gRPC
// client call; then the gRPC server span that call reached, if it is not in the tree.
func printExampleTrace(td ptrace.Traces) {
	byTrace := map[pcommon.TraceID][]resSpan{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				byTrace[s.TraceID()] = append(byTrace[s.TraceID()], resSpan{s, rs.Resource()})
			}
		}
	}
	var (
		best      []resSpan
		bestStart pcommon.Timestamp
	)
	for _, spans := range byTrace {
		hasDB, start := false, pcommon.Timestamp(0)
		for _, rs := range spans {
			if _, ok := rs.span.Attributes().Get("db.system.name"); ok {
				hasDB = true
			}
			if start == 0 || rs.span.StartTimestamp() < start {
				start = rs.span.StartTimestamp()
			}
		}
		if hasDB && len(spans) > 1 && (best == nil || start < bestStart) {
			best, bestStart = spans, start
		}
	}
	if best == nil {
		fmt.Println("  example trace: none reaches the database")
		return
	}
	in := map[pcommon.SpanID]bool{}
	for _, rs := range best {
		in[rs.span.SpanID()] = true
	}
	children := map[pcommon.SpanID][]resSpan{}
	var roots []resSpan
	for _, rs := range best {
		if p := rs.span.ParentSpanID(); !p.IsEmpty() && in[p] {
			children[p] = append(children[p], rs)
		} else {
			roots = append(roots, rs)
		}
	}
	byStart := func(l []resSpan) {
		sort.Slice(l, func(a, b int) bool { return l[a].span.StartTimestamp() < l[b].span.StartTimestamp() })
	}
	byStart(roots)
	fmt.Printf("  example trace %s (the first order that reached the database; %d spans):\n", best[0].span.TraceID(), len(best))
	var walk func(rs resSpan, prefix, branch string)
	walk = func(rs resSpan, prefix, branch string) {
		s := rs.span
		printSpanLine(rs, prefix+branch)
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		fmt.Printf("    %s%s  %s\n", next, map[bool]string{true: "│", false: " "}[len(children[s.SpanID()]) > 0], attrs(s.Attributes()))
		kids := children[s.SpanID()]
		byStart(kids)
		for i, k := range kids {
			b := "├─ "
			if i == len(kids)-1 {
				b = "└─ "
			}
			walk(k, next, b)
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
	// The gRPC server span each gRPC client call reached: in this trace (stitched by
	// the connection and the HTTP/2 stream id; the tree shows it: its child) or, when
	// it was not stitched, in a trace of its own. Unstitched, it is matched by RPC
	// name and time among the server spans no captured client span is the parent of:
	// the server span lying within its client span, the one starting closest to it if
	// two do (baseline and canary call the pricing service at the same time).
	captured := map[pcommon.SpanID]bool{}
	for _, spans := range byTrace {
		for _, rs := range spans {
			captured[rs.span.SpanID()] = true
		}
	}
	for _, c := range best {
		if c.span.Kind() != ptrace.SpanKindClient || !isGRPC(c.span) {
			continue
		}
		var (
			match     resSpan
			matchLen  int
			haveMatch bool
		)
		for _, spans := range byTrace {
			for _, rs := range spans {
				s := rs.span
				if s.Kind() != ptrace.SpanKindServer || !isGRPC(s) || s.Name() != c.span.Name() {
					continue
				}
				if s.ParentSpanID() == c.span.SpanID() {
					match, matchLen, haveMatch = rs, len(spans), true
					break
				}
				if captured[s.ParentSpanID()] || s.StartTimestamp() < c.span.StartTimestamp() || s.EndTimestamp() > c.span.EndTimestamp() {
					continue
				}
				if !haveMatch || match.span.ParentSpanID() != c.span.SpanID() && s.StartTimestamp() < match.span.StartTimestamp() {
					match, matchLen, haveMatch = rs, len(spans), true
				}
			}
		}
		switch {
		case !haveMatch:
			fmt.Printf("  its gRPC call %s reached no captured server span\n", c.span.Name())
		case match.span.TraceID() == c.span.TraceID():
			fmt.Printf("  its gRPC call %s reached the server span in the tree above\n", c.span.Name())
		default:
			fmt.Printf("  its gRPC call %s reached this server span, in another trace (%s, %d span(s)): not stitched\n",
				c.span.Name(), match.span.TraceID(), matchLen)
			printSpanLine(match, "")
			fmt.Printf("       %s\n", attrs(match.span.Attributes()))
		}
	}
}

// printSpanLine prints one span of an example trace: kind, name, duration, status and
// the service (name, version, pid) that made it.
func printSpanLine(rs resSpan, prefix string) {
	s := rs.span
	version := "-"
	if v, ok := rs.res.Attributes().Get("service.version"); ok {
		version = v.AsString()
	}
	fmt.Printf("    %s%s %s  %s  status=%s  [%s %s pid=%s]\n", prefix,
		strings.TrimPrefix(s.Kind().String(), "Span_Kind_"), s.Name(),
		s.EndTimestamp().AsTime().Sub(s.StartTimestamp().AsTime()).Round(time.Microsecond),
		s.Status().Code(), serviceName(rs.res), version, resAttr(rs.res, "process.pid"))
}

func isGRPC(s ptrace.Span) bool {
	v, ok := s.Attributes().Get("rpc.system")
	return ok && v.AsString() == "grpc"
}

func resAttr(r pcommon.Resource, key string) string {
	if v, ok := r.Attributes().Get(key); ok {
		return v.AsString()
	}
	return "-"
}

func printMetrics(md pmetric.Metrics) {
	latest := map[string]string{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		svc := serviceName(rm.Resource())
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if strings.HasPrefix(m.Name(), "canary.drift.") {
					continue // summarised under "Canary drift"
				}
				for name, v := range values(m) {
					latest[svc+" "+name] = v
				}
			}
		}
	}
	fmt.Printf("\n== Metrics: %d series (latest value each)\n", len(latest))
	keys := make([]string, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	const shown = 80
	for i, k := range keys {
		if i == shown {
			fmt.Printf("  ... and %d more\n", len(keys)-shown)
			break
		}
		fmt.Printf("  %s = %s\n", k, latest[k])
	}
}

// values renders each data point of m as "name{attrs}" -> value.
func values(m pmetric.Metric) map[string]string {
	out := map[string]string{}
	num := func(dps pmetric.NumberDataPointSlice) {
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			v := fmt.Sprint(dp.IntValue())
			if dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
				v = fmt.Sprintf("%.4g", dp.DoubleValue())
			}
			out[m.Name()+"{"+attrs(dp.Attributes())+"}"] = v + " " + m.Unit()
		}
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		num(m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		num(m.Sum().DataPoints())
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			out[m.Name()+"{"+attrs(dp.Attributes())+"}"] = fmt.Sprintf("count=%d sum=%.4g %s", dp.Count(), dp.Sum(), m.Unit())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			out[m.Name()+"{"+attrs(dp.Attributes())+"}"] = fmt.Sprintf("count=%d sum=%.4g %s", dp.Count(), dp.Sum(), m.Unit())
		}
	}
	return out
}

func serviceName(r pcommon.Resource) string {
	if v, ok := r.Attributes().Get("service.name"); ok {
		return v.AsString()
	}
	return "-"
}

func attrs(m pcommon.Map) string {
	parts := make([]string, 0, m.Len())
	m.Range(func(k string, v pcommon.Value) bool {
		parts = append(parts, k+"="+v.AsString())
		return true
	})
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func quantile(d []time.Duration, q float64) string {
	if len(d) == 0 {
		return "-"
	}
	return d[int(q*float64(len(d)-1))].Round(10 * time.Microsecond).String()
}
