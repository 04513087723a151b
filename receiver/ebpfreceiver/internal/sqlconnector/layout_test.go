package sqlconnector

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// sqldemo is the test program that links every driver read here.
const sqldemo = "../../../../integration/testdata/sqldemo"

// TestConnectorLayouts: the offsets Read uses are the ones DWARF gives
// for the newest Go with the newest drivers (pgx v5.13.0,
// go-sql-driver/mysql v1.10.2) and for Go 1.19 with old ones (pgx v5.3.0,
// mysql v1.7.1: sqldemo's go119.mod).
func TestConnectorLayouts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, goBin string
		args        []string
	}{
		{"host", "go", nil},
		{"go1.19", "/usr/lib/go-1.19/bin/go", []string{"-modfile=go119.mod"}},
	} {
		if _, err := exec.LookPath(tc.goBin); err != nil {
			prereq.Missing(t, "%s toolchain %s: %v", tc.name, tc.goBin, err)
			continue
		}
		bin := filepath.Join(t.TempDir(), "sqldemo")
		cmd := exec.Command(tc.goBin, append(append([]string{"build"}, tc.args...), "-o", bin, ".")...)
		cmd.Dir = sqldemo
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s build: %v\n%s", tc.name, err, out)
		}
		exe, err := goexe.Inspect(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []struct {
			structName, field string
			want              uint64
		}{
			{"database/sql.DB", "connector", DBConnectorOffset},
			{"database/sql.dsnConnector", "dsn", dsnConnectorDSN},
			{"database/sql.dsnConnector", "driver", dsnConnectorDriver},
			{"github.com/go-sql-driver/mysql.connector", "cfg", mysqlConnectorCfg},
			{"github.com/go-sql-driver/mysql.Config", "Net", mysqlConfigNet},
			{"github.com/go-sql-driver/mysql.Config", "Addr", mysqlConfigAddr},
			{"github.com/go-sql-driver/mysql.Config", "DBName", mysqlConfigDBName},
			{"github.com/jackc/pgx/v5/stdlib.driverConnector", "name", pgxDriverConnectorName},
			{"github.com/jackc/pgx/v5/stdlib.connector", "ConnConfig", 0},
			{"github.com/jackc/pgx/v5.ConnConfig", "Config", 0},
			{"github.com/jackc/pgx/v5/pgconn.Config", "Host", pgxConfigHost},
			{"github.com/jackc/pgx/v5/pgconn.Config", "Port", pgxConfigPort},
			{"github.com/jackc/pgx/v5/pgconn.Config", "Database", pgxConfigDatabase},
		} {
			got, err := exe.DWARFFieldOffset(f.structName, f.field)
			if err != nil {
				t.Errorf("%s: %s.%s: %v", tc.name, f.structName, f.field, err)
				continue
			}
			if got != f.want {
				t.Errorf("%s: DWARF %s.%s = %d, Read uses %d", tc.name, f.structName, f.field, got, f.want)
			}
		}
	}
}
