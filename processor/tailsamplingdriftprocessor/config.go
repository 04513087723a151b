package tailsamplingdriftprocessor

import (
	"errors"
	"fmt"
	"time"

	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
)

// Config is the stock tail_sampling configuration, embedded unchanged so that a
// `tail_sampling` block renamed to `tail_sampling_drift` parses to the same
// policies, plus the options of this processor's engine and drift detector.
type Config struct {
	// Config is the stock tail_sampling configuration (decision_wait, num_traces,
	// expected_new_traces_per_sec, decision_cache, policies, num_shards, ...).
	// Options this engine cannot honour are rejected by Validate.
	tsp.Config `mapstructure:",squash"`

	// DecisionGrace, when positive, decides a trace this long after its root
	// span (a span without parent) arrives, instead of decision_wait after its
	// first span. It is off (0) by default because it trades completeness for
	// memory and latency: the root's arrival marks the end of the request only
	// for spans of the same process; children exported by other services (an
	// SDK batches for up to 5 s by default) that arrive after the grace miss the
	// decision. Opt in only when every span of a trace reaches the collector
	// within the grace of its root. decision_wait stays the upper bound for
	// traces whose root never arrives. The stock option
	// decision_wait_after_root_received, when set, takes precedence.
	DecisionGrace time.Duration `mapstructure:"decision_grace"`

	// MemoryLimitBytes bounds the encoded span bytes held for undecided traces,
	// across all shards. When it is exceeded the oldest traces are decided early on
	// what has arrived (counted in internal telemetry). 0 means no byte limit;
	// num_traces still applies.
	MemoryLimitBytes uint64 `mapstructure:"memory_limit_bytes"`

	// ConsistentProbability, when true, makes probabilistic policies follow
	// OpenTelemetry consistent probability sampling: a trace is kept when its
	// randomness (the tracestate `ot=rv` value, else the trace ID's low 56 bits)
	// is at least the policy threshold, and kept spans carry the threshold as
	// `ot=th:...` (never lowering one set upstream), so that samplers before and
	// after this one agree. It is off by default: probabilistic policies then use
	// the stock processor's salted FNV hash of the trace ID (hash_salt honoured),
	// making the same decisions as the stock processor with its default feature
	// gates, and write no threshold. A probabilistic policy with a hash_salt is a
	// config error while this is on (the salt would have no effect).
	ConsistentProbability bool `mapstructure:"consistent_probability"`

	// TickInterval is how often each shard looks for traces whose grace or
	// decision_wait has expired. It bounds how late a decision may be.
	TickInterval time.Duration `mapstructure:"tick_interval"`

	// Drift configures the canary-versus-baseline drift detector.
	Drift DriftConfig `mapstructure:"drift"`
}

// DriftConfig configures canary drift detection. Drift detection is off while
// CohortAttribute is empty.
type DriftConfig struct {
	// CohortAttribute is the resource or span attribute whose value names a
	// span's cohort (e.g. service.version). Empty disables drift detection.
	CohortAttribute string `mapstructure:"cohort_attribute"`
	// Baseline names the baseline cohort; empty takes the cohort with the most
	// traffic for each key.
	Baseline string `mapstructure:"baseline"`
	// Signals lists what is compared: latency, errors.
	Signals []string `mapstructure:"signals"`
	// Significance bounds each test's (canary × key × signal) probability of a
	// false alarm in its first 24 h (k × significance in k days) under continuous
	// checking, in (0, 1); the expected time to a false alarm is at least
	// 24 h / significance.
	Significance float64 `mapstructure:"significance"`
	// MinSamples is how many spans each cohort of a key needs before it is tested.
	MinSamples int `mapstructure:"min_samples"`
	// MaxKeys bounds the keys (service, operation) tracked; spans of further
	// keys are compared together under one overflow key. 0 takes the default (1000).
	MaxKeys int `mapstructure:"max_keys"`
	// MaxCohortsPerKey bounds the cohorts tracked per key; spans of further
	// cohorts are not compared. 0 takes the default (4).
	MaxCohortsPerKey int `mapstructure:"max_cohorts_per_key"`
	// KeepDriftingTraces keeps every trace holding a span of a drifting key and
	// cohort, whatever the policies decide.
	KeepDriftingTraces bool `mapstructure:"keep_drifting_traces"`
	// EmitInterval is how often drift verdicts are emitted as metrics (and
	// alert records whose hint moved). Verdicts are evaluated more often, every
	// EvaluateInterval, and a change of state (firing, resolved) is sent as an
	// alert record at the evaluation that finds it, not at the next emission.
	EmitInterval time.Duration `mapstructure:"emit_interval"`
	// EvaluateInterval is how often the detector looks at the spans since its
	// last look. A drift is found only at an evaluation, so this bounds the
	// detection delay: in simulation a 0.1%→1% error shift on a 5% canary at
	// 1,000 spans/s took over 60 s in 0.7–1.0% of runs evaluated every 5 s and
	// 0.4–0.5% every 1 s (see the README). 0 (the default) takes 1s, or
	// emit_interval when that is shorter; it may not exceed emit_interval.
	EvaluateInterval time.Duration `mapstructure:"evaluate_interval"`
	// Hints configures root-cause hints and exemplar trace IDs in drift alert records:
	// per drifting key, the values of a few dimensions (route, version, host, pod,
	// downstream, ...) over-represented among its failing spans (errors signal) or its
	// spans slower than the baseline's p99 (latency signal). On by default.
	Hints hints.Config `mapstructure:"hints"`
}

// defaultEmitInterval is the evaluation and emission period of drift
// verdicts. With a drift starting at a random time after hours of healthy
// traffic, the detector's benchmark found a +30% latency shift (σ = 1) in at
// most 32 s at 5 s, and a 0.1%→1% error shift on a 5% canary in 27 s
// (median), over 60 s in 0.7–1.0% of runs (0.5% at 1 s). An evaluation costs
// 4–8 µs of CPU per key and cohort (9–16 ms for 1,000 keys × 2 cohorts), under
// 0.4% of one core every 5 s.
const defaultEmitInterval = 5 * time.Second

// defaultEvaluateInterval is how often verdicts are evaluated when
// evaluate_interval is 0 (bounded by emit_interval): a 1 s evaluation halves
// the share of error shifts found after more than 60 s against 5 s.
const defaultEvaluateInterval = time.Second

// evaluateInterval is the evaluation period d configures.
func (d *DriftConfig) evaluateInterval() time.Duration {
	if d.EvaluateInterval > 0 {
		return d.EvaluateInterval
	}
	return min(defaultEvaluateInterval, d.EmitInterval)
}

const (
	signalLatency = "latency"
	signalErrors  = "errors"
	// maxShards bounds num_shards as the stock processor does.
	maxShards = 256
)

// Validate checks the configuration. Stock options this engine cannot honour are
// errors naming the option, never silently ignored.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.DecisionWait <= 0 {
		errs = append(errs, fmt.Errorf("decision_wait must be positive: %v", cfg.DecisionWait))
	}
	if cfg.NumTraces == 0 {
		errs = append(errs, errors.New("num_traces must be positive: 0"))
	}
	if cfg.DecisionGrace < 0 {
		errs = append(errs, fmt.Errorf("decision_grace is negative: %v", cfg.DecisionGrace))
	}
	if cfg.DecisionWaitAfterRootReceived < 0 {
		errs = append(errs, fmt.Errorf("decision_wait_after_root_received is negative: %v", cfg.DecisionWaitAfterRootReceived))
	}
	if cfg.TickInterval <= 0 {
		errs = append(errs, fmt.Errorf("tick_interval must be positive: %v", cfg.TickInterval))
	}
	if cfg.NumShards > maxShards {
		errs = append(errs, fmt.Errorf("num_shards must not exceed %d: %d", maxShards, cfg.NumShards))
	}
	if cfg.TailStorageID != nil {
		errs = append(errs, fmt.Errorf("tail_storage is not supported by tail_sampling_drift (spans are held in its own compact in-memory store): %v", *cfg.TailStorageID))
	}
	if cfg.BlockOnOverflow {
		errs = append(errs, errors.New("block_on_overflow: true is not supported by tail_sampling_drift: when num_traces or memory_limit_bytes is reached it decides the oldest traces early instead of blocking the pipeline"))
	}
	switch cfg.SamplingStrategy {
	case "", "trace-complete":
	default:
		errs = append(errs, fmt.Errorf("sampling_strategy %q is not supported by tail_sampling_drift (only \"trace-complete\")", cfg.SamplingStrategy))
	}
	for i := range cfg.PolicyCfgs {
		if err := validatePolicy(&cfg.PolicyCfgs[i], cfg.ConsistentProbability); err != nil {
			errs = append(errs, fmt.Errorf("policies[%d]: %w", i, err))
		}
	}
	if err := checkPolicyNames(cfg.PolicyCfgs); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Drift.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("drift: %w", err))
	}
	return errors.Join(errs...)
}

// Validate checks the drift section.
func (d *DriftConfig) Validate() error {
	if d.CohortAttribute == "" {
		if d.KeepDriftingTraces {
			return errors.New("keep_drifting_traces needs cohort_attribute")
		}
		return nil
	}
	var errs []error
	if len(d.Signals) == 0 {
		errs = append(errs, errors.New("signals must list at least one of latency, errors"))
	}
	seen := map[string]bool{}
	for _, s := range d.Signals {
		if s != signalLatency && s != signalErrors {
			errs = append(errs, fmt.Errorf("signals: unknown signal %q (want latency or errors)", s))
		}
		if seen[s] {
			errs = append(errs, fmt.Errorf("signals: %q listed twice", s))
		}
		seen[s] = true
	}
	if !(d.Significance > 0 && d.Significance < 1) {
		errs = append(errs, fmt.Errorf("significance must be in (0, 1): %v", d.Significance))
	}
	if d.MinSamples < 0 {
		errs = append(errs, fmt.Errorf("min_samples is negative: %d", d.MinSamples))
	}
	if d.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("max_keys is negative: %d", d.MaxKeys))
	}
	if d.MaxCohortsPerKey < 0 || d.MaxCohortsPerKey == 1 {
		// One cohort per key could never compare a canary with its baseline.
		errs = append(errs, fmt.Errorf("max_cohorts_per_key must be 0 (the default, 4) or at least 2: %d", d.MaxCohortsPerKey))
	}
	if d.EmitInterval <= 0 {
		errs = append(errs, fmt.Errorf("emit_interval must be positive: %v", d.EmitInterval))
	}
	if d.EvaluateInterval < 0 {
		errs = append(errs, fmt.Errorf("evaluate_interval is negative: %v", d.EvaluateInterval))
	} else if d.EmitInterval > 0 && d.EvaluateInterval > d.EmitInterval {
		// Emitting more often than evaluating would repeat the same verdicts.
		errs = append(errs, fmt.Errorf("evaluate_interval (%v) exceeds emit_interval (%v): verdicts are evaluated at least as often as they are emitted", d.EvaluateInterval, d.EmitInterval))
	}
	if err := d.Hints.Validate("hints"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stockTick is the period of the stock processor's decision ticker: it
// decides, once a second, the traces whose first span arrived in the second
// that ended decision_wait (in whole seconds, at least 1) ticks earlier.
const stockTick = int64(time.Second)

// stockTicks is how many stock ticks d lasts, as the stock processor counts
// them (whole seconds, rounded down).
func stockTicks(d time.Duration) int64 { return int64(d / time.Second) }
