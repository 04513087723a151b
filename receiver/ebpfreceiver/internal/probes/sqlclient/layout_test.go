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

// TestPgxRule: the offsets pgxRule gives by pgx's version are DWARF's for
// the oldest (v5.3.0, Go 1.19) and the newest (v5.13.0) v5 the module
// proxy serves, built as testdata's sqldemo (PrepareError exists only in
// the newer), and complete fills them for a stripped build.
func TestPgxRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, goBin, version string
		args                 []string
		prepareError         bool
	}{
		{"host", "go", "v5.13.0", nil, true},
		{"go1.19", "/usr/lib/go-1.19/bin/go", "v5.3.0", []string{"-modfile=go119.mod"}, false},
	} {
		if _, err := exec.LookPath(tc.goBin); err != nil {
			prereq.Missing(t, "%s toolchain %s: %v", tc.name, tc.goBin, err)
			continue
		}
		for _, stripped := range []bool{false, true} {
			bin := filepath.Join(t.TempDir(), "sqldemo")
			args := append([]string{"build"}, tc.args...)
			if stripped {
				args = append(args, "-ldflags=-s -w")
			}
			cmd := exec.Command(tc.goBin, append(args, "-o", bin, ".")...)
			cmd.Dir = "../../../../../integration/testdata/sqldemo"
			cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s build: %v\n%s", tc.name, err, out)
			}
			exe, err := goexe.Inspect(bin)
			if err != nil {
				t.Fatal(err)
			}
			if v := exe.Modules[modulePgx]; v != tc.version {
				t.Fatalf("%s: pgx %q, want %s", tc.name, v, tc.version)
			}
			rule := fields.NewTable()
			pgxRule(tc.version, &rule)
			if !stripped {
				code, err := exe.DWARFFieldOffset("github.com/jackc/pgx/v5/pgconn.PgError", "Code")
				if err != nil || code != rule[fields.PgxPgErrorCode] {
					t.Errorf("%s: DWARF PgError.Code = %d (%v), the rule says %d", tc.name, code, err, rule[fields.PgxPgErrorCode])
				}
				inner, err := exe.DWARFFieldOffset("github.com/jackc/pgx/v5/pgconn.PrepareError", "err")
				if tc.prepareError && (err != nil || inner != rule[fields.PgxPrepareErrorErr]) {
					t.Errorf("%s: DWARF PrepareError.err = %d (%v), the rule says %d", tc.name, inner, err, rule[fields.PgxPrepareErrorErr])
				}
				if !tc.prepareError && err == nil {
					t.Errorf("%s: PrepareError in pgx %s", tc.name, tc.version)
				}
				continue
			}
			off := probes.Offsets{Fields: fields.NewTable()}
			complete(exe, &off)
			for _, id := range []fields.ID{fields.PgxPgErrorCode, fields.PgxPrepareErrorErr} {
				if off.Fields[id] != rule[id] {
					t.Errorf("%s stripped: complete set %s = %d, want %d", tc.name, id, off.Fields[id], rule[id])
				}
			}
		}
	}
	for _, v := range []string{"v5.5.5", "v5.6.0", "v5.10.0-rc.1", "v5.5.1-0.20240101000000-abcdefabcdef", "v4.18.0", ""} {
		tab := fields.NewTable()
		pgxRule(v, &tab)
		want := map[string]uint64{"v5.5.5": pgErrorCodeBefore56, "v5.6.0": pgErrorCodeFrom56, "v5.10.0-rc.1": pgErrorCodeFrom56}[v]
		if got := tab[fields.PgxPgErrorCode]; want != 0 && got != want || want == 0 && tab.Known(fields.PgxPgErrorCode) {
			t.Errorf("pgxRule(%q): Code %d, want %d (0: unknown)", v, got, want)
		}
	}
}
