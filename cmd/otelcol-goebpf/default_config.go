//go:build otelcolgoebpf_main

// This file is copied next to the main.go that ocb generates (see `make build`): it makes
// a bare `otelcol-goebpf` run the built-in default configuration.
package main

import (
	"os"

	"github.com/otelcol-goebpf/otelcol-goebpf/config"
)

func init() { os.Args = config.WithDefaultConfig(os.Args) }
