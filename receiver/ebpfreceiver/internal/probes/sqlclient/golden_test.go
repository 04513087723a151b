package sqlclient

import (
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
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
)

func typeNames(_ uint32, addr uint64) string {
	return map[uint64]string{
		typePQConn:    "*pq.conn",
		typeMySQLConn: "*mysql.mysqlConn",
		typeOtherConn: "*wrapped.conn",
		typePQErr:     "*pq.Error",
		typeMySQLErr:  "*mysql.MySQLError",
		typeCtxErr:    "context.deadlineExceededError",
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
	}
}

// TestSpansGolden: queries, a transaction, errors with and without a
// database code, unknown drivers, several statements, a truncated one;
// without and with query_text.
func TestSpansGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file      string
		queryText bool
	}{{"spans.json", false}, {"spans_query_text.json", true}} {
		env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}, TypeName: typeNames, SQLQueryText: tc.queryText}
		td, ss := probetest.NewScope()
		for _, e := range goldenEvents() {
			e.AppendSpan(ss, env)
		}
		probetest.CompareGolden(t, filepath.Join("testdata", tc.file), td)
	}
}
