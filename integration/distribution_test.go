package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// shipped lists every component the distribution promises (README "Components").
var shipped = map[string][]string{
	"receivers":  {"ebpf", "otlp", "prometheus"},
	"processors": {"slo_burn", "tail_sampling_drift", "batch", "memory_limiter", "attributes", "resource", "filter", "transform", "tail_sampling"},
	"exporters":  {"fuse", "otlp", "otlphttp", "debug", "file", "prometheus", "prometheusremotewrite", "loadbalancing"},
	"extensions": {"health_check", "pprof", "zpages", "file_storage"},
	"connectors": {"forward", "spanmetrics"},
}

func TestComponentsListsEveryShippedComponent(t *testing.T) {
	out, err := runBinary(t, "components")
	if err != nil {
		t.Fatalf("components: %v\n%s", err, out)
	}
	var listed map[string][]struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("components output is not YAML: %v\n%s", err, out)
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
			// Configs name files and secrets through the environment.
			t.Setenv("DEMO_DIR", t.TempDir())
			t.Setenv("DEMO_HEALTH_PORT", "13133")
			t.Setenv("FUSE_SECRET", "s3cret")
			t.Setenv("FUSE_WEBHOOK_ENDPOINT", "https://rollouts.example/abort")
			t.Setenv("ALERTMANAGER_ENDPOINT", "http://127.0.0.1:9093")
			t.Setenv("OTLP_ENDPOINT", "127.0.0.1:4317")
			t.Setenv("K8S_NODE_NAME", "node-1")
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
	requireRoot(t)
	out, err := runBinary(t, "validate")
	if err != nil {
		t.Fatalf("bare validate should check the built-in default: %v\n%s", err, out)
	}

	bin := collectorBinary(t)
	c := &Collector{Dir: t.TempDir(), Logs: &syncBuffer{}, done: make(chan error, 1)}
	c.Cmd = exec.Command(bin)
	c.Cmd.Stdout, c.Cmd.Stderr = c.Logs, c.Logs
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.Cmd.Wait() }()
	t.Cleanup(func() {
		c.Stop(t)
		if t.Failed() {
			t.Logf("collector logs:\n%s", c.Logs.String())
		}
	})
	c.WaitForLog(t, "Everything is ready", 60*time.Second)
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
