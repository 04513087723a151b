package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

func writeJSON(t *testing.T, path string, names ...string) {
	t.Helper()
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i, n := range names {
		s := spans.AppendEmpty()
		s.SetTraceID([16]byte{1, byte(i)})
		s.SetSpanID([8]byte{2, byte(i)})
		s.SetName(n)
	}
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	a, same, other := filepath.Join(dir, "a"), filepath.Join(dir, "same"), filepath.Join(dir, "other")
	writeJSON(t, a, "x", "y")
	writeJSON(t, same, "x", "y")
	writeJSON(t, other, "x", "z")
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"same", []string{a, same}, 0, "no difference: traces A=2 B=2"},
		{"different", []string{a, other}, 1, `name: "y" in A, "z" in B`},
		{"ignored", []string{"-ignore", "name", a, other}, 0, "no difference"},
		{"one file", []string{a}, 2, ""},
		{"missing file", []string{a, filepath.Join(dir, "nope")}, 2, ""},
		{"bad memory", []string{"-memory", "lots", a, same}, 2, ""},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(tt.args, &stdout, &stderr); code != tt.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tt.name, code, tt.code, stdout.String(), stderr.String())
		}
		if !strings.Contains(stdout.String(), tt.out) {
			t.Errorf("%s: output lacks %q:\n%s", tt.name, tt.out, stdout.String())
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "2KiB": 2048, "3MiB": 3 << 20, "1GiB": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "1TB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
