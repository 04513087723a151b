package tailsamplingdriftprocessor

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspanevent"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// ottlObserver evaluates OTTL span and span event conditions at ingest. Like the
// stock policy, the first span (in arrival order) that matches or fails decides:
// a failure makes the policy report an error, a match samples.
type ottlObserver struct {
	bit        uint64
	spanConds  *ottl.ConditionSequence[*ottlspan.TransformContext]
	eventConds *ottl.ConditionSequence[*ottlspanevent.TransformContext]
}

func newOTTLPolicy(env *compileEnv, name string, c tsp.OTTLConditionCfg) (policy, error) {
	if len(c.SpanConditions) == 0 && len(c.SpanEventConditions) == 0 {
		return nil, errors.New("ottl_condition: expected at least one of span, spanevent conditions")
	}
	mode := c.ErrorMode
	if mode == "" {
		mode = ottl.PropagateError
	}
	o := &ottlObserver{}
	if len(c.SpanConditions) > 0 {
		parser, err := ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](), env.settings, ottlspan.EnablePathContextNames())
		if err != nil {
			return nil, fmt.Errorf("ottl_condition: %w", err)
		}
		o.spanConds, err = parseConditions(env, ottlspan.ContextName, parser, c.SpanConditions, mode)
		if err != nil {
			return nil, fmt.Errorf("ottl_condition: span: %w", err)
		}
	}
	if len(c.SpanEventConditions) > 0 {
		parser, err := ottlspanevent.NewParser(ottlfuncs.StandardConverters[*ottlspanevent.TransformContext](), env.settings, ottlspanevent.EnablePathContextNames())
		if err != nil {
			return nil, fmt.Errorf("ottl_condition: %w", err)
		}
		o.eventConds, err = parseConditions(env, ottlspanevent.ContextName, parser, c.SpanEventConditions, mode)
		if err != nil {
			return nil, fmt.Errorf("ottl_condition: spanevent: %w", err)
		}
	}
	bit, err := env.nextBit(name)
	if err != nil {
		return nil, err
	}
	o.bit = bit
	env.set.observers = append(env.set.observers, o)
	return &ottlPolicy{bit: bit}, nil
}

// parseConditions parses conditions that may or may not name their path context
// (`attributes["x"]` or `span.attributes["x"]`), as the stock policy accepts.
func parseConditions[K any](env *compileEnv, contextName string, parser ottl.Parser[K], conditions []string, mode ottl.ErrorMode) (*ottl.ConditionSequence[K], error) {
	pc, err := ottl.NewParserCollection(env.settings,
		ottl.WithParserCollectionContext(contextName, &parser,
			ottl.WithConditionConverter(func(_ *ottl.ParserCollection[*ottl.ConditionSequence[K]], _ ottl.ConditionsGetter, parsed []*ottl.Condition[K]) (*ottl.ConditionSequence[K], error) {
				seq := ottl.NewConditionSequence(parsed, env.settings, ottl.WithConditionSequenceErrorMode[K](mode))
				return &seq, nil
			})))
	if err != nil {
		return nil, err
	}
	return pc.ParseConditionsWithContext(contextName, ottl.NewConditionsGetter(conditions), true)
}

func (*ottlObserver) observeResource(pcommon.Resource, *trace) {}

func (o *ottlObserver) observeSpan(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, t *trace) {
	if (t.matched|t.errored)&o.bit != 0 {
		return
	}
	ctx := context.Background()
	if o.spanConds != nil {
		tc := ottlspan.NewTransformContextPtr(rs, ss, span)
		ok, err := o.spanConds.Eval(ctx, tc)
		tc.Close()
		if err != nil {
			t.errored |= o.bit
			return
		}
		if ok {
			t.matched |= o.bit
			return
		}
	}
	if o.eventConds != nil {
		events := span.Events()
		for i := 0; i < events.Len(); i++ {
			tc := ottlspanevent.NewTransformContextPtr(rs, ss, span, events.At(i))
			ok, err := o.eventConds.Eval(ctx, tc)
			tc.Close()
			if err != nil {
				t.errored |= o.bit
				return
			}
			if ok {
				t.matched |= o.bit
				return
			}
		}
	}
}

type ottlPolicy struct{ bit uint64 }

func (p *ottlPolicy) Evaluate(_ pcommon.TraceID, t *trace) Decision {
	switch {
	case t.errored&p.bit != 0:
		return errored
	case t.matched&p.bit != 0:
		return sampled
	default:
		return notSampled
	}
}
