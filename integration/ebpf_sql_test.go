package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/mariadb"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/postgres"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// pidSpan is a span with the pid of the process it comes from.
type pidSpan struct {
	pid  int64
	span ptrace.Span
}

// pidSpans reads every span of the file exporter's output with its
// process.pid.
func pidSpans(t *testing.T, path string) []pidSpan {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []pidSpan
	var u ptrace.JSONUnmarshaler
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		td, err := u.UnmarshalTraces(sc.Bytes())
		if err != nil {
			continue // a line being written
		}
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			pid, _ := rs.Resource().Attributes().Get("process.pid")
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				spans := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					out = append(out, pidSpan{pid: pid.Int(), span: spans.At(k)})
				}
			}
		}
	}
	return out
}

// sqlChild is what one database span of a request must be.
type sqlChild struct {
	name, op, collection, text string
	fails                      bool
}

// wantSQLChildren lists the spans of one /run request of
// testdata/sqldemo, in order: arg is the driver's placeholder.
func wantSQLChildren(arg string) []sqlChild {
	return []sqlChild{
		{"SELECT items", "SELECT", "items", "SELECT id, name FROM items WHERE id > " + arg, false},
		{"INSERT items", "INSERT", "items", "INSERT INTO items (name) VALUES (?)", false},
		{"BEGIN", "BEGIN", "", "", false},
		{"UPDATE items", "UPDATE", "items", "UPDATE items SET name = " + arg + " WHERE id = ?", false},
		{"COMMIT", "COMMIT", "", "", false},
		{"BEGIN", "BEGIN", "", "", false},
		{"DELETE items", "DELETE", "items", "DELETE FROM items WHERE name = " + arg, false},
		{"ROLLBACK", "ROLLBACK", "", "", false},
		{"SELECT no_such_table", "SELECT", "no_such_table", "SELECT * FROM no_such_table", true},
		// Prepared statements: (*Stmt).QueryContext, ExecContext, and
		// ExecContext of the statement bound to a transaction (Tx.Stmt).
		{"SELECT items", "SELECT", "items", "SELECT name FROM items WHERE id = " + arg, false},
		{"INSERT items", "INSERT", "items", "INSERT INTO items (name) VALUES (" + arg + ")", false},
		{"BEGIN", "BEGIN", "", "", false},
		{"INSERT items", "INSERT", "items", "INSERT INTO items (name) VALUES (" + arg + ")", false},
		{"COMMIT", "COMMIT", "", "", false},
	}
}

// TestEBPFSQLSpans runs the built otelcol-goebpf binary with traces.sql on
// against testdata/sqldemo (its own module: lib/pq, pgx v5's stdlib and
// go-sql-driver/mysql), built with DWARF and as a stripped PIE by the
// host's Go (pgx v5.13.0), and stripped by Go 1.19 with older drivers
// (go119.mod: pgx v5.3.0, the oldest v5 minor the module proxy serves),
// talking to a real PostgreSQL and a real MariaDB started by the test.
// Each request's HTTP server span has exactly the 14 database spans the
// handler made, as its children: names, db.* attributes, server.address,
// server.port and db.namespace from the pool's connector (lib/pq's DSN,
// pgx's DSN, pgx's stdlib.OpenDB config, go-sql-driver's Config), the sanitized db.query.text, the
// error of the query on an unknown table with its SQLSTATE (lib/pq and
// pgx: a *pgconn.PgError in v5.3.0, wrapped in a *pgconn.PrepareError in
// v5.13.0) or MySQL error number, in the DWARF build as in the stripped
// ones (where the drivers' code offsets come from rules by driver version
// and a code is kept only under its driver's error type), one span per
// prepared statement's query or exec (also through Tx.Stmt), and no span
// for the deferred Rollback of a committed transaction.
func TestEBPFSQLSpans(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	pg := postgres.Start(t)
	my := mariadb.Start(t)
	dir := t.TempDir()
	builds := []struct {
		name     string
		stripped bool
	}{{"sqldemo-dwarf", false}, {"sqldemo-pie-stripped", true}, {"sqldemo-go119-stripped", true}}
	buildGo(t, "testdata/sqldemo", dir, builds[0].name)
	// A stripped PIE: type addresses are read relocated and named
	// unrelocated (db.system.name from the connection's type).
	buildGo(t, "testdata/sqldemo", dir, builds[1].name, "-buildmode=pie", "-ldflags=-s -w")
	// The oldest Go and older drivers (lib/pq v1.10.9, go-sql-driver/mysql
	// v1.7.1: go119.mod), stripped: database/sql's offsets from the rule.
	const go119 = "/usr/lib/go-1.19/bin/go"
	if _, err := os.Stat(go119); err != nil {
		prereq.Missing(t, "Debian's golang-1.19-go is required: %v", err)
	}
	build := exec.Command(go119, "build", "-modfile=go119.mod", "-ldflags=-s -w", "-o", filepath.Join(dir, builds[2].name), ".")
	build.Dir = "testdata/sqldemo"
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go1.19 build sqldemo: %v\n%s", err, out)
	}
	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
    traces:
      http: { server: true, client: false, capture_query: true }
      sql: { enabled: true, query_text: true }
exporters:
  file:
    path: {{DIR}}/traces.json
    flush_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [file]
`, filepath.Join(dir, "sqldemo-*")))
	out := c.Path("traces.json")

	type demo struct {
		name     string
		stripped bool
		addr     string
		pid      int64
	}
	var demos []*demo
	for _, b := range builds {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		cmd := exec.Command(filepath.Join(dir, b.name), "-addr", addr, "-pg", pg.URL, "-mysql", my.DSN)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", b.name, logs.String())
			}
		})
		demos = append(demos, &demo{name: b.name, stripped: b.stripped, addr: addr, pid: int64(cmd.Process.Pid)})
	}
	get := func(d *demo, db string) error {
		resp, err := http.Get("http://" + d.addr + "/run?" + url.Values{"db": {db}}.Encode())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /run?db=%s: %s: %s", db, resp.Status, body)
		}
		return nil
	}
	// Until both processes are instrumented: a database span from each.
	eventually(t, 40*time.Second, "a database span from each process", func() (bool, string) {
		seen := map[int64]bool{}
		for _, d := range demos {
			if err := get(d, "pg"); err != nil {
				return false, err.Error()
			}
		}
		for _, s := range pidSpans(t, out) {
			if _, ok := s.span.Attributes().Get("db.system.name"); ok {
				seen[s.pid] = true
			}
		}
		return len(seen) == len(demos), fmt.Sprintf("database spans from %d of %d processes", len(seen), len(demos))
	})
	time.Sleep(time.Second)
	base := len(pidSpans(t, out))
	backends := []string{"pg", "pgx", "pgxdb", "mysql"}
	for _, d := range demos {
		for _, db := range backends {
			if err := get(d, db); err != nil {
				t.Fatal(err)
			}
		}
	}
	nChildren := len(wantSQLChildren("?"))
	requests, perRequest := len(backends)*len(demos), 1+nChildren
	want := base + requests*perRequest
	eventually(t, 15*time.Second, "all spans in the file", func() (bool, string) {
		n := len(pidSpans(t, out))
		return n >= want, fmt.Sprintf("%d/%d spans", n, want)
	})
	time.Sleep(time.Second) // extras would show up now
	all := pidSpans(t, out)
	if len(all) != want {
		t.Fatalf("%d spans, want exactly %d (%d before, %d requests × %d)", len(all), want, base, requests, perRequest)
	}
	spans := all[base:]
	type key struct {
		pid     int64
		backend string
	}
	served := map[key]int{}
	for _, srv := range spans {
		if srv.span.Kind() != ptrace.SpanKindServer {
			continue
		}
		var children []ptrace.Span
		for _, s := range spans {
			if s.span.Kind() == ptrace.SpanKindClient && s.span.ParentSpanID() == srv.span.SpanID() && s.span.TraceID() == srv.span.TraceID() {
				if s.pid != srv.pid {
					t.Errorf("span %q of pid %d under a server span of pid %d", s.span.Name(), s.pid, srv.pid)
				}
				children = append(children, s.span)
			}
		}
		sort.Slice(children, func(i, j int) bool { return children[i].StartTimestamp() < children[j].StartTimestamp() })
		if len(children) != nChildren {
			t.Errorf("server span %q (pid %d) has %d database children, want %d", srv.span.Name(), srv.pid, len(children), nChildren)
			continue
		}
		query, _ := srv.span.Attributes().Get("url.query")
		backend := strings.TrimPrefix(query.Str(), "db=")
		system, _ := children[0].Attributes().Get("db.system.name")
		var d *demo
		for _, dd := range demos {
			if dd.pid == srv.pid {
				d = dd
			}
		}
		if d == nil {
			t.Fatalf("server span from unknown pid %d", srv.pid)
		}
		served[key{srv.pid, backend}]++
		arg, code, errType, wantSystem, port, namespace := "$1", "42P01", "*pq.Error", "postgresql", int64(pg.Port), "postgres"
		switch backend {
		case "mysql":
			arg, code, errType, wantSystem, port, namespace = "?", "1146", "*mysql.MySQLError", "mysql", int64(my.Port), "test"
		}
		if system.Str() != wantSystem {
			t.Errorf("%s: request db=%s: db.system.name %q, want %q", d.name, backend, system.Str(), wantSystem)
		}
		for i, w := range wantSQLChildren(arg) {
			s := children[i]
			a := s.Attributes().AsRaw()
			ctx := fmt.Sprintf("%s (pid %d) %s span %d %q %v", d.name, srv.pid, system.Str(), i, s.Name(), a)
			if s.Name() != w.name || a["db.system.name"] != system.Str() || a["db.operation.name"] != w.op {
				t.Errorf("%s: want name %q, operation %q", ctx, w.name, w.op)
			}
			if got, _ := a["db.collection.name"].(string); got != w.collection {
				t.Errorf("%s: db.collection.name %q, want %q", ctx, got, w.collection)
			}
			if got, _ := a["db.query.text"].(string); got != w.text {
				t.Errorf("%s: db.query.text %q, want %q", ctx, got, w.text)
			}
			if a["server.address"] != "127.0.0.1" || a["server.port"] != port || a["db.namespace"] != namespace {
				t.Errorf("%s: want server.address 127.0.0.1, server.port %d, db.namespace %q", ctx, port, namespace)
			}
			if !w.fails {
				if s.Status().Code() == ptrace.StatusCodeError || a["error.type"] != nil {
					t.Errorf("%s: an error", ctx)
				}
				continue
			}
			if s.Status().Code() != ptrace.StatusCodeError {
				t.Errorf("%s: status %v, want Error", ctx, s.Status().Code())
			}
			if a["db.response.status_code"] != code || a["error.type"] != code {
				t.Errorf("%s: want db.response.status_code and error.type %q (the error is a %s)", ctx, code, errType)
			}
		}
	}
	for _, d := range demos {
		for _, backend := range backends {
			if n := served[key{d.pid, backend}]; n != 1 {
				t.Errorf("%s (pid %d): %d requests db=%s with database spans, want 1", d.name, d.pid, n, backend)
			}
		}
	}
	if t.Failed() {
		var names []string
		for _, s := range spans {
			names = append(names, fmt.Sprintf("%d %v %q parent=%s", s.pid, s.span.Kind(), s.span.Name(), s.span.ParentSpanID()))
		}
		t.Logf("spans:\n%s", strings.Join(names, "\n"))
	}
}
