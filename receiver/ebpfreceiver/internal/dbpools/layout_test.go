package dbpools

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// LayoutOf finds every field in DWARF for the oldest and the newest Go,
// connRequests a map in 1.19 and a connRequestSet in the host's (1.23+);
// without DWARF there is no layout.
func TestLayoutOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, goBin string
		set         bool
	}{{"go1.19", "/usr/lib/go-1.19/bin/go", false}, {"host", "go", true}} {
		if _, err := exec.LookPath(tc.goBin); err != nil {
			prereq.Missing(t, "%s toolchain %s: %v", tc.name, tc.goBin, err)
			continue
		}
		for _, stripped := range []bool{false, true} {
			bin := filepath.Join(t.TempDir(), "layoutapp")
			args := []string{"build", "-o", bin}
			if stripped {
				args = append(args, "-ldflags=-s -w")
			}
			cmd := exec.Command(tc.goBin, append(args, ".")...)
			cmd.Dir = filepath.Join("..", "probes", "sqlclient", "testdata", "layoutapp")
			cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GO111MODULE=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s build: %v\n%s", tc.name, err, out)
			}
			exe, err := goexe.Inspect(bin)
			if err != nil {
				t.Fatal(err)
			}
			l, err := LayoutOf(exe)
			if stripped {
				if err == nil {
					t.Errorf("%s stripped: a layout without DWARF: %+v", tc.name, l)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if l.ConnRequestsIsSet != tc.set || l.NumOpen == 0 || l.MaxOpen == 0 || l.WaitCount == 0 || l.size < l.WaitCount+8 {
				t.Errorf("%s: layout %+v", tc.name, l)
			}
		}
	}
}
