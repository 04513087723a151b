package config

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWithDefaultConfig(t *testing.T) {
	t.Parallel()
	def := []string{"--config", DefaultURI}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"bare run gets the default", []string{"otelcol-goebpf"}, append([]string{"otelcol-goebpf"}, def...)},
		{"flags without config get the default", []string{"otelcol-goebpf", "--feature-gates=x"}, append([]string{"otelcol-goebpf", "--feature-gates=x"}, def...)},
		{"validate without config checks the default", []string{"otelcol-goebpf", "validate"}, append([]string{"otelcol-goebpf", "validate"}, def...)},
		{"explicit config wins", []string{"otelcol-goebpf", "--config", "my.yaml"}, []string{"otelcol-goebpf", "--config", "my.yaml"}},
		{"explicit config= wins", []string{"otelcol-goebpf", "--config=my.yaml"}, []string{"otelcol-goebpf", "--config=my.yaml"}},
		{"components needs no config", []string{"otelcol-goebpf", "components"}, []string{"otelcol-goebpf", "components"}},
		{"help needs no config", []string{"otelcol-goebpf", "--help"}, []string{"otelcol-goebpf", "--help"}},
		{"version needs no config", []string{"otelcol-goebpf", "--version"}, []string{"otelcol-goebpf", "--version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := append([]string(nil), tt.args...)
			require.Equal(t, tt.want, WithDefaultConfig(tt.args))
			require.Equal(t, in, tt.args, "the caller's slice must not be modified")
		})
	}
}

func TestProviderServesBuiltins(t *testing.T) {
	t.Parallel()
	p := NewFactory().Create(confmapSettings())
	require.Equal(t, Scheme, p.Scheme())
	for _, name := range Names() {
		r, err := p.Retrieve(context.Background(), Scheme+":"+name, nil)
		require.NoError(t, err, name)
		conf, err := r.AsConf()
		require.NoError(t, err, name)
		require.True(t, conf.IsSet("service::pipelines"), "%s has pipelines", name)
	}
	_, err := p.Retrieve(context.Background(), Scheme+":nope", nil)
	require.ErrorContains(t, err, `no built-in configuration "nope"`)
	_, err = p.Retrieve(context.Background(), "file:x.yaml", nil)
	require.ErrorContains(t, err, "not supported")
}
