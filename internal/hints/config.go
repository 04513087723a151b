// Package hints finds where the bad events of an alert concentrate. For each subject (an
// SLO, a drifting key) it counts bad and all events per value of a few span dimensions
// (route, version, pod, the downstream a failing span's child called, ...) over a short
// sliding window, with memory bounded whatever the traffic, and at alert time ranks the
// values that are over-represented among bad events. It also keeps the trace IDs of a few
// recent bad spans per subject as exemplars.
//
// The per-span work is a handful of attribute lookups and array increments; ranking, the
// significance test and all formatting happen only when a report is asked for.
package hints // import "github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// MaxDimensions bounds hints.dimensions, so a span's values fit in a fixed array.
	MaxDimensions = 16
	// maxMaxValues bounds hints.max_values (memory per subject grows with it).
	maxMaxValues = 1024
	// DownstreamDimension is the hints.dimensions entry that stands for the downstream a
	// span's child client span called.
	DownstreamDimension = "downstream"
)

// downstreamKeys are read from the child client span, first present wins.
var downstreamKeys = []string{"server.address", "db.system.name", "messaging.destination.name"}

// Config is the `hints` section of a processor that alerts.
type Config struct {
	// Enabled turns root-cause hints and exemplar trace IDs on. Default true.
	Enabled bool `mapstructure:"enabled"`

	// Dimensions are the span or resource attributes whose values are counted. An entry
	// may name alternatives separated by `|` (the first one present is used). Keys of the
	// resource namespaces (service.*, host.*, k8s.*, container.*, cloud.*, deployment.*,
	// process.*, os.*) are read from the span's resource only, other keys from the
	// resource if it has them, else from the span. The entry `downstream` stands for the server.address,
	// db.system.name or messaging.destination.name of the client span a span's child
	// called. At most 16 entries.
	Dimensions []string `mapstructure:"dimensions"`

	// MaxValues is how many distinct values each dimension keeps at once; further values
	// fold into `other` (counted). Values unseen for a whole window are recycled, and a
	// full dimension evicts its values lighter than 1/max_values of its events at each
	// half-window, so a newly heavy value gets an id.
	// Memory per subject is 2 × dimensions × (max_values+1) × 16 bytes. Default 64.
	MaxValues int `mapstructure:"max_values"`

	// Window is how much recent traffic a hint describes: counts are kept in two halves
	// of window/2, so a hint covers between window/2 and window. Default 5m (the short
	// window of the default fast-burn tier).
	Window time.Duration `mapstructure:"window"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// DefaultDimensions are the dimensions used when hints.dimensions is not set.
func DefaultDimensions() []string {
	return []string{
		"http.route|rpc.method",
		"http.response.status_code|rpc.grpc.status_code",
		"error.type",
		"service.version",
		"host.name",
		"k8s.pod.name",
		DownstreamDimension,
	}
}

// DefaultConfig is hints on, with the default dimensions, 64 values each and a 5m window.
func DefaultConfig() Config {
	return Config{Enabled: true, Dimensions: DefaultDimensions(), MaxValues: 64, Window: 5 * time.Minute}
}

// Validate checks the section; field is its name in the processor config ("hints").
func (c Config) Validate(field string) error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if len(c.Dimensions) == 0 {
		errs = append(errs, fmt.Errorf("%s.dimensions must not be empty while %s.enabled is true", field, field))
	}
	if len(c.Dimensions) > MaxDimensions {
		errs = append(errs, fmt.Errorf("%s.dimensions has %d entries, at most %d are allowed", field, len(c.Dimensions), MaxDimensions))
	}
	seen := map[string]int{}
	for i, d := range c.Dimensions {
		for _, k := range strings.Split(d, "|") {
			if strings.TrimSpace(k) == "" {
				errs = append(errs, fmt.Errorf("%s.dimensions[%d] %q has an empty attribute name", field, i, d))
				break
			}
		}
		if j, dup := seen[d]; dup {
			errs = append(errs, fmt.Errorf("%s.dimensions[%d] %q repeats %s.dimensions[%d]", field, i, d, field, j))
		}
		seen[d] = i
	}
	if c.MaxValues < 1 || c.MaxValues > maxMaxValues {
		errs = append(errs, fmt.Errorf("%s.max_values must be between 1 and %d, got %d", field, maxMaxValues, c.MaxValues))
	}
	if c.Window < 2*time.Second {
		errs = append(errs, fmt.Errorf("%s.window must be at least 2s, got %v", field, c.Window))
	}
	return errors.Join(errs...)
}

// Dimension is one parsed hints.dimensions entry.
type Dimension struct {
	// Keys are the alternative attribute names, first present wins.
	Keys []string
	// Downstream dimensions are read from a span's child client span.
	Downstream bool
	// Outcome dimensions (status codes, error.type) describe how an event went, not where
	// it ran; for an error SLI they are bad by definition. They are read for bad events
	// only (so a good span pays nothing for them) and reported as a breakdown of the bad
	// events, not ranked by lift.
	Outcome bool
	// Resource dimensions are read from the resource only (once per resource, not per span).
	Resource bool
}

var resourceNamespaces = []string{"service.", "host.", "k8s.", "container.", "cloud.", "deployment.", "process.", "os."}

func resourceKey(k string) bool {
	for _, ns := range resourceNamespaces {
		if strings.HasPrefix(k, ns) {
			return true
		}
	}
	return false
}

var outcomeKeys = map[string]bool{
	"http.response.status_code": true, "http.status_code": true, "rpc.grpc.status_code": true,
	"rpc.response.status_code": true, "error.type": true, "exception.type": true,
}

func parseDimensions(specs []string) []Dimension {
	out := make([]Dimension, 0, len(specs))
	for _, s := range specs {
		if s == DownstreamDimension {
			out = append(out, Dimension{Keys: downstreamKeys, Downstream: true})
			continue
		}
		d := Dimension{Resource: true}
		for _, k := range strings.Split(s, "|") {
			k = strings.TrimSpace(k)
			d.Keys = append(d.Keys, k)
			d.Outcome = d.Outcome || outcomeKeys[k]
			d.Resource = d.Resource && resourceKey(k)
		}
		out = append(out, d)
	}
	return out
}
