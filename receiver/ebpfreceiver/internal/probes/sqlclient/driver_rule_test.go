package sqlclient

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// driverReleases pairs releases of lib/pq and go-sql-driver/mysql that
// TestDriverErrorRule builds testdata/drivererrors against: the oldest
// and newest release of each the module proxy serves, and v1.10.x of
// lib/pq. SQLCLIENT_ALL_DRIVER_RELEASES=1 builds every release of both
// (the proxy's list; about a minute).
var driverReleases = [][2]string{
	{"v1.0.0", "v1.3.0"},
	{"v1.10.0", "v1.5.0"},
	{"v1.10.9", "v1.7.1"},
	{"v1.12.3", "v1.10.2"},
}

// proxyReleases lists module's releases (no pre-releases) the module
// proxy serves.
func proxyReleases(t *testing.T, module string) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module list\n\ngo 1.19\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-m", "-versions", "-retracted", module)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m -versions %s: %v", module, err)
	}
	var vs []string
	for _, v := range strings.Fields(string(out))[1:] {
		if !strings.Contains(v, "-") {
			vs = append(vs, v)
		}
	}
	return vs
}

// buildDriverErrors builds testdata/drivererrors against lib/pq pq and
// go-sql-driver/mysql my.
func buildDriverErrors(t *testing.T, pq, my string, stripped bool) *goexe.Executable {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "drivererrors", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module drivererrors\n\ngo 1.19\n\nrequire (\n\t" + modulePQ + " " + pq + "\n\t" + moduleMySQL + " " + my + "\n)\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "drivererrors")
	build := []string{"build", "-o", bin}
	if stripped {
		build = append(build, "-ldflags=-s -w")
	}
	for _, args := range [][]string{{"mod", "tidy"}, append(build, ".")} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("lib/pq %s, mysql %s: go %v: %v\n%s", pq, my, args, err, out)
		}
	}
	exe, err := goexe.Inspect(bin)
	if err != nil {
		t.Fatal(err)
	}
	if exe.Modules[modulePQ] != pq || exe.Modules[moduleMySQL] != my {
		t.Fatalf("built with lib/pq %q and mysql %q, want %s and %s", exe.Modules[modulePQ], exe.Modules[moduleMySQL], pq, my)
	}
	return exe
}

// TestDriverErrorRule: where lib/pq's *Error keeps its SQLSTATE and
// go-sql-driver's *MySQLError its number, as driverErrorRule says by the
// drivers' versions, is where DWARF says for releases from the oldest to
// the newest the module proxy serves; complete fills them (and no error
// type, so the codes are read untyped) for a stripped build; a release of
// a minor newer than the rule knows, an older go-sql-driver or a
// pseudo-version gets nothing.
func TestDriverErrorRule(t *testing.T) {
	t.Parallel()
	pairs := driverReleases
	if os.Getenv("SQLCLIENT_ALL_DRIVER_RELEASES") != "" {
		pqs, mys := proxyReleases(t, modulePQ), proxyReleases(t, moduleMySQL)
		pairs = nil
		for i := 0; i < max(len(pqs), len(mys)); i++ {
			pairs = append(pairs, [2]string{pqs[min(i, len(pqs)-1)], mys[min(i, len(mys)-1)]})
		}
	}
	for _, p := range pairs {
		exe := buildDriverErrors(t, p[0], p[1], false)
		rule := fields.NewTable()
		driverErrorRule(exe.Modules, &rule)
		if !rule.Known(fields.PQErrorCode, fields.MySQLErrorNumber) {
			t.Errorf("lib/pq %s, mysql %s: the rule gives no offsets", p[0], p[1])
			continue
		}
		code, err := exe.DWARFFieldOffset("github.com/lib/pq.Error", "Code")
		if err != nil || code != rule[fields.PQErrorCode] {
			t.Errorf("lib/pq %s: DWARF Error.Code = %d (%v), the rule says %d", p[0], code, err, rule[fields.PQErrorCode])
		}
		num, err := exe.DWARFFieldOffset("github.com/go-sql-driver/mysql.MySQLError", "Number")
		if err != nil || num != rule[fields.MySQLErrorNumber] {
			t.Errorf("mysql %s: DWARF MySQLError.Number = %d (%v), the rule says %d", p[1], num, err, rule[fields.MySQLErrorNumber])
		}
		if size, err := exe.DWARFFieldSize("github.com/go-sql-driver/mysql.MySQLError", "Number"); err != nil || size != 2 {
			t.Errorf("mysql %s: DWARF MySQLError.Number has size %d (%v), BPF reads 2 bytes", p[1], size, err)
		}
		if size, err := exe.DWARFFieldSize("github.com/lib/pq.Error", "Code"); err != nil || size != 16 {
			t.Errorf("lib/pq %s: DWARF Error.Code has size %d (%v), BPF reads a string", p[0], size, err)
		}
		t.Logf("lib/pq %s: Error.Code at %d; mysql %s: MySQLError.Number at %d", p[0], code, p[1], num)
	}
	newest := driverReleases[len(driverReleases)-1]
	exe := buildDriverErrors(t, newest[0], newest[1], true)
	off := probes.Offsets{Fields: fields.NewTable()}
	complete(exe, &off)
	if off.Fields[fields.PQErrorCode] != pqErrorCode || off.Fields[fields.MySQLErrorNumber] != mysqlErrorNumber {
		t.Errorf("stripped: complete set Error.Code %d, MySQLError.Number %d", off.Fields[fields.PQErrorCode], off.Fields[fields.MySQLErrorNumber])
	}
	if off.Fields.Known(fields.PQErrorType) || off.Fields.Known(fields.MySQLErrorType) {
		t.Errorf("stripped: error types %#x, %#x known without DWARF", off.Fields[fields.PQErrorType], off.Fields[fields.MySQLErrorType])
	}
	for _, tc := range []struct {
		pq, my     string
		pqOK, myOK bool
	}{
		{"v1.12.3", "v1.10.2", true, true},
		{"v1.10.0-rc1", "v1.8.0-rc.1", true, true},
		{"v1.13.0", "v1.11.0", false, false},
		{"v1.10.10-0.20240101000000-abcdefabcdef", "v1.2.0", false, false},
		{"v2.0.0", "", false, false},
	} {
		tab := fields.NewTable()
		driverErrorRule(map[string]string{modulePQ: tc.pq, moduleMySQL: tc.my}, &tab)
		if tab.Known(fields.PQErrorCode) != tc.pqOK || tab.Known(fields.MySQLErrorNumber) != tc.myOK {
			t.Errorf("lib/pq %q, mysql %q: Code known %v, Number known %v; want %v, %v", tc.pq, tc.my,
				tab.Known(fields.PQErrorCode), tab.Known(fields.MySQLErrorNumber), tc.pqOK, tc.myOK)
		}
	}
}

// TestUntypedCodes: codes read before the error's type was known are kept
// only under their driver's error type.
func TestUntypedCodes(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	num := func(n uint16) *uint16 { return &n }
	for _, tc := range []struct {
		name string
		ev   Event
		want string
	}{
		{"pq", Event{ErrorType: typePQErr, PQCode: str("42P01"), MySQLNumber: num(17)}, "42P01"},
		{"pq, no SQLSTATE read", Event{ErrorType: typePQErr, PQCode: str("4\x002")}, ""},
		{"pq code under another type", Event{ErrorType: typeCtxErr, PQCode: str("42P01"), MySQLNumber: num(1146)}, ""},
		{"mysql", Event{ErrorType: typeMySQLErr, PQCode: str("HY000"), MySQLNumber: num(1146)}, "1146"},
		{"mysql, number 0", Event{ErrorType: typeMySQLErr, MySQLNumber: num(0)}, ""},
		{"mysql type, nothing read", Event{ErrorType: typeMySQLErr}, ""},
		{"pgx beside pq's read", Event{ErrorType: typePgErr, PQCode: str("XXXXX"), Pgx: &PgxCodes{Code: "42P01"}}, "42P01"},
	} {
		tc.ev.PID, tc.ev.HasError, tc.ev.Op = 7, true, OpQuery
		if got := SpanOf(&tc.ev, typeNames, Span{}.Server).StatusCode; got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.want)
		}
	}
}
