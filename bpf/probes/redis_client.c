//go:build ignore

// The go-redis client probe (github.com/redis/go-redis/v9 and
// github.com/go-redis/redis/v8): one CLIENT span per command, pipeline or
// MULTI/EXEC transaction a Client sends.
//
// Every command goes through (*baseClient).process(ctx, cmd Cmder), every
// pipeline through processPipeline(ctx, cmds []Cmder) and every transaction
// through processTxPipeline (cmds wrapped in MULTI ... EXEC), called
// through method values (the "-fm" wrappers) that the client's hook chain
// holds. Where the compiler inlined a method into its wrapper (v8's
// processPipeline, v9.23's process), the wrapper is probed instead, with
// its own entry program (arguments one register earlier, the receiver in
// the closure: DX + 8). One entry and one RET per call: 2 hits per command
// and per pipeline, whatever its size.
//
// Entry and return are paired by goroutine and frame depth (g.stack.hi -
// SP, unchanged by a stack copy, equal at entry and at RET): a command
// nested in another on the same goroutine (the HELLO a new connection sends
// inside the first command) gets a span of its own.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include <bpf/bpf_helpers.h>

#define REDIS_OP_LEN 32
#define REDIS_ERR_LEN 32
#define REDIS_ADDR_LEN 64

// What a span covers (redis_client_event.op_kind).
enum redis_op_kind {
	REDIS_OP_COMMAND = 0,
	REDIS_OP_PIPELINE = 1,
	REDIS_OP_MULTI = 2,
};

// The dynamic type of the returned error (redis_client_event.err_kind).
enum redis_err_kind {
	REDIS_ERR_NONE = 0,
	// A string type: proto.RedisError (an error reply, or redis.Nil); err
	// holds the start of its text.
	REDIS_ERR_STRING = 1,
	// Any other type (I/O errors, timeouts, v9's typed replies); err holds
	// the start of the string its value begins with, if it begins with one.
	REDIS_ERR_OTHER = 2,
};

// Go's type kinds (internal/abi.Kind): the low 5 bits of Type.Kind_, at
// offset 23 of the type descriptor in every Go version; an itab's type is
// at offset 8.
#define GO_KIND_MASK 0x1f
#define GO_KIND_STRING 24
#define GO_TYPE_KIND_OFFSET 23
#define GO_ITAB_TYPE_OFFSET 8

struct redis_client_inflight {
	u64 start_ns;
	u64 client; // *baseClient
	struct span_ids ids;
	u32 batch_size; // commands in a pipeline or transaction
	u8 has_parent;
	u8 op_kind;
	u16 op_len;
	char op[REDIS_OP_LEN];
};

struct redis_client_event {
	struct event_header hdr;
	u32 batch_size;
	u8 op_kind;
	u8 err_kind;
	u16 op_len;
	u16 err_len;
	u16 addr_len;
	u8 has_db;
	u8 pad;
	s64 db; // Options.DB, when has_db
	char op[REDIS_OP_LEN];
	char err[REDIS_ERR_LEN];
	char addr[REDIS_ADDR_LEN];
};

const struct redis_client_event *unused_redis_client_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	// goroutine_key with pad = the frame's depth.
	__type(key, struct goroutine_key);
	__type(value, struct redis_client_inflight);
} redis_client_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct redis_client_inflight);
} redis_client_scratch SEC(".maps");

// The v9 offset where known, else v8's (one set of programs serves both).
#define REDIS_FIELD(off, v9, v8) (known(off, GO_FIELD_GITHUB_COM_REDIS_GO_REDIS_V9_##v9) ? FIELD(off, GITHUB_COM_REDIS_GO_REDIS_V9_##v9) : FIELD(off, GITHUB_COM_GO_REDIS_REDIS_V8_##v8))
#define REDIS_KNOWN(off, v9, v8) (known(off, GO_FIELD_GITHUB_COM_REDIS_GO_REDIS_V9_##v9) || known(off, GO_FIELD_GITHUB_COM_GO_REDIS_REDIS_V8_##v8))

// The key of this call: the goroutine and the depth of the probed frame.
static __always_inline struct goroutine_key redis_call_key(struct pt_regs *ctx)
{
	struct goroutine_key key = current_goroutine(ctx);
	key.pad = (u32)(read_ptr(key.g + G_STACK_HI) - ctx->sp);
	return key;
}

static __always_inline u8 go_type_kind(u64 typ)
{
	u8 kind = 0;
	if (typ)
		bpf_probe_read_user(&kind, 1, (void *)(typ + GO_TYPE_KIND_OFFSET));
	return kind & GO_KIND_MASK;
}

// The command's name: args[0] of the embedded baseCmd (the first field of
// every Cmd type), an interface{} holding a string ("get").
static __always_inline u16 redis_command_name(struct go_offsets *off, u64 cmd, char *dst)
{
	if (!cmd || !REDIS_KNOWN(off, BASECMD_ARGS, BASECMD_ARGS))
		return 0;
	struct go_string args = {}; // ptr and len of the []interface{}
	if (bpf_probe_read_user(&args, sizeof(args), (void *)(cmd + REDIS_FIELD(off, BASECMD_ARGS, BASECMD_ARGS))))
		return 0;
	if (args.len <= 0 || !args.ptr)
		return 0;
	u64 eface[2] = {};
	if (bpf_probe_read_user(eface, sizeof(eface), (void *)args.ptr))
		return 0;
	if (go_type_kind(eface[0]) != GO_KIND_STRING)
		return 0;
	return read_go_string(eface[1], dst, REDIS_OP_LEN);
}

// Set (1) by the loader when pool metrics are on (metrics.db_pools): the
// *baseClient of every command, pipeline and transaction is noted in
// redis_pools, which user space reads every collection interval (its
// connection pool's state, from target memory).
volatile const u32 redis_pools_enabled = 0;

// The *baseClient values a process used, keyed like goroutine maps ({tgid,
// client}: a process's entries go when it exits).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct goroutine_key);
	__type(value, u8);
} redis_pools SEC(".maps");

static __always_inline int redis_enter(struct pt_regs *ctx, u8 kind, u64 client, u64 cmd, s64 ncmds)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	if (redis_pools_enabled && client) {
		struct goroutine_key pk = {.tgid = bpf_get_current_pid_tgid() >> 32, .g = client};
		if (!bpf_map_lookup_elem(&redis_pools, &pk)) {
			u8 one = 1;
			bpf_map_update_elem(&redis_pools, &pk, &one, BPF_NOEXIST);
		}
	}
	u32 zero = 0;
	struct redis_client_inflight *st = bpf_map_lookup_elem(&redis_client_scratch, &zero);
	if (!st)
		return 0;
	struct goroutine_key key = redis_call_key(ctx);
	st->start_ns = bpf_ktime_get_boot_ns();
	st->client = client;
	st->op_kind = kind;
	st->op_len = 0;
	st->batch_size = 0;
	__builtin_memset(&st->ids, 0, sizeof(st->ids));
	st->has_parent = inherit_span(off, &key, &st->ids);
	new_span(&st->ids, st->has_parent);
	if (kind == REDIS_OP_COMMAND) {
		st->op_len = redis_command_name(off, cmd, st->op);
	} else {
		// A transaction's cmds are wrapped in MULTI ... EXEC.
		if (kind == REDIS_OP_MULTI)
			ncmds -= 2;
		st->batch_size = ncmds > 0 ? (u32)ncmds : 0;
	}
	bpf_map_update_elem(&redis_client_calls, &key, st, BPF_ANY);
	return 0;
}

// The receiver of a method value's wrapper: the closure (DX) holds the
// function pointer, then the receiver.
static __always_inline u64 fm_receiver(struct pt_regs *ctx)
{
	return read_ptr(ctx->dx + 8);
}

// (*baseClient).process(ctx, cmd Cmder): c in ax, ctx in bx/cx, cmd (itab,
// data) in di/si.
SEC("uprobe/redis_command_entry")
int uprobe_redis_command_entry(struct pt_regs *ctx)
{
	return redis_enter(ctx, REDIS_OP_COMMAND, GO_PARAM1(ctx), GO_PARAM5(ctx), 0);
}

// (*baseClient).process-fm(ctx, cmd Cmder): ctx in ax/bx, cmd in cx/di.
SEC("uprobe/redis_command_fm_entry")
int uprobe_redis_command_fm_entry(struct pt_regs *ctx)
{
	return redis_enter(ctx, REDIS_OP_COMMAND, fm_receiver(ctx), GO_PARAM4(ctx), 0);
}

// (*baseClient).processPipeline(ctx, cmds []Cmder): c in ax, ctx in bx/cx,
// cmds (ptr, len, cap) in di/si/r8.
SEC("uprobe/redis_pipeline_entry")
int uprobe_redis_pipeline_entry(struct pt_regs *ctx)
{
	return redis_enter(ctx, REDIS_OP_PIPELINE, GO_PARAM1(ctx), 0, (s64)GO_PARAM5(ctx));
}

// processPipeline-fm(ctx, cmds): ctx in ax/bx, cmds in cx/di/si.
SEC("uprobe/redis_pipeline_fm_entry")
int uprobe_redis_pipeline_fm_entry(struct pt_regs *ctx)
{
	return redis_enter(ctx, REDIS_OP_PIPELINE, fm_receiver(ctx), 0, (s64)GO_PARAM4(ctx));
}

SEC("uprobe/redis_multi_entry")
int uprobe_redis_multi_entry(struct pt_regs *ctx)
{
	return redis_enter(ctx, REDIS_OP_MULTI, GO_PARAM1(ctx), 0, (s64)GO_PARAM5(ctx));
}

SEC("uprobe/redis_multi_fm_entry")
int uprobe_redis_multi_fm_entry(struct pt_regs *ctx)
{
	return redis_enter(ctx, REDIS_OP_MULTI, fm_receiver(ctx), 0, (s64)GO_PARAM4(ctx));
}

// Every RET of the probed functions: the result, error (itab, data), in
// ax/bx.
SEC("uprobe/redis_return")
int uprobe_redis_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = redis_call_key(ctx);
	struct redis_client_inflight *st = bpf_map_lookup_elem(&redis_client_calls, &key);
	if (!st)
		return 0;
	struct redis_client_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	fill_header(&e->hdr, EVENT_REDIS_CLIENT, key.tgid, st->start_ns, &st->ids, st->has_parent);
	e->batch_size = st->batch_size;
	e->op_kind = st->op_kind;
	e->pad = 0;
	e->has_db = 0;
	e->db = 0;
	u16 n = st->op_len;
	if (n > REDIS_OP_LEN)
		n = REDIS_OP_LEN;
	__builtin_memcpy(e->op, st->op, REDIS_OP_LEN);
	e->op_len = n;
	e->err_kind = REDIS_ERR_NONE;
	e->err_len = 0;
	u64 itab = GO_PARAM1(ctx);
	if (itab) {
		// proto.RedisError is a string type: the interface's data points
		// to a string header. Any other error is read as a value that
		// may begin with a string (v9's *proto.LoadingError{msg}, ...);
		// user space keeps only an upper-case reply prefix from it.
		u64 data = GO_PARAM2(ctx);
		e->err_kind = go_type_kind(read_ptr(itab + GO_ITAB_TYPE_OFFSET)) == GO_KIND_STRING ? REDIS_ERR_STRING : REDIS_ERR_OTHER;
		if (data)
			e->err_len = read_go_string(data, e->err, REDIS_ERR_LEN);
	}
	e->addr_len = 0;
	if (REDIS_KNOWN(off, BASECLIENT_OPT, BASECLIENT_OPT)) {
		u64 opt = read_ptr(st->client + REDIS_FIELD(off, BASECLIENT_OPT, BASECLIENT_OPT));
		if (opt && REDIS_KNOWN(off, OPTIONS_ADDR, OPTIONS_ADDR))
			e->addr_len = read_go_string(opt + REDIS_FIELD(off, OPTIONS_ADDR, OPTIONS_ADDR), e->addr, REDIS_ADDR_LEN);
		if (opt && REDIS_KNOWN(off, OPTIONS_DB, OPTIONS_DB) &&
		    bpf_probe_read_user(&e->db, sizeof(e->db), (void *)(opt + REDIS_FIELD(off, OPTIONS_DB, OPTIONS_DB))) == 0)
			e->has_db = 1;
	}
	submit(e);
out:
	bpf_map_delete_elem(&redis_client_calls, &key);
	return 0;
}
