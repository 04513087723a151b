package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// shipped lists every component the distribution promises (README "Components"), by the
// type names collector v0.159.0 lists; configs may still use the older aliases
// (otlp, otlphttp, loadbalancing, prometheusremotewrite, spanmetrics).
var shipped = map[string][]string{
	"receivers":  {"ebpf", "otlp", "prometheus"},
	"processors": {"slo_burn", "tail_sampling_drift", "batch", "memory_limiter", "attributes", "resource", "filter", "transform", "tail_sampling", "k8s_attributes", "resource_detection"},
	"exporters":  {"fuse", "otlp_grpc", "otlp_http", "debug", "file", "prometheus", "prometheus_remote_write", "load_balancing"},
	"extensions": {"health_check", "pprof", "zpages", "file_storage"},
	"connectors": {"forward", "span_metrics"},
}

func TestComponentsListsEveryShippedComponent(t *testing.T) {
	out, err := runBinary(t, "components")
	if err != nil {
		t.Fatalf("components: %v\n%s", err, out)
	}
	type entry struct {
		Name string `yaml:"name"`
	}
	var doc struct {
		Receivers  []entry `yaml:"receivers"`
		Processors []entry `yaml:"processors"`
		Exporters  []entry `yaml:"exporters"`
		Extensions []entry `yaml:"extensions"`
		Connectors []entry `yaml:"connectors"`
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("components output is not YAML: %v\n%s", err, out)
	}
	listed := map[string][]entry{
		"receivers": doc.Receivers, "processors": doc.Processors, "exporters": doc.Exporters,
		"extensions": doc.Extensions, "connectors": doc.Connectors,
	}
	for kind, names := range shipped {
		have := map[string]bool{}
		for _, c := range listed[kind] {
			have[c.Name] = true
		}
		for _, n := range names {
			if !have[n] {
				t.Errorf("%s: %q missing from `components` (have %v)", kind, n, have)
			}
		}
	}
}

func TestEveryShippedConfigValidates(t *testing.T) {
	configs, err := filepath.Glob("../config/*.yaml")
	if err != nil || len(configs) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	for _, cfg := range configs {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			// Every shipped config validates as it is: whatever it reads from the
			// environment has a default.
			out, err := runBinary(t, "validate", "--config", cfg)
			if err != nil {
				t.Fatalf("validate %s: %v\n%s", cfg, err, out)
			}
		})
	}
}

func TestBadConfigNamesTheProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
receivers:
  otlp:
    protocols:
      grpc:
        endpointz: 127.0.0.1:4317
exporters:
  debug: {}
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [debug] }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown field", []string{"validate", "--config", bad}, []string{"otlp", "endpointz"}},
		{"missing file", []string{"validate", "--config", filepath.Join(dir, "absent.yaml")}, []string{"absent.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runBinary(t, tt.args...)
			if err == nil {
				t.Fatalf("expected a failure, got success:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("error output does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}

// Without --config the binary runs its built-in default: the eBPF receiver on every Go
// process that listens, spans to debug, metrics for Prometheus on 127.0.0.1:8889.
func TestBareBinaryRunsBuiltInDefault(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	out, err := runBinary(t, "validate")
	if err != nil {
		t.Fatalf("bare validate should check the built-in default: %v\n%s", err, out)
	}

	runCollector(t, t.TempDir(), nil)
	eventually(t, 20*time.Second, "the Prometheus endpoint on 127.0.0.1:8889", func() (bool, string) {
		resp, err := http.Get("http://127.0.0.1:8889/metrics")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}
