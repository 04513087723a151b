// Package mariadb starts a throwaway MariaDB server for tests:
// mariadb-install-db in a scratch directory, mariadbd on 127.0.0.1 on a
// free port with grant tables skipped (any user, no password), a database
// named test created, stopped and removed at test cleanup.
//
// The binaries come from Debian's mariadb-server package (or
// $MARIADB_BIN_DIR holding mariadbd, mariadb-install-db and mariadb). When
// they are missing, Start fails the test under CI=true and skips it
// otherwise.
package mariadb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/dbserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// Server is a running MariaDB server.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// DSN is a go-sql-driver/mysql data source name for the database test.
	DSN  string
	proc *dbserver.Process
}

type binaries struct{ server, installDB, client string }

func find() (binaries, error) {
	if d := os.Getenv("MARIADB_BIN_DIR"); d != "" {
		return binaries{filepath.Join(d, "mariadbd"), filepath.Join(d, "mariadb-install-db"), filepath.Join(d, "mariadb")}, nil
	}
	var b binaries
	for _, c := range []struct {
		dst   *string
		names []string
	}{
		{&b.server, []string{"mariadbd", "/usr/sbin/mariadbd"}},
		{&b.installDB, []string{"mariadb-install-db"}},
		{&b.client, []string{"mariadb"}},
	} {
		for _, n := range c.names {
			if p, err := exec.LookPath(n); err == nil {
				*c.dst = p
				break
			}
		}
		if *c.dst == "" {
			return b, fmt.Errorf("no %s: install the Debian package mariadb-server or set MARIADB_BIN_DIR", c.names[0])
		}
	}
	return b, nil
}

// Start runs a fresh server and registers its shutdown with t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := find()
	if err != nil {
		prereq.Missing(t, "%v", err)
		return nil
	}
	dir := dbserver.ScratchDir(t, "mariadb-test-")
	data := filepath.Join(dir, "data")
	user := currentUser()
	install := exec.Command(bin.installDB, "--no-defaults", "--datadir="+data, "--user="+user,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(bin, dir, data, user)
		if err == nil {
			t.Cleanup(func() {
				if err := s.proc.Stop(syscall.SIGTERM); err != nil {
					t.Errorf("stop mariadbd: %v", err)
				}
				if t.Failed() {
					log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
					t.Logf("mariadbd output:\n%s\n%s", s.proc.Output, log)
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("start mariadbd: %v", lastErr)
	return nil
}

func start(bin binaries, dir, data, user string) (*Server, error) {
	port, err := dbserver.FreePort()
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "mariadb.sock")
	cmd := exec.Command(bin.server, "--no-defaults", "--datadir="+data, "--user="+user,
		"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--socket="+sock,
		"--pid-file="+filepath.Join(dir, "mariadb.pid"), "--log-error="+filepath.Join(dir, "error.log"),
		"--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin",
		"--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0",
		"--performance-schema=OFF", "--max-connections=20")
	proc, err := dbserver.Start("mariadbd", cmd)
	if err != nil {
		return nil, err
	}
	client := func(sql string) error {
		out, err := exec.Command(bin.client, "--no-defaults", "--protocol=tcp", "-h", "127.0.0.1", "-P", strconv.Itoa(port), "-u", "root", "-e", sql).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mariadb -e %q: %v %s", sql, err, out)
		}
		return nil
	}
	if err := proc.WaitReady(60*time.Second, func() error { return client("SELECT 1") }); err != nil {
		_ = proc.Stop(syscall.SIGKILL)
		return nil, err
	}
	if err := client("CREATE DATABASE IF NOT EXISTS test"); err != nil {
		_ = proc.Stop(syscall.SIGKILL)
		return nil, err
	}
	return &Server{Port: port, DSN: fmt.Sprintf("root@tcp(127.0.0.1:%d)/test", port), proc: proc}, nil
}

func currentUser() string {
	if os.Geteuid() == 0 {
		return "root"
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return strconv.Itoa(os.Geteuid())
}
