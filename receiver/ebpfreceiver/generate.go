// Package ebpfreceiver produces spans for the HTTP requests that unmodified
// Go programs serve and make, observed with uprobes (see README.md).
package ebpfreceiver

//go:generate mdatagen metadata.yaml
