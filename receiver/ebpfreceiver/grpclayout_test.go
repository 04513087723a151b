package ebpfreceiver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

func buildProgram(t *testing.T, pkg, ldflags string) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-ldflags="+ldflags, "-o", exe, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return exe
}

// buildReplacedGRPC builds grpcdemo stripped against a copy of this
// module's grpc-go in a directory (a replace directive: no version in the
// build info, as for a fork).
func buildReplacedGRPC(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	modCache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := ""
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == goexe.GRPCModule {
			version = f[1]
		}
	}
	src := filepath.Join(strings.TrimSpace(string(modCache)), "google.golang.org", "grpc@"+version)
	if out, err := exec.Command("cp", "-r", src, filepath.Join(dir, "grpc")).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", src, err, out)
	}
	_ = exec.Command("chmod", "-R", "u+w", filepath.Join(dir, "grpc")).Run()
	main, err := os.ReadFile("../../integration/testdata/grpcdemo/main.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":  "module grpcdemo\n\ngo 1.24\n\nrequire google.golang.org/grpc " + version + "\n\nreplace google.golang.org/grpc => ./grpc\n",
		"main.go": string(main),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "grpcdemo")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-ldflags=-s -w", "-o", exe, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	return exe
}

// A grpc-go program whose layout cannot be determined (stripped, its
// grpc-go replaced by a directory: no version) is named with the reason
// (the instrumenter logs it once per binary); a stripped one of a release
// in the offsets table, one with DWARF, a program without grpc-go, or gRPC
// switched off, is not. The same holds for stitching's stream probe with
// traces.propagation.stitch on.
func TestGRPCLayoutUnknown(t *testing.T) {
	t.Parallel()
	gi := goexeInspector{cache: goexe.NewCache()}
	on := TracesConfig{GRPC: GRPCConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: true}, ClientStreams: true}, Propagation: PropagationConfig{Stitch: true}}
	for _, tc := range []struct {
		name, pkg, ldflags string
		cfg                TracesConfig
		want               string // "" for no error
	}{
		{"stripped grpc", "../../integration/testdata/grpcdemo", "-s -w", on, ""},
		{"stripped grpc replaced by a directory", "replaced", "-s -w", on, "replaced by a local directory"},
		{"stripped grpc, gRPC off", "../../integration/testdata/grpcdemo", "-s -w", TracesConfig{}, ""},
		{"grpc with DWARF", "../../integration/testdata/grpcdemo", "", on, ""},
		{"no grpc", "../../integration/testdata/httpdemo", "-s -w", on, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var path string
			if tc.pkg == "replaced" {
				path = buildReplacedGRPC(t)
			} else {
				path = buildProgram(t, tc.pkg, tc.ldflags)
			}
			info, err := gi.inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.cfg.grpcLayoutUnknown(info)
			if err != nil {
				t.Log(err)
			}
			stitchErr := tc.cfg.grpcStitchLayoutUnknown(info)
			switch {
			case tc.want == "" && (err != nil || stitchErr != nil):
				t.Errorf("unexpected: %v; stitching: %v", err, stitchErr)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path)):
				t.Errorf("got %v, want an error naming %s and %s", err, path, tc.want)
			case tc.want != "" && (stitchErr == nil || !strings.Contains(stitchErr.Error(), "grpc_client_stream")):
				t.Errorf("stitching: got %v, want an error naming the grpc_client_stream probe", stitchErr)
			}
		})
	}
}
