// Package config holds the distribution's ready-made collector configurations and the
// confmap provider that serves the built-in ones, so that `otelcol-goebpf` with no
// --config flag runs a useful default instead of refusing to start.
package config

import (
	"context"
	"embed"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// Scheme is the URI scheme of the built-in configurations: `embedded:default`.
const Scheme = "embedded"

// DefaultURI names the configuration the binary runs when no --config flag is given.
const DefaultURI = Scheme + ":default"

//go:embed default.yaml demo.yaml
var builtins embed.FS

// Names lists the built-in configurations, sorted.
func Names() []string {
	entries, _ := builtins.ReadDir(".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// NewFactory returns the factory of the `embedded:` confmap provider.
func NewFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return provider{} })
}

type provider struct{}

func (provider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	name, ok := strings.CutPrefix(uri, Scheme+":")
	if !ok {
		return nil, fmt.Errorf("%q uri is not supported by the %q provider", uri, Scheme)
	}
	raw, err := builtins.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in configuration %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	return confmap.NewRetrievedFromYAML(raw)
}

func (provider) Scheme() string                 { return Scheme }
func (provider) Shutdown(context.Context) error { return nil }

// subcommandsWithoutConfig are the collector subcommands that never read a configuration.
var subcommandsWithoutConfig = map[string]bool{
	"components": true, "featuregate": true, "help": true, "completion": true,
}

// WithDefaultConfig returns the command line to run: args itself when it names a
// configuration (or asks for a subcommand that needs none, or for help/version), else
// args with `--config embedded:default` added, so that running the binary bare (or
// `validate` bare) uses the built-in default.
func WithDefaultConfig(args []string) []string {
	if len(args) == 0 {
		return args
	}
	for _, a := range args[1:] {
		switch {
		case a == "--config" || a == "-config" || strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			return args
		case a == "-h" || a == "--help" || a == "-v" || a == "--version":
			return args
		case subcommandsWithoutConfig[a]:
			return args
		}
	}
	out := make([]string, 0, len(args)+2)
	out = append(out, args...)
	return append(out, "--config", DefaultURI)
}
