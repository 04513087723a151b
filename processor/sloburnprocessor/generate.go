//go:generate mdatagen metadata.yaml

// Package sloburnprocessor computes SLO error-budget burn from every span in-stream and
// emits burn-rate metrics and alert log records from the same component ID.
package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"
