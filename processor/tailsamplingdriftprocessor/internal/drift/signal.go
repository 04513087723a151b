package drift

import "fmt"

// Key identifies the operation whose cohorts are compared.
type Key struct {
	// Service is the service.name of the span's resource.
	Service string
	// Operation is the span's http.route attribute when present, else the span name.
	Operation string
	// Kind is the span kind ("server", "client", ...): a server span and a
	// client span named alike (a proxy's "GET /items" in and out) are
	// different operations with different latencies.
	Kind string
}

// OverflowKey receives the observations of keys that arrive once the detector
// already tracks Config.MaxKeys keys. Cohorts stay apart inside it, so it still
// compares canary against baseline, only over the folded operations together.
var OverflowKey = Key{Service: "_overflow", Operation: "_overflow"}

// Signal is a quantity on which a canary is compared with its baseline.
type Signal int

const (
	// SignalLatency compares span durations: the canary drifts when more of its
	// spans are slower than the baseline's quantiles than its traffic share predicts.
	SignalLatency Signal = iota
	// SignalErrors compares error ratios: the canary drifts when it has more
	// errors than its traffic share predicts.
	SignalErrors
)

// String returns the configuration name of the signal.
func (s Signal) String() string {
	switch s {
	case SignalLatency:
		return "latency"
	case SignalErrors:
		return "errors"
	default:
		return fmt.Sprintf("Signal(%d)", int(s))
	}
}

// ParseSignal turns a configuration name ("latency" or "errors") into a Signal.
func ParseSignal(name string) (Signal, error) {
	switch name {
	case "latency":
		return SignalLatency, nil
	case "errors":
		return SignalErrors, nil
	default:
		return 0, fmt.Errorf("unknown drift signal %q (want latency or errors)", name)
	}
}
