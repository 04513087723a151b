//go:build ignore

// The database/sql client probe: one CLIENT span per query or exec and per
// transaction begin, commit and rollback, whatever the driver.
//
// Each probed function is probed at its entry and at every RET (2 hits per
// call): (*DB).queryDC and (*DB).execDC (every Query/Exec of a DB, a Conn or
// a Tx goes through them, after a connection was taken from the pool),
// (*Stmt).ExecContext and (*Stmt).QueryContext (prepared statements, of a
// DB, a Conn or a Tx, which go through neither: the span includes the wait
// for a connection and a re-prepare on a new one),
// (*DB).beginDC, (*Tx).Commit and (*Tx).rollback (Rollback is small enough
// to be inlined into its callers; rollback is not). A rollback of a
// transaction already committed or rolled back (the usual deferred
// tx.Rollback(), and the one database/sql's awaitDone goroutine makes when
// every transaction ends) does nothing and gets no span; its entry and RET
// still run (2 hits, the RET finds no state).
//
// The span's parent is the span the calling goroutine works for
// (goroutines.h). At entry the statement's first SQL_QUERY_LEN bytes are
// copied (the cost does not grow beyond that with the statement's length),
// and the dynamic type of the connection's driver.Conn is noted: user space
// names it (*pq.conn, *mysql.mysqlConn, ...) and derives db.system.name.
// At return the error's dynamic type, and for lib/pq's *pq.Error, pgx v5's
// *pgconn.PgError and go-sql-driver's *mysql.MySQLError their code, are
// read: compared with the drivers' error types when DWARF gave them, else
// read where each driver linked in keeps its code, for user space to keep
// the one whose type the error is. Every event carries the *sql.DB the call used: user space names
// the server from the pool's connector.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include <bpf/bpf_helpers.h>

#define SQL_QUERY_LEN 512
#define SQL_CODE_LEN 8

// What was called (sql_client_event.op).
enum sql_op {
	SQL_OP_QUERY = 1,
	SQL_OP_EXEC = 2,
	SQL_OP_BEGIN = 3,
	SQL_OP_COMMIT = 4,
	SQL_OP_ROLLBACK = 5,
};

// What sql_client_event.code holds.
enum sql_code_kind {
	SQL_CODE_NONE = 0,
	SQL_CODE_SQLSTATE = 1, // code: lib/pq's Error.Code (5 characters)
	SQL_CODE_NUMBER = 2,   // error_number: MySQLError.Number
	// The error's type could not be compared here (pgx's error types are
	// never known; lib/pq's and go-sql-driver's only from DWARF): untyped
	// says which drivers' codes were read where each keeps it, and user
	// space keeps a code only when the error's type (which it names) is
	// that driver's.
	SQL_CODE_UNTYPED = 3,
};

// What an SQL_CODE_UNTYPED event read (sql_client_event.untyped, bits).
enum sql_untyped {
	// pgx v5: code is what the error holds where *pgconn.PgError keeps its
	// Code, inner_code the same of the error a *pgconn.PrepareError wraps
	// (its first field), whose type is inner_error_type.
	SQL_UNTYPED_PGX = 1,
	// lib/pq: pq_code is what the error holds where *pq.Error keeps Code.
	SQL_UNTYPED_PQ = 2,
	// go-sql-driver/mysql: error_number is what the error holds where
	// *mysql.MySQLError keeps Number.
	SQL_UNTYPED_MYSQL = 4,
};

struct sql_client_inflight {
	u64 start_ns;
	u64 bias; // the PIE's load bias (0 for a non-PIE executable)
	u64 driver_type;
	u64 db;
	struct span_ids ids;
	u8 has_parent;
	u8 op;
	u16 query_len;
	u32 query_full_len;
	char query[SQL_QUERY_LEN];
};

struct sql_client_event {
	struct event_header hdr;
	// Unrelocated addresses of type descriptors (goexe.Executable.TypeName):
	// the driver.Conn's dynamic type, the returned error's (0: unknown, or
	// no error).
	u64 driver_type;
	u64 error_type;
	// The *sql.DB (relocated address in the process; 0: unknown).
	u64 db;
	u8 op;        // enum sql_op
	u8 has_error; // the call returned a non-nil error
	u8 code_kind; // enum sql_code_kind
	u8 untyped;   // enum sql_untyped bits (SQL_CODE_UNTYPED)
	u16 query_len;      // bytes of query copied
	u16 code_len;       // bytes of code copied
	u32 query_full_len; // the statement's length (truncated when larger than query_len)
	u16 error_number;
	u16 inner_code_len;
	u16 pq_code_len;
	u16 pad;
	u32 pad2;
	u64 inner_error_type;
	char inner_code[SQL_CODE_LEN];
	char code[SQL_CODE_LEN];
	char pq_code[SQL_CODE_LEN];
	char query[SQL_QUERY_LEN];
};

const struct sql_client_event *unused_sql_client_event __attribute__((unused));

// Set (1) by the loader when database/sql pool metrics are on
// (metrics.db_pools): the *DB of every query, exec and begin is noted in
// sql_pools, which user space reads every collection interval.
volatile const u32 sql_pools_enabled = 0;

// The *sql.DB values a process used, keyed like goroutine maps ({tgid, db}:
// a process's entries go when it exits).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct goroutine_key);
	__type(value, u8);
} sql_pools SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, struct sql_client_inflight);
} sql_client_calls SEC(".maps");

// Scratch for the in-flight state (too large for the BPF stack).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct sql_client_inflight);
} sql_client_scratch SEC(".maps");

// The dynamic type of the non-empty interface whose itab is itab: the
// itab's second word (runtime.itab / internal/abi.ITab, Go 1.17-1.26),
// unrelocated.
static __always_inline u64 iface_type(u64 itab, u64 bias)
{
	if (!itab)
		return 0;
	u64 t = read_ptr(itab + 8);
	return t ? t - bias : 0;
}

// Notes a call's start: entry is the probed function's unrelocated entry
// (a field of go_offsets, set by the Go side), db the *DB, dc the
// *driverConn (0 when not at hand), query the statement (0, 0 for none).
static __always_inline int sql_start(struct pt_regs *ctx, struct go_offsets *off, u8 op, u64 entry, u64 db, u64 dc, u64 qptr, s64 qlen)
{
	if (sql_pools_enabled && (op == SQL_OP_QUERY || op == SQL_OP_EXEC || op == SQL_OP_BEGIN) && db) {
		struct goroutine_key pk = {.tgid = bpf_get_current_pid_tgid() >> 32, .g = db};
		if (!bpf_map_lookup_elem(&sql_pools, &pk)) {
			u8 one = 1;
			bpf_map_update_elem(&sql_pools, &pk, &one, BPF_NOEXIST);
		}
	}
	u32 zero = 0;
	struct sql_client_inflight *st = bpf_map_lookup_elem(&sql_client_scratch, &zero);
	if (!st)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	st->start_ns = bpf_ktime_get_boot_ns();
	st->bias = entry != GO_FIELD_UNKNOWN ? ctx->ip - entry : 0;
	st->op = op;
	st->db = db;
	st->driver_type = 0;
	if (dc && known(off, GO_FIELD_DATABASE_SQL_DRIVERCONN_CI))
		st->driver_type = iface_type(read_ptr(dc + FIELD(off, DATABASE_SQL_DRIVERCONN_CI)), st->bias);
	__builtin_memset(&st->ids, 0, sizeof(st->ids));
	st->has_parent = inherit_span(off, &key, &st->ids);
	new_span(&st->ids, st->has_parent);
	u32 n = qlen > SQL_QUERY_LEN ? SQL_QUERY_LEN : (qlen < 0 ? 0 : (u32)qlen);
	st->query_full_len = qlen < 0 ? 0 : (qlen > 0xffffffffLL ? 0xffffffff : (u32)qlen);
	st->query_len = 0;
	if (qptr && n > 0 && n <= SQL_QUERY_LEN) {
		if (bpf_probe_read_user(st->query, n, (void *)qptr) == 0) {
			st->query_len = (u16)n;
		} else {
			// A statement running into a page not yet faulted in (a
			// uprobe cannot fault it): keep what the first page holds.
			u32 first = 4096 - (u32)(qptr & 4095);
			if (first < n && first > 0 && first <= SQL_QUERY_LEN && bpf_probe_read_user(st->query, first, (void *)qptr) == 0)
				st->query_len = (u16)first;
		}
	}
	bpf_map_update_elem(&sql_client_calls, &key, st, BPF_ANY);
	return 0;
}

// Sends the span of the call the current goroutine returns from; err_itab
// and err_data are the returned error.
static __always_inline int sql_end(struct pt_regs *ctx, u64 err_itab, u64 err_data)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct sql_client_inflight *st = bpf_map_lookup_elem(&sql_client_calls, &key);
	if (!st)
		return 0;
	struct sql_client_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	fill_header(&e->hdr, EVENT_SQL_CLIENT, key.tgid, st->start_ns, &st->ids, st->has_parent);
	e->driver_type = st->driver_type;
	e->db = st->db;
	e->op = st->op;
	e->untyped = 0;
	e->pad = 0;
	e->pad2 = 0;
	e->inner_code_len = 0;
	e->pq_code_len = 0;
	e->inner_error_type = 0;
	__builtin_memset(e->inner_code, 0, SQL_CODE_LEN);
	__builtin_memset(e->pq_code, 0, SQL_CODE_LEN);
	e->has_error = err_itab != 0;
	e->error_type = iface_type(err_itab, st->bias);
	e->code_kind = SQL_CODE_NONE;
	e->code_len = 0;
	e->error_number = 0;
	__builtin_memset(e->code, 0, SQL_CODE_LEN);
	if (err_data && e->error_type) {
		if (known(off, GO_FIELD_GITHUB_COM_LIB_PQ___ERROR__TYPE) && known(off, GO_FIELD_GITHUB_COM_LIB_PQ_ERROR_CODE) &&
		    e->error_type == FIELD(off, GITHUB_COM_LIB_PQ___ERROR__TYPE)) {
			e->code_len = read_go_string(err_data + FIELD(off, GITHUB_COM_LIB_PQ_ERROR_CODE), e->code, SQL_CODE_LEN);
			e->code_kind = SQL_CODE_SQLSTATE;
		} else if (known(off, GO_FIELD_GITHUB_COM_GO_SQL_DRIVER_MYSQL___MYSQLERROR__TYPE) &&
			   known(off, GO_FIELD_GITHUB_COM_GO_SQL_DRIVER_MYSQL_MYSQLERROR_NUMBER) &&
			   e->error_type == FIELD(off, GITHUB_COM_GO_SQL_DRIVER_MYSQL___MYSQLERROR__TYPE)) {
			u16 num = 0;
			if (bpf_probe_read_user(&num, sizeof(num), (void *)(err_data + FIELD(off, GITHUB_COM_GO_SQL_DRIVER_MYSQL_MYSQLERROR_NUMBER))) == 0) {
				e->error_number = num;
				e->code_kind = SQL_CODE_NUMBER;
			}
		} else {
			// Read where each driver linked in keeps its code (a failed
			// read leaves it empty); user space checks the types.
			u8 untyped = 0;
			if (known(off, GO_FIELD_GITHUB_COM_JACKC_PGX_V5_PGCONN_PGERROR_CODE) &&
			    known(off, GO_FIELD_GITHUB_COM_JACKC_PGX_V5_PGCONN_PREPAREERROR_ERR)) {
				u64 code_off = FIELD(off, GITHUB_COM_JACKC_PGX_V5_PGCONN_PGERROR_CODE);
				e->code_len = read_go_string(err_data + code_off, e->code, SQL_CODE_LEN);
				u64 inner[2] = {0, 0};
				if (bpf_probe_read_user(inner, sizeof(inner), (void *)(err_data + FIELD(off, GITHUB_COM_JACKC_PGX_V5_PGCONN_PREPAREERROR_ERR))) == 0 && inner[1]) {
					e->inner_error_type = iface_type(inner[0], st->bias);
					e->inner_code_len = read_go_string(inner[1] + code_off, e->inner_code, SQL_CODE_LEN);
				}
				untyped |= SQL_UNTYPED_PGX;
			}
			if (known(off, GO_FIELD_GITHUB_COM_LIB_PQ_ERROR_CODE) && !known(off, GO_FIELD_GITHUB_COM_LIB_PQ___ERROR__TYPE)) {
				e->pq_code_len = read_go_string(err_data + FIELD(off, GITHUB_COM_LIB_PQ_ERROR_CODE), e->pq_code, SQL_CODE_LEN);
				untyped |= SQL_UNTYPED_PQ;
			}
			if (known(off, GO_FIELD_GITHUB_COM_GO_SQL_DRIVER_MYSQL_MYSQLERROR_NUMBER) &&
			    !known(off, GO_FIELD_GITHUB_COM_GO_SQL_DRIVER_MYSQL___MYSQLERROR__TYPE)) {
				u16 num = 0;
				if (bpf_probe_read_user(&num, sizeof(num), (void *)(err_data + FIELD(off, GITHUB_COM_GO_SQL_DRIVER_MYSQL_MYSQLERROR_NUMBER))) == 0) {
					e->error_number = num;
					untyped |= SQL_UNTYPED_MYSQL;
				}
			}
			if (untyped) {
				e->code_kind = SQL_CODE_UNTYPED;
				e->untyped = untyped;
			}
		}
	}
	u16 n = st->query_len;
	if (n > SQL_QUERY_LEN)
		n = SQL_QUERY_LEN;
	e->query_len = n;
	e->query_full_len = st->query_full_len;
	__builtin_memcpy(e->query, st->query, SQL_QUERY_LEN);
	submit(e);
out:
	bpf_map_delete_elem(&sql_client_calls, &key);
	return 0;
}

// (*DB).queryDC(ctx, txctx context.Context, dc *driverConn, releaseConn
// func(error), query string, args []any) (*Rows, error): db in ax, ctx in
// bx/cx, txctx in di/si, dc in r8, releaseConn in r9, query in r10/r11.
SEC("uprobe/sql_query_entry")
int uprobe_sql_query_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	return sql_start(ctx, off, SQL_OP_QUERY, FIELD(off, DATABASE_SQL___DB__QUERYDC), GO_PARAM1(ctx), ctx->r8, ctx->r10, (s64)ctx->r11);
}

// queryDC's results: *Rows in ax, error in bx/cx.
SEC("uprobe/sql_query_return")
int uprobe_sql_query_return(struct pt_regs *ctx)
{
	return sql_end(ctx, GO_PARAM2(ctx), GO_PARAM3(ctx));
}

// (*DB).execDC(ctx context.Context, dc *driverConn, release func(error),
// query string, args []any) (Result, error): db in ax, ctx in bx/cx, dc in
// di, release in si, query in r8/r9.
SEC("uprobe/sql_exec_entry")
int uprobe_sql_exec_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	return sql_start(ctx, off, SQL_OP_EXEC, FIELD(off, DATABASE_SQL___DB__EXECDC), GO_PARAM1(ctx), GO_PARAM4(ctx), ctx->r8, (s64)ctx->r9);
}

// execDC's results: Result in ax/bx, error in cx/di.
SEC("uprobe/sql_exec_return")
int uprobe_sql_exec_return(struct pt_regs *ctx)
{
	return sql_end(ctx, GO_PARAM3(ctx), GO_PARAM4(ctx));
}

// (*DB).beginDC(ctx context.Context, dc *driverConn, release func(error),
// opts *TxOptions) (*Tx, error): dc in di.
SEC("uprobe/sql_begin_entry")
int uprobe_sql_begin_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	return sql_start(ctx, off, SQL_OP_BEGIN, FIELD(off, DATABASE_SQL___DB__BEGINDC), GO_PARAM1(ctx), GO_PARAM4(ctx), 0, 0);
}

// beginDC's results: *Tx in ax, error in bx/cx.
SEC("uprobe/sql_begin_return")
int uprobe_sql_begin_return(struct pt_regs *ctx)
{
	return sql_end(ctx, GO_PARAM2(ctx), GO_PARAM3(ctx));
}

static __always_inline u64 tx_conn(struct go_offsets *off, u64 tx)
{
	if (!tx || !known(off, GO_FIELD_DATABASE_SQL_TX_DC))
		return 0;
	return read_ptr(tx + FIELD(off, DATABASE_SQL_TX_DC));
}

static __always_inline u64 tx_db(struct go_offsets *off, u64 tx)
{
	if (!tx || !known(off, GO_FIELD_DATABASE_SQL_TX_DB))
		return 0;
	return read_ptr(tx + FIELD(off, DATABASE_SQL_TX_DB));
}

// (*Tx).Commit() error: tx in ax.
SEC("uprobe/sql_commit_entry")
int uprobe_sql_commit_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	u64 tx = GO_PARAM1(ctx);
	return sql_start(ctx, off, SQL_OP_COMMIT, FIELD(off, DATABASE_SQL___TX__COMMIT), tx_db(off, tx), tx_conn(off, tx), 0, 0);
}

// (*Tx).rollback(discardConn bool) error: tx in ax. Nothing happens when
// the transaction is already done (Tx.done set: int32 before Go 1.20,
// atomic.Bool since, both a 32-bit word): no span.
SEC("uprobe/sql_rollback_entry")
int uprobe_sql_rollback_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	u64 tx = GO_PARAM1(ctx);
	if (tx && known(off, GO_FIELD_DATABASE_SQL_TX_DONE)) {
		u32 done = 0;
		bpf_probe_read_user(&done, sizeof(done), (void *)(tx + FIELD(off, DATABASE_SQL_TX_DONE)));
		if (done)
			return 0;
	}
	return sql_start(ctx, off, SQL_OP_ROLLBACK, FIELD(off, DATABASE_SQL___TX__ROLLBACK), tx_db(off, tx), tx_conn(off, tx), 0, 0);
}

// Commit's and rollback's result: error in ax/bx.
SEC("uprobe/sql_tx_end_return")
int uprobe_sql_tx_end_return(struct pt_regs *ctx)
{
	return sql_end(ctx, GO_PARAM1(ctx), GO_PARAM2(ctx));
}

// A prepared statement's call, (*Stmt).ExecContext or QueryContext(ctx,
// args ...any): s in ax. The statement is Stmt.query, the pool Stmt.db;
// no connection is held yet (the driver is named from the pool's
// connector in user space).
static __always_inline int sql_stmt_start(struct pt_regs *ctx, struct go_offsets *off, u8 op, u64 entry)
{
	u64 s = GO_PARAM1(ctx);
	if (!s || !known(off, GO_FIELD_DATABASE_SQL_STMT_QUERY) || !known(off, GO_FIELD_DATABASE_SQL_STMT_DB))
		return 0;
	u64 db = read_ptr(s + FIELD(off, DATABASE_SQL_STMT_DB));
	u64 q[2] = {0, 0};
	bpf_probe_read_user(q, sizeof(q), (void *)(s + FIELD(off, DATABASE_SQL_STMT_QUERY)));
	return sql_start(ctx, off, op, entry, db, 0, q[0], (s64)q[1]);
}

SEC("uprobe/sql_stmt_exec_entry")
int uprobe_sql_stmt_exec_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	return sql_stmt_start(ctx, off, SQL_OP_EXEC, FIELD(off, DATABASE_SQL___STMT__EXECCONTEXT));
}

// (*Stmt).ExecContext returns (Result, error) like execDC
// (sql_exec_return), QueryContext (*Rows, error) like queryDC
// (sql_query_return).
SEC("uprobe/sql_stmt_query_entry")
int uprobe_sql_stmt_query_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	return sql_stmt_start(ctx, off, SQL_OP_QUERY, FIELD(off, DATABASE_SQL___STMT__QUERYCONTEXT));
}
