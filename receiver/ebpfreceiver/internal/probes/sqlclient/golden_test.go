package sqlclient

import (
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
)

func ids(trace, span, parent byte) probes.SpanIDs {
	var id probes.SpanIDs
	for i := range id.TraceID {
		id.TraceID[i] = trace + byte(i)
	}
	for i := range id.SpanID {
		id.SpanID[i] = span + byte(i)
	}
	if parent != 0 {
		id.HasParent = true
		for i := range id.ParentSpanID {
			id.ParentSpanID[i] = parent + byte(i)
		}
	}
	return id
}

// Type descriptors of the fake executable.
const (
	typePQConn    = 0x4a1000
	typeMySQLConn = 0x4a2000
	typeOtherConn = 0x4a3000
	typePQErr     = 0x4b1000
	typeMySQLErr  = 0x4b2000
	typeCtxErr    = 0x4b3000
	typePgxConn   = 0x4a4000
	typePgErr     = 0x4b4000
	typePrepErr   = 0x4b5000
	// Pools (*sql.DB) of the fake process.
	dbPQ    = 0xc000100000
	dbMySQL = 0xc000200000
	dbPgx   = 0xc000300000
)

// servers is what the pools' connectors say.
func servers(_ uint32, db uint64) sqlconnector.Server {
	return map[uint64]sqlconnector.Server{
		dbPQ:    {System: "postgresql", Address: "10.0.0.5", Port: 5432, Namespace: "shop"},
		dbMySQL: {System: "mysql", Address: "/run/mysqld/mysqld.sock", Namespace: "stock"},
		dbPgx:   {System: "postgresql", Address: "pg.internal", Port: 6432, Namespace: "app"},
	}[db]
}

func typeNames(_ uint32, addr uint64) string {
	return map[uint64]string{
		typePQConn:    "*pq.conn",
		typeMySQLConn: "*mysql.mysqlConn",
		typeOtherConn: "*wrapped.conn",
		typePQErr:     "*pq.Error",
		typeMySQLErr:  "*mysql.MySQLError",
		typeCtxErr:    "context.deadlineExceededError",
		typePgxConn:   "*stdlib.Conn",
		typePgErr:     "*pgconn.PgError",
		typePrepErr:   "*pgconn.PrepareError",
	}[addr]
}

func goldenEvents() []*Event {
	return []*Event{
		{PID: 7, StartNs: 1_000, EndNs: 9_000, IDs: ids(0x10, 0x40, 0x20), Op: OpQuery, DriverType: typePQConn,
			Query: "SELECT id, total FROM orders WHERE customer = $1 AND note = 'vip'", QueryLen: 64},
		{PID: 7, StartNs: 10_000, EndNs: 12_000, IDs: ids(0x10, 0x41, 0x20), Op: OpBegin, DriverType: typePQConn},
		{PID: 7, StartNs: 12_500, EndNs: 14_000, IDs: ids(0x10, 0x42, 0x20), Op: OpExec, DriverType: typePQConn,
			Query: "INSERT INTO orders (customer, total) VALUES ($1, 42.5)", QueryLen: 54},
		{PID: 7, StartNs: 14_500, EndNs: 15_000, IDs: ids(0x10, 0x43, 0x20), Op: OpCommit, DriverType: typePQConn},
		{PID: 7, StartNs: 16_000, EndNs: 17_000, IDs: ids(0x10, 0x44, 0x20), Op: OpQuery, DriverType: typePQConn,
			Query: "SELECT * FROM missing_table", QueryLen: 27, HasError: true, ErrorType: typePQErr, StatusCode: "42P01"},
		{PID: 7, StartNs: 18_000, EndNs: 19_000, IDs: ids(0x11, 0x45, 0), Op: OpExec, DriverType: typeMySQLConn,
			Query: "UPDATE `stock` SET qty = qty - 1 WHERE sku = \"a-1\"", QueryLen: 48, HasError: true, ErrorType: typeMySQLErr, StatusCode: "1146"},
		{PID: 7, StartNs: 20_000, EndNs: 21_000, IDs: ids(0x11, 0x46, 0), Op: OpRollback, DriverType: typeMySQLConn},
		{PID: 7, StartNs: 22_000, EndNs: 23_000, IDs: ids(0x12, 0x47, 0), Op: OpQuery, DriverType: typeOtherConn,
			Query: "SELECT 1; SELECT 2", QueryLen: 18, HasError: true, ErrorType: typeCtxErr},
		{PID: 7, StartNs: 24_000, EndNs: 25_000, IDs: ids(0x12, 0x48, 0), Op: OpQuery,
			Query: "SELECT a FROM very_long", QueryLen: 4096, HasError: true},
		// A pool whose connector names the server; a prepared statement's
		// exec (no connection type: the system from the connector).
		{PID: 7, StartNs: 26_000, EndNs: 27_000, IDs: ids(0x13, 0x49, 0x21), Op: OpQuery, DriverType: typePQConn, DB: dbPQ,
			Query: "SELECT id FROM orders", QueryLen: 21},
		{PID: 7, StartNs: 27_000, EndNs: 28_000, IDs: ids(0x13, 0x4a, 0x21), Op: OpExec, DB: dbMySQL,
			Query: "INSERT INTO `stock` (sku) VALUES (?)", QueryLen: 36},
		// pgx: a *pgconn.PgError, one wrapped in a *pgconn.PrepareError,
		// and codes read from errors of other types (not kept).
		{PID: 7, StartNs: 28_000, EndNs: 29_000, IDs: ids(0x14, 0x4b, 0), Op: OpQuery, DriverType: typePgxConn, DB: dbPgx,
			Query: "SELECT * FROM missing", QueryLen: 21, HasError: true, ErrorType: typePgErr, Pgx: &PgxCodes{Code: "42P01"}},
		{PID: 7, StartNs: 29_000, EndNs: 30_000, IDs: ids(0x14, 0x4c, 0), Op: OpQuery, DriverType: typePgxConn, DB: dbPgx,
			Query: "SELECT * FROM missing", QueryLen: 21, HasError: true, ErrorType: typePrepErr, Pgx: &PgxCodes{Code: "xx", InnerCode: "42P01", InnerType: typePgErr}},
		{PID: 7, StartNs: 30_000, EndNs: 31_000, IDs: ids(0x14, 0x4d, 0), Op: OpQuery, DriverType: typePgxConn, DB: dbPgx,
			Query: "SELECT 1", QueryLen: 8, HasError: true, ErrorType: typeCtxErr, Pgx: &PgxCodes{Code: "57014", InnerCode: "57014", InnerType: typePgErr}},
		{PID: 7, StartNs: 31_000, EndNs: 32_000, IDs: ids(0x14, 0x4e, 0), Op: OpQuery, DriverType: typePgxConn, DB: dbPgx,
			Query: "SELECT 1", QueryLen: 8, HasError: true, ErrorType: typePrepErr, Pgx: &PgxCodes{InnerCode: "42P01", InnerType: typeCtxErr}},
		{PID: 7, StartNs: 32_000, EndNs: 33_000, IDs: ids(0x14, 0x4f, 0), Op: OpQuery, DriverType: typePgxConn, DB: dbPgx,
			Query: "SELECT 1", QueryLen: 8, HasError: true, ErrorType: typePgErr, Pgx: &PgxCodes{Code: "4\x00P"}},
	}
}

// TestSpansGolden: queries, a transaction, errors with and without a
// database code, unknown drivers, several statements, a truncated one,
// servers named by pools' connectors, pgx's codes kept only under their
// types; without and with query_text.
func TestSpansGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file      string
		queryText bool
	}{{"spans.json", false}, {"spans_query_text.json", true}} {
		env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}, TypeName: typeNames, SQLQueryText: tc.queryText, SQLServer: servers}
		td, ss := probetest.NewScope()
		for _, e := range goldenEvents() {
			e.AppendSpan(ss, env)
		}
		probetest.CompareGolden(t, filepath.Join("testdata", tc.file), td)
	}
}
