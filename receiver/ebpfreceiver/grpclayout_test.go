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

// A grpc-go program whose layout cannot be determined (stripped) is named
// with the reason (the instrumenter logs it once per binary); one with
// DWARF, or a program without grpc-go, or gRPC switched off, is not.
func TestGRPCLayoutUnknown(t *testing.T) {
	t.Parallel()
	gi := goexeInspector{cache: goexe.NewCache()}
	on := TracesConfig{GRPC: ProtocolConfig{Server: true, Client: true}}
	for _, tc := range []struct {
		name, pkg, ldflags string
		cfg                TracesConfig
		want               string // "" for no error
	}{
		{"stripped grpc", "../../integration/testdata/grpcdemo", "-s -w", on, "google.golang.org/grpc/internal/transport.Stream.method"},
		{"stripped grpc, gRPC off", "../../integration/testdata/grpcdemo", "-s -w", TracesConfig{}, ""},
		{"grpc with DWARF", "../../integration/testdata/grpcdemo", "", on, ""},
		{"no grpc", "../../integration/testdata/httpdemo", "-s -w", on, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := buildProgram(t, tc.pkg, tc.ldflags)
			info, err := gi.inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.cfg.grpcLayoutUnknown(info)
			if err != nil {
				t.Log(err)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path)):
				t.Errorf("got %v, want an error naming %s and %s", err, path, tc.want)
			}
		})
	}
}
