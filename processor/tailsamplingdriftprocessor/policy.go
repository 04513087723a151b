package tailsamplingdriftprocessor

import (
	"errors"
	"fmt"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// decisionKind is what one policy says about one trace.
type decisionKind int8

const (
	decisionUnspecified decisionKind = iota
	decisionSampled
	decisionNotSampled
	decisionDropped
	decisionError
)

func (k decisionKind) String() string {
	switch k {
	case decisionSampled:
		return "sampled"
	case decisionNotSampled:
		return "not_sampled"
	case decisionDropped:
		return "dropped"
	case decisionError:
		return "error"
	default:
		return "unspecified"
	}
}

// Decision is a policy's verdict. Threshold is the consistent-probability
// rejection threshold under which the trace was sampled (AlwaysSampleThreshold
// for policies that sample with certainty); it only matters when Kind is sampled.
type Decision struct {
	Kind decisionKind
	// sub, set by a composite policy that samples, is 1 + the index of the
	// sub-policy that did. by and composite, set by policySet.decide on a
	// sampled decision, are 1 + the index in policySet.policies of the first
	// policy that sampled and of the last composite that sampled (0: none):
	// what the stock recordpolicy gate writes on kept spans.
	sub, by, composite int16
	Threshold          sampling.Threshold
}

var (
	sampled    = Decision{Kind: decisionSampled, Threshold: sampling.AlwaysSampleThreshold}
	notSampled = Decision{Kind: decisionNotSampled}
	dropped    = Decision{Kind: decisionDropped}
	errored    = Decision{Kind: decisionError}
)

func boolDecision(keep bool) Decision {
	if keep {
		return sampled
	}
	return notSampled
}

// policy decides one trace from the facts gathered at ingest.
type policy interface {
	Evaluate(id pcommon.TraceID, t *trace) Decision
}

// spanObserver gathers, at ingest, the facts a policy needs from a trace's
// resources and spans into the trace's matched/errored bits. observeResource is
// called once per resource and trace for each batch holding spans of the trace,
// before that resource's spans.
type spanObserver interface {
	observeResource(res pcommon.Resource, t *trace)
	observeSpan(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, t *trace)
}

// namedPolicy is a top-level policy.
type namedPolicy struct {
	name   string
	isDrop bool
	policy policy
}

// policySet is the compiled policy configuration of one shard: stateful policies
// (rate and bytes limits, composite) keep per-shard state, so each shard compiles
// its own set.
type policySet struct {
	// policies are ordered drop policies first, as the stock processor does.
	policies  []namedPolicy
	observers []spanObserver
	// needsLatency / needsTraceState gate the per-span work only some policies need.
	needsLatency    bool
	needsTraceState bool
	firstMatch      bool
}

// maxConditionBits is how many ingest-time conditions one configuration may
// hold (one bit each in trace.matched).
const maxConditionBits = 64

// compileEnv carries what compiling a policy needs.
type compileEnv struct {
	settings   component.TelemetrySettings
	shards     int64
	consistent bool
	bits       int
	set        *policySet
}

func (e *compileEnv) nextBit(policyName string) (uint64, error) {
	if e.bits >= maxConditionBits {
		return 0, fmt.Errorf("policy %q: more than %d attribute/status/latency/ottl conditions in one configuration are not supported", policyName, maxConditionBits)
	}
	b := uint64(1) << e.bits
	e.bits++
	return b, nil
}

// compilePolicies builds one shard's policy set. Rates are divided among shards
// (traces are spread uniformly over shards by trace ID), bursts are not, like the
// stock processor's num_shards.
func compilePolicies(cfgs []tsp.PolicyCfg, settings component.TelemetrySettings, shards int, consistent, firstMatch bool) (*policySet, error) {
	set := &policySet{firstMatch: firstMatch}
	env := &compileEnv{settings: settings, shards: int64(max(1, shards)), consistent: consistent, set: set}
	var drops, others []namedPolicy
	for i := range cfgs {
		c := &cfgs[i]
		p, err := compileTop(env, c)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", c.Name, err)
		}
		np := namedPolicy{name: c.Name, isDrop: c.Type == tsp.Drop, policy: p}
		if np.isDrop {
			drops = append(drops, np)
		} else {
			others = append(others, np)
		}
	}
	set.policies = append(drops, others...)
	return set, nil
}

func checkPolicyNames(cfgs []tsp.PolicyCfg) error {
	seen := make(map[string]bool, len(cfgs))
	for i := range cfgs {
		name := cfgs[i].Name
		if name == "" {
			return fmt.Errorf("policies[%d]: name cannot be empty", i)
		}
		if seen[name] {
			return fmt.Errorf("policies[%d]: duplicate policy name %q", i, name)
		}
		seen[name] = true
	}
	return nil
}

// validatePolicy compiles a policy once, so that every error a shard would hit at
// start is a config error instead.
func validatePolicy(c *tsp.PolicyCfg, consistent bool) error {
	env := &compileEnv{settings: nopTelemetrySettings(), shards: 1, consistent: consistent, set: &policySet{}}
	_, err := compileTop(env, c)
	return err
}

func compileTop(env *compileEnv, c *tsp.PolicyCfg) (policy, error) {
	switch c.Type {
	case tsp.Composite:
		return compileComposite(env, &c.CompositeCfg)
	case tsp.And:
		return compileAnd(env, c.AndCfg.SubPolicyCfg)
	case tsp.Not:
		return compileNot(env, &c.NotCfg)
	case tsp.Drop:
		subs, err := compileAndSubs(env, c.DropCfg.SubPolicyCfg)
		if err != nil {
			return nil, err
		}
		if len(subs) == 0 {
			return nil, errors.New("drop: drop_sub_policy must list at least one policy")
		}
		return &dropPolicy{subs: subs}, nil
	default:
		return compileLeaf(env, c.Name, c.Type, leafCfgOf(c))
	}
}

// leafCfg gathers the per-type settings a leaf policy may use. The stock config
// keeps them in an unexported embedded struct, reachable only through promoted
// fields, so each container type copies them here.
type leafCfg struct {
	latency          tsp.LatencyCfg
	numeric          tsp.NumericAttributeCfg
	probabilistic    tsp.ProbabilisticCfg
	statusCode       tsp.StatusCodeCfg
	stringAttr       tsp.StringAttributeCfg
	rateLimiting     tsp.RateLimitingCfg
	bytesLimiting    tsp.BytesLimitingCfg
	spanCount        tsp.SpanCountCfg
	traceState       tsp.TraceStateCfg
	booleanAttribute tsp.BooleanAttributeCfg
	ottl             tsp.OTTLConditionCfg
	extension        map[string]map[string]any
}

func leafCfgOf(c *tsp.PolicyCfg) *leafCfg {
	return &leafCfg{c.LatencyCfg, c.NumericAttributeCfg, c.ProbabilisticCfg, c.StatusCodeCfg, c.StringAttributeCfg,
		c.RateLimitingCfg, c.BytesLimitingCfg, c.SpanCountCfg, c.TraceStateCfg, c.BooleanAttributeCfg, c.OTTLConditionCfg, c.ExtensionCfg}
}

func leafCfgOfAndSub(c *tsp.AndSubPolicyCfg) *leafCfg {
	return &leafCfg{c.LatencyCfg, c.NumericAttributeCfg, c.ProbabilisticCfg, c.StatusCodeCfg, c.StringAttributeCfg,
		c.RateLimitingCfg, c.BytesLimitingCfg, c.SpanCountCfg, c.TraceStateCfg, c.BooleanAttributeCfg, c.OTTLConditionCfg, c.ExtensionCfg}
}

func leafCfgOfCompositeSub(c *tsp.CompositeSubPolicyCfg) *leafCfg {
	return &leafCfg{c.LatencyCfg, c.NumericAttributeCfg, c.ProbabilisticCfg, c.StatusCodeCfg, c.StringAttributeCfg,
		c.RateLimitingCfg, c.BytesLimitingCfg, c.SpanCountCfg, c.TraceStateCfg, c.BooleanAttributeCfg, c.OTTLConditionCfg, c.ExtensionCfg}
}

func leafCfgOfNotSub(c *tsp.NotSubPolicyCfg) *leafCfg {
	return &leafCfg{c.LatencyCfg, c.NumericAttributeCfg, c.ProbabilisticCfg, c.StatusCodeCfg, c.StringAttributeCfg,
		c.RateLimitingCfg, c.BytesLimitingCfg, c.SpanCountCfg, c.TraceStateCfg, c.BooleanAttributeCfg, c.OTTLConditionCfg, c.ExtensionCfg}
}

func compileAnd(env *compileEnv, subsCfg []tsp.AndSubPolicyCfg) (policy, error) {
	subs, err := compileAndSubs(env, subsCfg)
	if err != nil {
		return nil, err
	}
	if len(subs) == 0 {
		return nil, errors.New("and: and_sub_policy must list at least one policy")
	}
	return &andPolicy{subs: subs}, nil
}

func compileAndSubs(env *compileEnv, subsCfg []tsp.AndSubPolicyCfg) ([]policy, error) {
	subs := make([]policy, 0, len(subsCfg))
	for i := range subsCfg {
		c := &subsCfg[i]
		var p policy
		var err error
		if c.Type == tsp.Not {
			p, err = compileNot(env, &c.NotCfg)
		} else {
			p, err = compileLeaf(env, c.Name, c.Type, leafCfgOfAndSub(c))
		}
		if err != nil {
			return nil, fmt.Errorf("sub-policy %q: %w", c.Name, err)
		}
		subs = append(subs, p)
	}
	return subs, nil
}

func compileNot(env *compileEnv, c *tsp.NotCfg) (policy, error) {
	sub := &c.SubPolicy
	if sub.Type == "" {
		return nil, errors.New("not: not_sub_policy is required")
	}
	p, err := compileLeaf(env, sub.Name, sub.Type, leafCfgOfNotSub(sub))
	if err != nil {
		return nil, fmt.Errorf("not_sub_policy %q: %w", sub.Name, err)
	}
	return &notPolicy{sub: p}, nil
}

func compileComposite(env *compileEnv, c *tsp.CompositeCfg) (policy, error) {
	if len(c.SubPolicyCfg) == 0 {
		return nil, errors.New("composite: composite_sub_policy must list at least one policy")
	}
	if c.MaxTotalSpansPerSecond <= 0 {
		return nil, fmt.Errorf("composite: max_total_spans_per_second must be positive: %d", c.MaxTotalSpansPerSecond)
	}
	percent := make(map[string]int64, len(c.RateAllocation))
	for _, ra := range c.RateAllocation {
		percent[ra.Policy] = ra.Percent
	}
	maxTotal := float64(c.MaxTotalSpansPerSecond)
	defaultSPS := maxTotal / float64(len(c.SubPolicyCfg))
	cp := &compositePolicy{maxTotalSPS: c.MaxTotalSpansPerSecond / env.shards, clock: wallSecond}
	for i := range c.SubPolicyCfg {
		sc := &c.SubPolicyCfg[i]
		var p policy
		var err error
		if sc.Type == tsp.And {
			p, err = compileAnd(env, sc.AndCfg.SubPolicyCfg)
		} else {
			p, err = compileLeaf(env, sc.Name, sc.Type, leafCfgOfCompositeSub(sc))
		}
		if err != nil {
			return nil, fmt.Errorf("composite_sub_policy %q: %w", sc.Name, err)
		}
		alloc := defaultSPS
		if pc, ok := percent[sc.Name]; ok && pc > 0 {
			alloc = float64(pc) / 100 * maxTotal
		}
		cp.subs = append(cp.subs, &compositeSub{name: sc.Name, policy: p, allocatedSPS: int64(alloc) / env.shards})
	}
	return cp, nil
}

func compileLeaf(env *compileEnv, name string, typ tsp.PolicyType, c *leafCfg) (policy, error) {
	switch typ {
	case tsp.AlwaysSample:
		return alwaysSample{}, nil
	case tsp.Latency:
		return newLatencyPolicy(env, name, c.latency)
	case tsp.NumericAttribute:
		return newNumericAttributePolicy(env, name, c.numeric)
	case tsp.Probabilistic:
		return newProbabilisticPolicy(env, c.probabilistic)
	case tsp.StatusCode:
		return newStatusCodePolicy(env, name, c.statusCode)
	case tsp.StringAttribute:
		return newStringAttributePolicy(env, name, c.stringAttr)
	case tsp.RateLimiting:
		return newRateLimitingPolicy(env, c.rateLimiting)
	case tsp.BytesLimiting:
		return newBytesLimitingPolicy(env, c.bytesLimiting)
	case tsp.SpanCount:
		return newSpanCountPolicy(c.spanCount)
	case tsp.TraceState:
		return newTraceStatePolicy(env, name, c.traceState)
	case tsp.BooleanAttribute:
		return newBooleanAttributePolicy(env, name, c.booleanAttribute)
	case tsp.OTTLCondition:
		return newOTTLPolicy(env, name, c.ottl)
	case tsp.TraceFlags:
		return newTraceFlagsPolicy(env, name)
	case tsp.Composite, tsp.And, tsp.Not, tsp.Drop:
		return nil, fmt.Errorf("policy type %q is not allowed at this nesting level (the stock processor does not allow it either)", typ)
	case "":
		return nil, errors.New("type is required")
	default:
		if _, ok := c.extension[string(typ)]; ok {
			return nil, fmt.Errorf("policy type %q comes from a sampling policy extension, which tail_sampling_drift does not support", typ)
		}
		return nil, fmt.Errorf("unknown sampling policy type %q", typ)
	}
}

// decide applies the stock precedence: a dropped decision wins over everything;
// otherwise any sampled decision samples; policy errors take no part. The
// returned threshold is the smallest among the sampling policies (the most
// certain one), as the stock processor computes it.
func (ps *policySet) decide(id pcommon.TraceID, t *trace, errCount *int64) Decision {
	haveSampled := false
	th := sampling.NeverSampleThreshold
	var by, composite, sub int16
	for i := range ps.policies {
		d := ps.policies[i].policy.Evaluate(id, t)
		switch d.Kind {
		case decisionError:
			*errCount++
			continue
		case decisionDropped:
			return dropped
		case decisionSampled:
			if !haveSampled || sampling.ThresholdLessThan(d.Threshold, th) {
				th = d.Threshold
			}
			if !haveSampled {
				by = int16(i + 1)
			}
			if d.sub > 0 {
				composite, sub = int16(i+1), d.sub
			}
			haveSampled = true
			if ps.firstMatch {
				return Decision{Kind: decisionSampled, Threshold: th, by: by, composite: composite, sub: sub}
			}
		}
	}
	if haveSampled {
		return Decision{Kind: decisionSampled, Threshold: th, by: by, composite: composite, sub: sub}
	}
	return notSampled
}

// policyName is the name of the policy d.by designates, or "".
func (ps *policySet) policyName(d Decision) string {
	if d.by <= 0 || int(d.by) > len(ps.policies) {
		return ""
	}
	return ps.policies[d.by-1].name
}

// compositeSubName is the name of the composite sub-policy that sampled, or "".
func (ps *policySet) compositeSubName(d Decision) string {
	if d.composite <= 0 || int(d.composite) > len(ps.policies) || d.sub <= 0 {
		return ""
	}
	cp, ok := ps.policies[d.composite-1].policy.(*compositePolicy)
	if !ok || int(d.sub) > len(cp.subs) {
		return ""
	}
	return cp.subs[d.sub-1].name
}
