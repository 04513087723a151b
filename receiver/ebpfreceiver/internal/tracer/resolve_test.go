package tracer

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// TestResolveProbeSet resolves probes the registry does not list in a
// stripped binary (offsets from the table only): the loader handles any
// probe description the same way, a future one included.
func TestResolveProbeSet(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "httpdemo")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", path, "../../../../integration/testdata/httpdemo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build httpdemo: %v\n%s", err, out)
	}
	exe, err := goexe.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	serve := &probes.Probe{
		Name: "serve",
		Uprobes: []probes.Uprobe{
			{Symbol: httpserver.FuncServeHTTP, Entry: "e", Return: "r"},
			// An optional group with a function the binary lacks is left out whole.
			{Symbol: httpserver.FuncGopanic, Entry: "p", Optional: "g"},
			{Symbol: "example.com/none.Func", Entry: "x", Optional: "g"},
		},
		// net/url.URL.User is not in the offsets table: without DWARF the
		// group stays Unknown, Path included.
		OptionalFields: [][]fields.ID{{fields.URLPath, fields.URLUser}},
	}
	ghost := &probes.Probe{Name: "ghost", Uprobes: []probes.Uprobe{{Symbol: "example.com/none.Func", Entry: "x"}}}
	user := &probes.Probe{Name: "user", Uprobes: []probes.Uprobe{{Symbol: httpserver.FuncServeHTTP, Entry: "e"}}, Fields: []fields.ID{fields.URLUser}}
	carrier := &probes.Probe{Name: "carrier", Uprobes: []probes.Uprobe{{Symbol: "runtime.newproc1", Return: "n"}}, CarriesSpans: true}

	bin, err := Resolve(exe, []*probes.Probe{serve, ghost, user, carrier})
	if err != nil {
		t.Fatal(err)
	}
	if s := bin.Sites["serve"]; len(s) != 1 || s[0].Func.Name != httpserver.FuncServeHTTP || len(s[0].Func.ReturnOffsets) == 0 {
		t.Errorf("serve sites = %+v, want ServeHTTP alone with its RETs", s)
	}
	if bin.Offsets.Fields.Known(fields.URLPath) || bin.Offsets.Fields.Known(fields.URLUser) {
		t.Errorf("a field group without User got filled: path %d user %d", bin.Offsets.Fields[fields.URLPath], bin.Offsets.Fields[fields.URLUser])
	}
	if err := bin.Unusable["ghost"]; !errors.Is(err, ErrFunctionMissing) {
		t.Errorf("ghost: %v, want ErrFunctionMissing", err)
	}
	if err := bin.Unusable["user"]; !errors.Is(err, ErrOffsetsMissing) {
		t.Errorf("user: %v, want ErrOffsetsMissing", err)
	}
	if s := bin.Sites["carrier"]; len(s) != 1 || s[0].Func.EntryOffset == 0 || len(s[0].Func.ReturnOffsets) == 0 {
		t.Errorf("carrier sites = %+v", s)
	}

	// Nothing that makes spans: the error says why.
	if _, err := Resolve(exe, []*probes.Probe{user, carrier}); !errors.Is(err, ErrOffsetsMissing) {
		t.Errorf("only a probe without offsets: %v, want ErrOffsetsMissing", err)
	}
	if _, err := Resolve(exe, []*probes.Probe{user, ghost}); !errors.Is(err, ErrFunctionMissing) || errors.Is(err, ErrOffsetsMissing) {
		t.Errorf("one probe without offsets, one without functions: %v, want ErrFunctionMissing", err)
	}
}

// TestResolveRuleFields: fields DWARF does not give are taken from the
// probe's rule (Complete); a probe whose rule does not cover the binary is
// left out with ErrOffsetsMissing naming the fields, never attached.
func TestResolveRuleFields(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "httpdemo")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", path, "../../../../integration/testdata/httpdemo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build httpdemo: %v\n%s", err, out)
	}
	exe, err := goexe.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	// Stripped: no DWARF, and sarama's fields are in no offsets table.
	ruled := &probes.Probe{
		Name:       "ruled",
		Uprobes:    []probes.Uprobe{{Symbol: httpserver.FuncServeHTTP, Entry: "e"}},
		RuleFields: []fields.ID{fields.SaramaConsumerMessageOffset},
		Complete: func(_ *goexe.Executable, off *probes.Offsets) {
			off.Fields[fields.SaramaConsumerMessageOffset] = 144
		},
	}
	unruled := &probes.Probe{
		Name:       "unruled",
		Uprobes:    []probes.Uprobe{{Symbol: httpserver.FuncServeHTTP, Entry: "e"}},
		RuleFields: []fields.ID{fields.SaramaProducerMessageOffset},
		Complete:   func(*goexe.Executable, *probes.Offsets) {},
	}
	bin, err := Resolve(exe, []*probes.Probe{ruled, unruled})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bin.Sites["ruled"]; !ok || bin.Offsets.Fields[fields.SaramaConsumerMessageOffset] != 144 {
		t.Errorf("ruled: sites %v, offset %d; want attached with 144", bin.Sites["ruled"], bin.Offsets.Fields[fields.SaramaConsumerMessageOffset])
	}
	if _, ok := bin.Sites["unruled"]; ok {
		t.Error("unruled: attached without its fields")
	}
	if err := bin.Unusable["unruled"]; !errors.Is(err, ErrOffsetsMissing) || !strings.Contains(err.Error(), fields.SaramaProducerMessageOffset.String()) {
		t.Errorf("unruled: %v, want ErrOffsetsMissing naming %s", err, fields.SaramaProducerMessageOffset)
	}
}
