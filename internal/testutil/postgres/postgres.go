// Package postgres starts a throwaway PostgreSQL server for tests: initdb
// in a scratch directory, postgres on 127.0.0.1 on a free port (trust
// authentication, no fsync), stopped and removed at test cleanup.
//
// The binaries come from Debian's postgresql package
// (/usr/lib/postgresql/<version>/bin, the newest one), or $POSTGRES_BIN_DIR.
// PostgreSQL refuses to run as root: as root, both run as the user
// postgres the package creates. When the binaries are missing, Start fails
// the test under CI=true and skips it otherwise.
package postgres

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/dbserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// Server is a running PostgreSQL server.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// URL is a lib/pq and pgx connection URL for the superuser postgres
	// and the database postgres.
	URL  string
	proc *dbserver.Process
}

// BinDir returns the directory of initdb and postgres.
func BinDir() (string, error) {
	if d := os.Getenv("POSTGRES_BIN_DIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server: install the Debian package postgresql or set POSTGRES_BIN_DIR")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start runs a fresh server and registers its shutdown with t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		prereq.Missing(t, "%v", err)
		return nil
	}
	dir := dbserver.ScratchDir(t, "postgres-test-")
	data := filepath.Join(dir, "data")
	cred, err := credential(dir)
	if err != nil {
		t.Fatal(err)
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(bin, dir, data, cred)
		if err == nil {
			t.Cleanup(func() {
				if err := s.proc.Stop(syscall.SIGINT); err != nil {
					t.Errorf("stop postgres: %v", err)
				}
				if t.Failed() {
					t.Logf("postgres output:\n%s", s.proc.Output)
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("start postgres: %v", lastErr)
	return nil
}

func start(bin, dir, data string, cred *syscall.Credential) (*Server, error) {
	port, err := dbserver.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB", "-c", "max_connections=20")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	proc, err := dbserver.Start("postgres", cmd)
	if err != nil {
		return nil, err
	}
	s := &Server{Port: port, URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), proc: proc}
	ready := func() error {
		out, err := exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_isready: %v %s", err, out)
		}
		return nil
	}
	if err := proc.WaitReady(30*time.Second, ready); err != nil {
		_ = proc.Stop(syscall.SIGKILL)
		return nil, err
	}
	return s, nil
}

// credential: as root, the server runs as postgres and owns dir.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and no user postgres to run the server as (the Debian package creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
