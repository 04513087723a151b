package tailsamplingdriftprocessor

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	oteltrace "go.opentelemetry.io/otel/trace"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

func nopTelemetrySettings() component.TelemetrySettings {
	return component.TelemetrySettings{
		Logger:         zap.NewNop(),
		TracerProvider: nooptrace.NewTracerProvider(),
		MeterProvider:  noopmetric.NewMeterProvider(),
	}
}

type alwaysSample struct{}

func (alwaysSample) Evaluate(pcommon.TraceID, *trace) Decision { return sampled }

// conditionPolicy is a policy whose answer is one bit gathered at ingest: "some
// resource or span of the trace matched". The stock attribute policies reduce to
// this: without invert_match they sample when anything matches; with it, when
// nothing does.
type conditionPolicy struct {
	bit    uint64
	invert bool
}

func (p *conditionPolicy) Evaluate(_ pcommon.TraceID, t *trace) Decision {
	return boolDecision((t.matched&p.bit != 0) != p.invert)
}

// attributeObserver sets bit when a resource attribute or a span attribute under
// key satisfies the checks. The stock policies skip empty string span values but
// not empty resource values; spanSkipEmpty keeps that asymmetry.
type attributeObserver struct {
	key           string
	bit           uint64
	check         func(v pcommon.Value) bool
	spanSkipEmpty bool
}

func (o *attributeObserver) observeResource(res pcommon.Resource, t *trace) {
	if t.matched&o.bit != 0 {
		return
	}
	if v, ok := res.Attributes().Get(o.key); ok && o.check(v) {
		t.matched |= o.bit
	}
}

func (o *attributeObserver) observeSpan(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, span ptrace.Span, t *trace) {
	if t.matched&o.bit != 0 {
		return
	}
	v, ok := span.Attributes().Get(o.key)
	if !ok {
		return
	}
	if o.spanSkipEmpty && v.Str() == "" {
		return
	}
	if o.check(v) {
		t.matched |= o.bit
	}
}

func newConditionPolicy(env *compileEnv, name string, invert bool, obs func(bit uint64) spanObserver) (policy, error) {
	bit, err := env.nextBit(name)
	if err != nil {
		return nil, err
	}
	env.set.observers = append(env.set.observers, obs(bit))
	return &conditionPolicy{bit: bit, invert: invert}, nil
}

func newStringAttributePolicy(env *compileEnv, name string, c tsp.StringAttributeCfg) (policy, error) {
	if c.Key == "" {
		return nil, errors.New("string_attribute: key is required")
	}
	var match func(string) bool
	if c.EnabledRegexMatching {
		res := make([]*regexp.Regexp, 0, len(c.Values))
		for _, v := range c.Values {
			re, err := regexp.Compile(v)
			if err != nil {
				return nil, fmt.Errorf("string_attribute: invalid regex %q: %w", v, err)
			}
			res = append(res, re)
		}
		// Matched values are cached (cache_max_size entries, 128 by default as
		// in the stock policy); each shard compiles its own policies and uses
		// them under its lock, so the cache needs no lock of its own.
		size := c.CacheMaxSize
		if size <= 0 {
			size = 128
		}
		cache := make(map[string]bool, size)
		match = func(s string) bool {
			if v, ok := cache[s]; ok {
				return v
			}
			v := false
			for _, re := range res {
				if re.MatchString(s) {
					v = true
					break
				}
			}
			if len(cache) >= size {
				clear(cache) // bounded; a simple reset beats LRU bookkeeping here
			}
			cache[s] = v
			return v
		}
	} else {
		values := make(map[string]struct{}, len(c.Values))
		for _, v := range c.Values {
			if v != "" {
				values[v] = struct{}{}
			}
		}
		match = func(s string) bool { _, ok := values[s]; return ok }
	}
	return newConditionPolicy(env, name, c.InvertMatch, func(bit uint64) spanObserver {
		return &attributeObserver{key: c.Key, bit: bit, spanSkipEmpty: true, check: func(v pcommon.Value) bool { return match(v.Str()) }}
	})
}

func newNumericAttributePolicy(env *compileEnv, name string, c tsp.NumericAttributeCfg) (policy, error) {
	if c.Key == "" {
		return nil, errors.New("numeric_attribute: key is required")
	}
	// The stock processor treats 0 as "unset" and fails at runtime when both are.
	if c.MinValue == 0 && c.MaxValue == 0 {
		return nil, errors.New("numeric_attribute: at least one of min_value, max_value must be set (non-zero)")
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if c.MinValue != 0 {
		lo = c.MinValue
	}
	if c.MaxValue != 0 {
		hi = c.MaxValue
	}
	if lo > hi {
		return nil, fmt.Errorf("numeric_attribute: min_value %d is greater than max_value %d", lo, hi)
	}
	return newConditionPolicy(env, name, c.InvertMatch, func(bit uint64) spanObserver {
		return &attributeObserver{key: c.Key, bit: bit, check: func(v pcommon.Value) bool { n := v.Int(); return n >= lo && n <= hi }}
	})
}

func newBooleanAttributePolicy(env *compileEnv, name string, c tsp.BooleanAttributeCfg) (policy, error) {
	if c.Key == "" {
		return nil, errors.New("boolean_attribute: key is required")
	}
	return newConditionPolicy(env, name, c.InvertMatch, func(bit uint64) spanObserver {
		return &attributeObserver{key: c.Key, bit: bit, check: func(v pcommon.Value) bool { return v.Bool() == c.Value }}
	})
}

// spanObserverFunc observes spans only.
type spanObserverFunc func(span ptrace.Span, t *trace)

func (spanObserverFunc) observeResource(pcommon.Resource, *trace) {}
func (f spanObserverFunc) observeSpan(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, span ptrace.Span, t *trace) {
	f(span, t)
}

func newStatusCodePolicy(env *compileEnv, name string, c tsp.StatusCodeCfg) (policy, error) {
	if len(c.StatusCodes) == 0 {
		return nil, errors.New("status_code: status_codes must list at least one of OK, ERROR, UNSET")
	}
	var codes []ptrace.StatusCode
	for _, s := range c.StatusCodes {
		switch s {
		case "OK":
			codes = append(codes, ptrace.StatusCodeOk)
		case "ERROR":
			codes = append(codes, ptrace.StatusCodeError)
		case "UNSET":
			codes = append(codes, ptrace.StatusCodeUnset)
		default:
			return nil, fmt.Errorf("status_code: unknown status code %q, supported: OK, ERROR, UNSET", s)
		}
	}
	return newConditionPolicy(env, name, false, func(bit uint64) spanObserver {
		return spanObserverFunc(func(span ptrace.Span, t *trace) {
			if t.matched&bit == 0 && slices.Contains(codes, span.Status().Code()) {
				t.matched |= bit
			}
		})
	})
}

func newTraceFlagsPolicy(env *compileEnv, name string) (policy, error) {
	return newConditionPolicy(env, name, false, func(bit uint64) spanObserver {
		return spanObserverFunc(func(span ptrace.Span, t *trace) {
			if byte(span.Flags())&byte(oteltrace.FlagsSampled) != 0 {
				t.matched |= bit
			}
		})
	})
}

func newTraceStatePolicy(env *compileEnv, name string, c tsp.TraceStateCfg) (policy, error) {
	if c.Key == "" {
		return nil, errors.New("trace_state: key is required")
	}
	values := make(map[string]struct{}, len(c.Values))
	for _, v := range c.Values {
		if v != "" && len(c.Key)+len(v) < 256 {
			values[v] = struct{}{}
		}
	}
	return newConditionPolicy(env, name, false, func(bit uint64) spanObserver {
		return spanObserverFunc(func(span ptrace.Span, t *trace) {
			if t.matched&bit != 0 {
				return
			}
			raw := span.TraceState().AsRaw()
			if raw == "" || !strings.Contains(raw, c.Key) {
				return
			}
			ts, err := oteltrace.ParseTraceState(raw)
			if err != nil {
				return
			}
			if _, ok := values[ts.Get(c.Key)]; ok {
				t.matched |= bit
			}
		})
	})
}

// latencyPolicy follows the stock policy exactly: it walks the spans in arrival
// order keeping running bounds, and matches if the running duration satisfies the
// thresholds at any span. The walk happens at ingest.
func newLatencyPolicy(env *compileEnv, name string, c tsp.LatencyCfg) (policy, error) {
	if c.ThresholdMs < 0 {
		return nil, fmt.Errorf("latency: threshold_ms is negative: %d", c.ThresholdMs)
	}
	if c.UpperThresholdMs != 0 && c.UpperThresholdMs < c.ThresholdMs {
		return nil, fmt.Errorf("latency: upper_threshold_ms %d is below threshold_ms %d", c.UpperThresholdMs, c.ThresholdMs)
	}
	env.set.needsLatency = true
	lo, hi := c.ThresholdMs, c.UpperThresholdMs
	return newConditionPolicy(env, name, false, func(bit uint64) spanObserver {
		return spanObserverFunc(func(_ ptrace.Span, t *trace) {
			// The bounds were already advanced for this span by the shard.
			if t.matched&bit != 0 {
				return
			}
			ms := elapsedMillis(t.minStart, t.maxEnd)
			if (hi == 0 && ms > lo) || (hi != 0 && lo < ms && ms <= hi) {
				t.matched |= bit
			}
		})
	})
}

// probabilisticPolicy keeps a share of traces, either by the OpenTelemetry
// consistent-probability rule (randomness >= threshold) or by the stock salted
// hash.
type probabilisticPolicy struct {
	consistent   bool
	threshold    sampling.Threshold
	hashSalt     string
	hashBoundary uint64
}

func newProbabilisticPolicy(env *compileEnv, c tsp.ProbabilisticCfg) (policy, error) {
	if c.SamplingPercentage < 0 || math.IsNaN(c.SamplingPercentage) {
		return nil, fmt.Errorf("probabilistic: sampling_percentage is negative: %v", c.SamplingPercentage)
	}
	ratio := c.SamplingPercentage / 100
	th, err := sampling.ProbabilityToThreshold(ratio)
	if err != nil {
		if ratio >= 1 {
			th = sampling.AlwaysSampleThreshold
		} else {
			th = sampling.NeverSampleThreshold
		}
	}
	if env.consistent && c.HashSalt != "" {
		return nil, fmt.Errorf("probabilistic: hash_salt %q cannot be used with consistent_probability: true (randomness comes from the tracestate rv or the trace ID, not a salted hash); remove hash_salt or set consistent_probability: false", c.HashSalt)
	}
	salt := c.HashSalt
	if salt == "" {
		salt = "default-hash-seed" // the stock default, so hash decisions agree
	}
	if env.consistent {
		env.set.needsTraceState = true
	}
	boundary, _ := new(big.Float).Mul(new(big.Float).SetUint64(math.MaxUint64), big.NewFloat(ratio)).Uint64()
	return &probabilisticPolicy{consistent: env.consistent, threshold: th, hashSalt: salt, hashBoundary: boundary}, nil
}

func (p *probabilisticPolicy) Evaluate(id pcommon.TraceID, t *trace) Decision {
	if p.consistent {
		var rnd sampling.Randomness
		if t.hasRandomness {
			rnd, _ = sampling.UnsignedToRandomness(t.randomness)
		} else {
			rnd = sampling.TraceIDToRandomness(id)
		}
		if p.threshold.ShouldSample(rnd) {
			return Decision{Kind: decisionSampled, Threshold: p.threshold}
		}
		return notSampled
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(p.hashSalt))
	_, _ = h.Write(id[:])
	if h.Sum64() <= p.hashBoundary {
		return Decision{Kind: decisionSampled, Threshold: p.threshold}
	}
	return notSampled
}

type spanCountPolicy struct{ lo, hi int64 }

func newSpanCountPolicy(c tsp.SpanCountCfg) (policy, error) {
	if c.MinSpans < 0 || c.MaxSpans < 0 {
		return nil, fmt.Errorf("span_count: min_spans %d / max_spans %d must not be negative", c.MinSpans, c.MaxSpans)
	}
	if c.MaxSpans != 0 && c.MaxSpans < c.MinSpans {
		return nil, fmt.Errorf("span_count: max_spans %d is below min_spans %d", c.MaxSpans, c.MinSpans)
	}
	return &spanCountPolicy{lo: int64(c.MinSpans), hi: int64(c.MaxSpans)}, nil
}

func (p *spanCountPolicy) Evaluate(_ pcommon.TraceID, t *trace) Decision {
	n := t.spanCount
	return boolDecision((p.hi == 0 && n >= p.lo) || (n >= p.lo && n <= p.hi))
}

// limiterPolicy admits traces while a token bucket of spans or bytes allows.
type limiterPolicy struct {
	limiter *rate.Limiter
	bytes   bool
	now     func() time.Time
}

func newRateLimitingPolicy(env *compileEnv, c tsp.RateLimitingCfg) (policy, error) {
	if c.SpansPerSecond <= 0 {
		return nil, fmt.Errorf("rate_limiting: spans_per_second must be positive: %d", c.SpansPerSecond)
	}
	burst := c.BurstCapacity
	if burst <= 0 {
		burst = 2 * c.SpansPerSecond
	}
	return &limiterPolicy{limiter: rate.NewLimiter(rate.Limit(float64(c.SpansPerSecond)/float64(env.shards)), int(burst)), now: time.Now}, nil
}

func newBytesLimitingPolicy(env *compileEnv, c tsp.BytesLimitingCfg) (policy, error) {
	if c.BytesPerSecond <= 0 {
		return nil, fmt.Errorf("bytes_limiting: bytes_per_second must be positive: %d", c.BytesPerSecond)
	}
	burst := c.BurstCapacity
	if burst <= 0 {
		burst = 2 * c.BytesPerSecond
	}
	return &limiterPolicy{limiter: rate.NewLimiter(rate.Limit(float64(c.BytesPerSecond)/float64(env.shards)), int(burst)), bytes: true, now: time.Now}, nil
}

func (p *limiterPolicy) Evaluate(_ pcommon.TraceID, t *trace) Decision {
	n := int(t.spanCount)
	if p.bytes {
		// The protobuf size of the trace's batches, as the stock policy measures.
		n = int(t.stockSize)
	}
	return boolDecision(p.limiter.AllowN(p.now(), n))
}

type andPolicy struct{ subs []policy }

func (p *andPolicy) Evaluate(id pcommon.TraceID, t *trace) Decision {
	th := sampling.AlwaysSampleThreshold
	for _, s := range p.subs {
		d := s.Evaluate(id, t)
		switch d.Kind {
		case decisionError:
			return errored
		case decisionNotSampled:
			return notSampled
		}
		if sampling.ThresholdGreater(d.Threshold, th) {
			th = d.Threshold
		}
	}
	return Decision{Kind: decisionSampled, Threshold: th}
}

type notPolicy struct{ sub policy }

func (p *notPolicy) Evaluate(id pcommon.TraceID, t *trace) Decision {
	d := p.sub.Evaluate(id, t)
	switch d.Kind {
	case decisionSampled:
		return notSampled
	case decisionNotSampled:
		return sampled
	default:
		return d
	}
}

type dropPolicy struct{ subs []policy }

func (p *dropPolicy) Evaluate(id pcommon.TraceID, t *trace) Decision {
	for _, s := range p.subs {
		switch s.Evaluate(id, t).Kind {
		case decisionError:
			return errored
		case decisionNotSampled:
			return notSampled
		}
	}
	return dropped
}

// compositePolicy gives each sub-policy a share of a spans-per-second budget; the
// first sub-policy that samples decides, within its share.
type compositePolicy struct {
	subs          []*compositeSub
	maxTotalSPS   int64
	currentSecond int64
	clock         func() int64
}

type compositeSub struct {
	name         string
	policy       policy
	allocatedSPS int64
	sampledSPS   int64
}

func wallSecond() int64 { return time.Now().Unix() }

func (p *compositePolicy) Evaluate(id pcommon.TraceID, t *trace) Decision {
	if s := p.clock(); s != p.currentSecond {
		p.currentSecond = s
		for _, sub := range p.subs {
			sub.sampledSPS = 0
		}
	}
	for i, sub := range p.subs {
		d := sub.policy.Evaluate(id, t)
		switch d.Kind {
		case decisionError:
			return errored
		case decisionSampled:
			n := sub.sampledSPS + t.spanCount
			if n <= sub.allocatedSPS && n <= p.maxTotalSPS {
				sub.sampledSPS = n
				d := sampled
				d.sub = int16(i + 1)
				return d
			}
			return notSampled
		}
	}
	return notSampled
}

// elapsedMillis is end.AsTime().Sub(start.AsTime()).Milliseconds(), what the
// stock latency policy computes, without building the two time.Time values:
// the difference of the int64 nanoseconds, saturated as time.Time.Sub
// saturates.
func elapsedMillis(start, end pcommon.Timestamp) int64 {
	s, e := int64(start), int64(end)
	d := e - s
	switch {
	case e > s && d < 0:
		d = math.MaxInt64
	case e < s && d > 0:
		d = math.MinInt64
	}
	return d / int64(time.Millisecond)
}
