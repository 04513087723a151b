//go:generate mdatagen metadata.yaml

// Package fuseexporter delivers the alert log records of slo_burn and
// tail_sampling_drift (docs/alerts.md) to Prometheus Alertmanager and to signed
// webhooks, so a burning SLO or a drifting canary can page someone or blow the
// fuse of a rollout.
package fuseexporter // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"
