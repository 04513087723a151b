package drift

import (
	"errors"
	"fmt"
	"time"
)

// Defaults applied by NewDetector to zero-valued Config fields.
const (
	DefaultSignificance     = 0.01
	DefaultMinSamples       = 100
	DefaultMaxKeys          = 1000
	DefaultMaxCohortsPerKey = 4
	DefaultHorizon          = 24 * time.Hour
	DefaultIdleTimeout      = 15 * time.Minute
)

// Config configures a Detector. Zero values take the defaults above.
type Config struct {
	// Significance bounds the false alarms of each test (one canary cohort of
	// one key on one signal), however often it is evaluated: the probability
	// of a false alarm within the first Horizon of the test is at most
	// Significance, within the first k Horizons at most k·Significance, and
	// the expected time to a false alarm is at least Horizon/Significance.
	// A test that ends a drift starts afresh with the same bound. Default 0.01.
	Significance float64
	// Signals lists what is compared. Default: latency and errors.
	Signals []Signal
	// Baseline names the baseline cohort. Empty: per key, the cohort that has
	// seen the most spans.
	Baseline string
	// MinSamples is the number of spans both the canary and the baseline need
	// before the canary may be declared drifting. Default 100.
	MinSamples int

	// MaxKeys bounds the number of keys tracked; spans of further keys are
	// folded into OverflowKey (and counted in Stats.FoldedObservations).
	// Default 1000.
	MaxKeys int
	// MaxCohortsPerKey bounds the cohorts tracked per key; spans of further
	// cohorts are dropped (and counted in Stats.DroppedObservations). Default 4.
	MaxCohortsPerKey int
	// Horizon is the period over which Significance bounds the false-alarm
	// probability. A longer horizon makes detection slower by log(ratio)
	// nats of evidence (about 3 s per doubling for the benchmark's latency
	// shift), whenever the drift starts. Default 24h.
	Horizon time.Duration
	// IdleTimeout removes a key's cohort after this long without spans, which
	// frees its slot and ends its drift. Default 15m.
	IdleTimeout time.Duration
}

// Validate reports the first invalid field. Zero values are valid (defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Significance < 0 || c.Significance >= 1 {
		errs = append(errs, fmt.Errorf("significance must be in (0, 1): %v", c.Significance))
	}
	for _, s := range c.Signals {
		if s != SignalLatency && s != SignalErrors {
			errs = append(errs, fmt.Errorf("signals: unknown signal %v", s))
		}
	}
	if c.MinSamples < 0 {
		errs = append(errs, fmt.Errorf("min_samples is negative: %d", c.MinSamples))
	}
	if c.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("max_keys is negative: %d", c.MaxKeys))
	}
	if c.MaxCohortsPerKey < 0 || c.MaxCohortsPerKey == 1 {
		errs = append(errs, fmt.Errorf("max_cohorts_per_key must be 0 (default) or at least 2: %d", c.MaxCohortsPerKey))
	}
	if c.Horizon < 0 {
		errs = append(errs, fmt.Errorf("horizon is negative: %v", c.Horizon))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle_timeout is negative: %v", c.IdleTimeout))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero and out-of-range fields so that NewDetector never
// fails: the processor validates the user's config before getting here.
func (c Config) withDefaults() Config {
	if c.Significance <= 0 || c.Significance >= 1 {
		c.Significance = DefaultSignificance
	}
	var sig []Signal
	seen := map[Signal]bool{}
	for _, s := range c.Signals {
		if (s == SignalLatency || s == SignalErrors) && !seen[s] {
			seen[s] = true
			sig = append(sig, s)
		}
	}
	if len(sig) == 0 {
		sig = []Signal{SignalLatency, SignalErrors}
	}
	c.Signals = sig
	if c.MinSamples <= 0 {
		c.MinSamples = DefaultMinSamples
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.MaxCohortsPerKey < 2 {
		c.MaxCohortsPerKey = DefaultMaxCohortsPerKey
	}
	if c.Horizon <= 0 {
		c.Horizon = DefaultHorizon
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}
