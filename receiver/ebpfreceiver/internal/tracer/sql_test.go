package tracer

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/postgres"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sqlclient"
)

// The sql probe's hits, counted: 2 per query whatever the statement's
// length (21 bytes or 2.2 KiB), 2 per begin and commit, 2 per rollback
// that finds its transaction done (database/sql's own at the end of every
// transaction and the deferred one: no span); one event per query, begin
// and commit, each the child of the request's server span; 2 per exec of
// a prepared statement. Every event carries its *sql.DB.
func TestSQLProbeHits(t *testing.T) {
	prereq.RequireRoot(t, "the sql probe")
	pg := postgres.Start(t)
	exe := filepath.Join(t.TempDir(), "sqldemo")
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Dir = "../../../../integration/testdata/sqldemo"
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sqldemo: %v\n%s", err, out)
	}
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{"-addr", addr, "-pg", pg.URL} })
	_, bin := resolveServer(t, exe)
	if err := bin.Unusable[sqlclient.Name]; err != nil {
		t.Fatalf("sql probe unusable: %v", err)
	}
	tr, err := New(Options{RingBufferSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, Probes{httpserver.Name: true, sqlclient.Name: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })

	const n = 50
	bench := func(query string) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://%s/bench?db=pg&n=%d&%s", addr, n, query))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/bench?%s: %s: %s", query, resp.Status, body)
		}
	}
	for _, tc := range []struct {
		query  string
		hits   map[string]uint64 // per iteration
		events map[sqlclient.Op]int
	}{
		{"long=0", map[string]uint64{sqlclient.ProgQueryEntry: 1, sqlclient.ProgQueryReturn: 1}, map[sqlclient.Op]int{sqlclient.OpQuery: 1}},
		{"long=1", map[string]uint64{sqlclient.ProgQueryEntry: 1, sqlclient.ProgQueryReturn: 1}, map[sqlclient.Op]int{sqlclient.OpQuery: 1}},
		{"tx=1", map[string]uint64{
			sqlclient.ProgQueryEntry: 1, sqlclient.ProgQueryReturn: 1,
			sqlclient.ProgBeginEntry: 1, sqlclient.ProgBeginReturn: 1,
			sqlclient.ProgCommitEntry: 1, sqlclient.ProgRollbackEntry: 2, sqlclient.ProgTxEndReturn: 3,
		}, map[sqlclient.Op]int{sqlclient.OpQuery: 1, sqlclient.OpBegin: 1, sqlclient.OpCommit: 1}},
		// A prepared statement's exec: (*Stmt).ExecContext's entry and RET.
		{"prep=1", map[string]uint64{sqlclient.ProgStmtExecEntry: 1, sqlclient.ProgExecReturn: 1}, map[sqlclient.Op]int{sqlclient.OpExec: 1}},
	} {
		_ = tr.Drain(10*time.Millisecond, func([]byte) {})
		h0, _ := tr.Hits()
		bench(tc.query)
		// database/sql's own rollback runs in another goroutine once the
		// transaction ends: give the last one time to run.
		time.Sleep(200 * time.Millisecond)
		hits := hitsSince(t, tr, h0)
		for prog, per := range tc.hits {
			if hits[prog] != per*n {
				t.Errorf("%s: %s ran %d times for %d iterations, want %d", tc.query, prog, hits[prog], n, per*n)
			}
		}
		for prog, v := range hits {
			if strings.HasPrefix(prog, "uprobe_sql_") && v != 0 && tc.hits[prog] == 0 {
				t.Errorf("%s: %s ran %d times, want 0", tc.query, prog, v)
			}
		}
		byOp := map[sqlclient.Op]int{}
		var server *httpserver.Event
		var sqlEvents []*sqlclient.Event
		want := 0
		for _, c := range tc.events {
			want += c * n
		}
		deadline := time.Now().Add(10 * time.Second)
		for (len(sqlEvents) < want || server == nil) && time.Now().Before(deadline) {
			_ = tr.Drain(100*time.Millisecond, func(raw []byte) {
				ev, err := Decode(raw)
				if err != nil {
					t.Errorf("decode: %v", err)
					return
				}
				switch e := ev.(type) {
				case *sqlclient.Event:
					byOp[e.Op]++
					sqlEvents = append(sqlEvents, e)
				case *httpserver.Event:
					server = e
				}
			})
		}
		for op, c := range tc.events {
			if byOp[op] != c*n {
				t.Errorf("%s: %d events of op %d, want %d", tc.query, byOp[op], op, c*n)
			}
		}
		if len(sqlEvents) != want || server == nil {
			t.Fatalf("%s: %d sql events (want %d), server span seen %v", tc.query, len(sqlEvents), want, server != nil)
		}
		for _, e := range sqlEvents {
			if !e.IDs.HasParent || e.IDs.ParentSpanID != server.IDs.SpanID || e.IDs.TraceID != server.IDs.TraceID || e.HasError {
				t.Fatalf("%s: event %+v is not an error-free child of the server span %x", tc.query, e, server.IDs.SpanID)
			}
			if (e.Op == sqlclient.OpQuery || e.Op == sqlclient.OpExec) && (!strings.HasPrefix(e.Query, "SELECT 1 WHERE 1 = $1") || (tc.query == "long=1") != (e.QueryLen > 2048)) {
				t.Fatalf("%s: query %q (%d bytes)", tc.query, e.Query, e.QueryLen)
			}
			if e.DB == 0 {
				t.Fatalf("%s: event %+v without its *sql.DB", tc.query, e)
			}
		}
	}
}
