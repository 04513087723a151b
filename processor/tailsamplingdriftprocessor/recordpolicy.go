package tailsamplingdriftprocessor

import (
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// recordPolicyGate is the stock tail_sampling processor's feature gate that
// names, on the instrumentation scope of every kept span, the policy that kept
// its trace. The gate is registered by the stock processor's package, which
// this one imports for its configuration; tail_sampling_drift honours it too,
// so a renamed configuration keeps the attributes.
const recordPolicyGate = "processor.tailsamplingprocessor.recordpolicy"

// The scope attributes the gate writes, as the stock processor names them.
const (
	attrPolicy          = "tailsampling.policy"
	attrCompositePolicy = "tailsampling.composite_policy"
	attrCachedDecision  = "tailsampling.cached_decision"
)

// driftPolicyName is written as tailsampling.policy on traces that no policy
// sampled and drift.keep_drifting_traces kept.
const driftPolicyName = "drift.keep_drifting_traces"

// gateEnabled reports whether the feature gate id is registered and enabled.
func gateEnabled(id string) bool {
	on := false
	featuregate.GlobalRegistry().VisitAll(func(g *featuregate.Gate) {
		if g.ID() == id {
			on = g.IsEnabled()
		}
	})
	return on
}

// policyMark is what the recordpolicy gate writes on the scope of a kept
// trace's spans. Marks are interned per shard, so chunks of one mark compare
// by pointer when decodeKept groups them.
type policyMark struct {
	policy, composite string
	cached            bool
	// late is the mark of spans that arrive after the decision: the policy
	// name and cached_decision, as the stock processor writes for spans that
	// follow its sampled cache.
	late *policyMark
}

type markKey struct {
	policy, composite string
	cached            bool
}

// markOf returns the shard's interned mark for a decision by policy (and a
// composite's sub-policy). The caller holds s.mu.
func (s *shard) markOf(policy, composite string) *policyMark {
	m := s.internMark(markKey{policy: policy, composite: composite})
	if m.late == nil {
		m.late = s.internMark(markKey{policy: policy, cached: true})
	}
	return m
}

func (s *shard) internMark(k markKey) *policyMark {
	if m := s.marks[k]; m != nil {
		return m
	}
	if s.marks == nil {
		s.marks = make(map[markKey]*policyMark)
	}
	m := &policyMark{policy: k.policy, composite: k.composite, cached: k.cached}
	s.marks[k] = m
	return m
}

// apply writes the mark on a scope's attributes.
func (m *policyMark) apply(attrs pcommon.Map) {
	if m.policy != "" {
		attrs.PutStr(attrPolicy, m.policy)
	}
	if m.composite != "" {
		attrs.PutStr(attrCompositePolicy, m.composite)
	}
	if m.cached {
		attrs.PutBool(attrCachedDecision, true)
	}
}
