package sqlclient

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// TestStdlibLayoutRule: the offsets the rule gives stripped binaries are
// the ones DWARF gives for the oldest (Debian's 1.19) and the newest (the
// host's) Go, and the rule fills them for a stripped build.
func TestStdlibLayoutRule(t *testing.T) {
	t.Parallel()
	toolchains := map[string]string{"go1.19": "/usr/lib/go-1.19/bin/go", "host": "go"}
	for name, goBin := range toolchains {
		if _, err := exec.LookPath(goBin); err != nil {
			prereq.Missing(t, "%s toolchain %s: %v", name, goBin, err)
			continue
		}
		for _, stripped := range []bool{false, true} {
			bin := filepath.Join(t.TempDir(), "layoutapp")
			args := []string{"build", "-o", bin}
			if stripped {
				args = append(args, "-ldflags=-s -w")
			}
			cmd := exec.Command(goBin, append(args, ".")...)
			cmd.Dir = filepath.Join("testdata", "layoutapp")
			cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GO111MODULE=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s build: %v\n%s", name, err, out)
			}
			exe, err := goexe.Inspect(bin)
			if err != nil {
				t.Fatal(err)
			}
			want := stdlibRule()
			if !stripped {
				for id, off := range want {
					key := id.String()
					got, err := exe.DWARFFieldOffset(key[:len(key)-len(fieldName(key))-1], fieldName(key))
					if err != nil {
						t.Fatalf("%s: %s: %v", name, key, err)
					}
					if got != off {
						t.Errorf("%s: DWARF %s = %d, the rule says %d", name, key, got, off)
					}
				}
			}
			off := probes.Offsets{Fields: fields.NewTable()}
			complete(exe, &off)
			for id, v := range want {
				if off.Fields[id] != v {
					t.Errorf("%s stripped=%v: rule set %s = %d, want %d", name, stripped, id, off.Fields[id], v)
				}
			}
			for _, id := range []fields.ID{fields.SQLBeginDCEntry, fields.SQLTxCommitEntry, fields.SQLTxRollbackEntry, fields.SQLExecDCEntry, fields.SQLStmtExecEntry, fields.SQLStmtQueryEntry} {
				if !off.Fields.Known(id) {
					t.Errorf("%s stripped=%v: entry %s not found", name, stripped, id)
				}
			}
		}
	}
}

func fieldName(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '.' {
			return key[i+1:]
		}
	}
	return key
}
