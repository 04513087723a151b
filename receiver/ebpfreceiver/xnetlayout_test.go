package ebpfreceiver

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnet"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnetclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclienth2"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

const xnetModule = "golang.org/x/net"

// xnetUnlisted is an x/net version the offsets table does not list: a
// pseudo-version between two releases (v0.46.0 and v0.47.0).
const xnetUnlisted = "v0.46.1-0.20251013234738-63d1a5100f82"

// buildXNetAt builds integration/testdata/h2xnet (x/net's h2c server and
// its own client) in a module of its own requiring golang.org/x/net at
// version, with the host toolchain.
func buildXNetAt(t *testing.T, version string, stripped bool) string {
	t.Helper()
	return buildXNetWith(t, "go", "1.22", version, stripped)
}

// buildXNetWith is buildXNetAt with the go command goCmd, the module
// declaring goLine.
func buildXNetWith(t *testing.T, goCmd, goLine, version string, stripped bool) string {
	t.Helper()
	src := t.TempDir()
	code, err := os.ReadFile("../../integration/testdata/h2xnet/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	mod := "module h2xnet\n\ngo " + goLine + "\n\nrequire " + xnetModule + " " + version + "\n"
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "h2xnet")
	args := []string{"build", "-o", exe}
	if stripped {
		args = append(args, "-ldflags=-s -w")
	}
	for _, a := range [][]string{{"mod", "tidy"}, append(args, ".")} {
		cmd := exec.Command(goCmd, a...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
		if goCmd != "go" {
			cmd.Env = append(cmd.Env, "GOTOOLCHAIN=local")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", a, err, out)
		}
	}
	return exe
}

// The committed table's golang.org/x/net entries equal the DWARF of a
// build against the newest release the table lists and the oldest, and a
// stripped build of each resolves every x/net probe with exactly those
// offsets (what the loader gives the BPF programs). The table is generated
// with the host toolchain; the oldest release built by Debian's Go 1.19
// checks that the layouts do not depend on it.
func TestXNetTableMatchesDWARF(t *testing.T) {
	t.Parallel()
	tab, err := goexe.EmbeddedOffsets()
	if err != nil {
		t.Fatal(err)
	}
	built := tab.Modules[xnetModule]
	if len(built) < 36 || built[0] != "v0.1.0" {
		t.Fatalf("the table lists x/net releases %v, want every release from v0.1.0 (at least 3 years)", built)
	}
	var xnetIDs []fields.ID
	for id := fields.ID(0); id < fields.Count; id++ {
		if strings.HasPrefix(id.String(), xnetModule+"/") {
			xnetIDs = append(xnetIDs, id)
		}
	}
	if len(xnetIDs) != 13 {
		t.Fatalf("%d x/net field IDs, want 13", len(xnetIDs))
	}
	gi := goexeInspector{cache: goexe.NewCache()}
	cfg := TracesConfig{HTTP: HTTPConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: true}}}
	for _, version := range []string{built[len(built)-1], xnetOld} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			ref, err := goexe.Inspect(buildXNetAt(t, version, false))
			if err != nil {
				t.Fatal(err)
			}
			if !ref.HasDWARF || ref.Modules[xnetModule] != version {
				t.Fatalf("reference build: DWARF %t, x/net %q", ref.HasDWARF, ref.Modules[xnetModule])
			}
			want := map[fields.ID]uint64{}
			for _, id := range xnetIDs {
				key := id.String()
				i := strings.LastIndexByte(key, '.')
				off, err := ref.DWARFFieldOffset(key[:i], key[i+1:])
				if err != nil {
					t.Fatalf("%s in DWARF: %v", key, err)
				}
				want[id] = off
				got, err := tab.Lookup(key, ref.GoVersion, map[string]string{xnetModule: version})
				if err != nil || got != off {
					t.Errorf("%s in x/net %s: table %d, %v; DWARF %d", key, version, got, err, off)
				}
			}
			path := buildXNetAt(t, version, true)
			info, err := gi.inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Exe.HasDWARF {
				t.Fatal("stripped build has DWARF")
			}
			for _, name := range []string{h2xnet.Name, h2xnetclient.Name, httpclienth2.XNetName} {
				if _, ok := info.Probe.Sites[name]; !ok {
					t.Errorf("%s not resolved in the stripped build: %v", name, info.Probe.Unusable[name])
				}
			}
			for _, id := range xnetIDs {
				if got := info.Probe.Offsets.Fields[id]; got != want[id] {
					t.Errorf("stripped build: %s = %d, DWARF of the same version %d", id, got, want[id])
				}
			}
			if err := cfg.xnetLayoutUnknown(info); err != nil {
				t.Errorf("layout reported unknown: %v", err)
			}
		})
	}
	t.Run(xnetOld+"-go1.19", func(t *testing.T) {
		t.Parallel()
		const debianGo119 = "/usr/lib/go-1.19/bin/go"
		if _, err := os.Stat(debianGo119); err != nil {
			prereq.Missing(t, "Debian's golang-1.19-go: %v", err)
		}
		x, err := goexe.Inspect(buildXNetWith(t, debianGo119, "1.17", xnetOld, false))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(x.GoVersion, "go1.19") || x.Modules[xnetModule] != xnetOld {
			t.Fatalf("built by %s with x/net %q", x.GoVersion, x.Modules[xnetModule])
		}
		for _, id := range xnetIDs {
			key := id.String()
			i := strings.LastIndexByte(key, '.')
			want, err := x.DWARFFieldOffset(key[:i], key[i+1:])
			if err != nil {
				t.Fatalf("%s in DWARF: %v", key, err)
			}
			if got, err := tab.Lookup(key, x.GoVersion, map[string]string{xnetModule: xnetOld}); err != nil || got != want {
				t.Errorf("%s in x/net %s built by %s: table %d, %v; DWARF %d", key, xnetOld, x.GoVersion, got, err, want)
			}
		}
	})
}

// xnetOld is the old release the tests build (integration's
// TestEBPFHTTP2XNetServer too): the oldest the table lists.
const xnetOld = "v0.1.0"

// A stripped program of an x/net version the table does not list gets no
// x/net probe, and the reason names the binary and the version; with DWARF
// it gets them all; a program without x/net's server and client, or with
// the HTTP sides off, is not reported.
func TestXNetLayoutUnknown(t *testing.T) {
	t.Parallel()
	gi := goexeInspector{cache: goexe.NewCache()}
	on := TracesConfig{HTTP: HTTPConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: true}}}
	for _, tc := range []struct {
		name  string
		path  func(t *testing.T) string
		cfg   TracesConfig
		want  string // "" for no error
		sites bool   // the x/net probes resolve
	}{
		{"stripped, version not in the table", func(t *testing.T) string { return buildXNetAt(t, xnetUnlisted, true) }, on, xnetUnlisted, false},
		{"stripped, version not in the table, HTTP off", func(t *testing.T) string { return buildXNetAt(t, xnetUnlisted, true) }, TracesConfig{}, "", false},
		{"version not in the table, with DWARF", func(t *testing.T) string { return buildXNetAt(t, xnetUnlisted, false) }, on, "", true},
		{"no x/net server or client", func(t *testing.T) string { return buildProgram(t, "../../integration/testdata/httpdemo", "-s -w") }, on, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			info, err := gi.inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.cfg.xnetLayoutUnknown(info)
			if err != nil {
				t.Log(err)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), h2xnet.Name) || !strings.Contains(err.Error(), h2xnetclient.Name)):
				t.Errorf("got %v, want an error naming %s, %s and both x/net probes", err, path, tc.want)
			}
			for _, name := range []string{h2xnet.Name, h2xnetclient.Name, httpclienth2.XNetName} {
				if _, ok := info.Probe.Sites[name]; ok != tc.sites {
					t.Errorf("%s resolved: %t, want %t (%v)", name, ok, tc.sites, info.Probe.Unusable[name])
				}
			}
			if !tc.sites && tc.want != "" {
				if err := info.Probe.Unusable[h2xnet.Name]; !errors.Is(err, tracer.ErrOffsetsMissing) {
					t.Errorf("%s: %v, want offsets missing", h2xnet.Name, err)
				}
			}
		})
	}
}
