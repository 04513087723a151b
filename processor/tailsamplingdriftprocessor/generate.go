//go:generate mdatagen metadata.yaml

package tailsamplingdriftprocessor
