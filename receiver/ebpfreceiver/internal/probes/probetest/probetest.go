// Package probetest holds test helpers for the probes' event→span
// functions: golden-file comparison of spans and attribute checks.
package probetest

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var update = flag.Bool("update", false, "rewrite the golden files of the probes' span tests")

// CompareGolden compares td with the golden file at path (OTLP JSON), or
// rewrites the file when the test runs with -update.
func CompareGolden(t *testing.T, path string, td ptrace.Traces) {
	t.Helper()
	if *update {
		b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	want, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		t.Fatalf("golden file %s: %v", path, err)
	}
	if err := ptracetest.CompareTraces(want, td); err != nil {
		t.Errorf("spans differ from %s: %v", path, err)
	}
}

// NewScope returns traces with one resource (a fixed process) and the scope
// a probe's golden test appends its spans to.
func NewScope() (ptrace.Traces, ptrace.ScopeSpans) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	attrs := rs.Resource().Attributes()
	attrs.PutStr("service.name", "shop")
	attrs.PutInt("process.pid", 4242)
	attrs.PutStr("process.executable.path", "/srv/shop")
	return td, rs.ScopeSpans().AppendEmpty()
}

// AssertAttrs checks that got holds exactly the attributes of want.
func AssertAttrs(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attr %s = %v (%T), want %v (%T)", k, got[k], got[k], v, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected attr %s = %v", k, got[k])
		}
	}
}
