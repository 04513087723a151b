//go:build ignore

// HTTP server and client probes for unmodified Go programs (net/http).
//
// One program set serves every instrumented process. Each uprobe carries a
// cookie naming the binary it was attached to; the cookie selects that
// binary's struct field offsets in go_offsets. Probes sit at function entry
// and at every RET instruction of the function (never uretprobes: Go moves
// goroutine stacks), and entry/return are paired by (tgid, goroutine).
//
// Hits per request: server 2 (ServeHTTP entry + one RET), client 2
// (Transport.roundTrip entry + one RET). A handler that panics never reaches
// a RET: runtime.gopanic (entry) and the resume of runtime.recovery (its call
// of gogo) are probed, and run only when a program panics and recovers, so a
// request that does not panic costs no extra hit. A client call made from a goroutine
// the handler started finds the server span through runtime.g.parentGoid
// (Go >= 1.21) at no extra hit; without that field, runtime.newproc1 is
// probed at its RETs (1 hit per goroutine created) to copy the span context
// to the new goroutine.

#include "goebpf.h"
#include "go_fields.h"
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual MIT/GPL";

#define METHOD_LEN 8
#define PATH_LEN 128
#define PATTERN_LEN 64
#define HOST_LEN 64
#define REMOTE_LEN 64
#define SCHEME_LEN 8
#define QUERY_LEN 64
#define PANIC_MSG_LEN 64

// Largest request head scanned for trace context headers. net/http's
// connection reader is a 4 KiB bufio.Reader, so this covers all of it.
#define HEAD_SCAN_LEN 4096

enum event_kind {
	EVENT_HTTP_SERVER = 1,
	EVENT_HTTP_CLIENT = 2,
};

// Indexes into probe_hits.
enum hit_index {
	HIT_SERVER_ENTRY = 0,
	HIT_SERVER_RETURN = 1,
	HIT_CLIENT_ENTRY = 2,
	HIT_CLIENT_RETURN = 3,
	HIT_NEWPROC_RETURN = 4,
	HIT_EMPTY = 5,
	HIT_PANIC = 6,
	HIT_RECOVERY = 7,
	HIT_MAX = 8,
};

// runtime.g.stack.hi: g starts with stack{lo, hi} in every Go version.
#define G_STACK_HI 8

// http_server_event.status when it could not be read.
#define STATUS_UNKNOWN 0xffff

// extract_flags
#define EXTRACT_TRACECONTEXT (1 << 0)
#define EXTRACT_B3 (1 << 1)

// Struct field offsets of one Go binary by field ID (GO_FIELD_UNKNOWN where
// not known), filled by the loader from DWARF or the offsets table for the
// binary's Go version.
struct go_offsets {
	u64 field[GO_FIELD_COUNT];
	u64 gopanic_vaddr; // unrelocated address of runtime.gopanic (load bias of PIE)
};

#define FIELD(off, name) ((off)->field[GO_FIELD_##name])

static __always_inline int known(struct go_offsets *off, enum go_field f)
{
	return off->field[f] != GO_FIELD_UNKNOWN;
}

// runtime.g.{m,goid} and runtime.m.curg: span context follows goroutines.
static __always_inline int has_goroutine(struct go_offsets *off)
{
	return known(off, GO_FIELD_RUNTIME_G_M) && known(off, GO_FIELD_RUNTIME_G_GOID) && known(off, GO_FIELD_RUNTIME_M_CURG);
}

// response.conn, conn.bufr, bufio.Reader.{buf,r}: the request head can be
// scanned for trace context.
static __always_inline int has_head_scan(struct go_offsets *off)
{
	return known(off, GO_FIELD_NET_HTTP_RESPONSE_CONN) && known(off, GO_FIELD_NET_HTTP_CONN_BUFR) &&
	       known(off, GO_FIELD_BUFIO_READER_BUF) && known(off, GO_FIELD_BUFIO_READER_R);
}

// http2responseWriter.rws and http2responseWriterState.status: the status
// of HTTP/2 requests.
static __always_inline int has_h2_status(struct go_offsets *off)
{
	return known(off, GO_FIELD_NET_HTTP_HTTP2RESPONSEWRITER_RWS) && known(off, GO_FIELD_NET_HTTP_HTTP2RESPONSEWRITERSTATE_STATUS);
}

struct span_ids {
	u8 trace_id[16];
	u8 span_id[8];
	u8 parent_span_id[8];
};

struct goroutine_key {
	u32 tgid;
	u32 pad;
	u64 g;
};

// The span a goroutine works for, keyed by goroutine id (never reused,
// unlike g structs), or by g pointer when the goid offset is unknown.
struct span_context {
	u8 trace_id[16];
	u8 span_id[8];
};

struct server_inflight {
	u64 start_ns;
	u64 request;
	u64 response;
	// g.stack.hi - SP at ServeHTTP entry: how deep the frame is, which a
	// stack copy does not change.
	u64 entry_depth;
	struct span_ids ids;
	u8 has_parent;
	u8 panicking; // runtime.gopanic ran in this goroutine since entry
	u16 panic_msg_len;
	u32 pad;
	u64 panic_type; // unrelocated address of the panic value's type
	char panic_msg[PANIC_MSG_LEN];
};

struct client_inflight {
	u64 start_ns;
	u64 request;
	struct span_ids ids;
	u8 has_parent;
};

struct http_server_event {
	u8 kind;
	u8 proto_major;
	u8 proto_minor;
	u8 has_parent;
	u32 pid;
	u64 start_ns; // CLOCK_BOOTTIME
	u64 end_ns;
	struct span_ids ids;
	u16 status;
	u16 method_len;
	u16 path_len;
	u16 pattern_len;
	u16 host_len;
	u16 remote_len;
	u8 tls; // 0: unknown, 1: plain, 2: TLS
	u8 panicked; // the handler panicked and net/http recovered
	u16 query_len;
	u16 panic_msg_len;
	u16 pad16[3];
	u64 panic_type; // unrelocated address of the panic value's type (0: unknown)
	char method[METHOD_LEN];
	char path[PATH_LEN];
	char pattern[PATTERN_LEN];
	char host[HOST_LEN];
	char remote[REMOTE_LEN];
	char query[QUERY_LEN];
	char panic_msg[PANIC_MSG_LEN];
};

struct http_client_event {
	u8 kind;
	u8 has_response;
	u8 has_error;
	u8 has_parent;
	u32 pid;
	u8 has_user; // the URL carries user info (credentials): never read, only flagged
	u8 pad8[7];
	u64 start_ns;
	u64 end_ns;
	struct span_ids ids;
	u16 status;
	u16 method_len;
	u16 scheme_len;
	u16 host_len;
	u16 path_len;
	u16 query_len;
	u16 pad[2];
	char method[METHOD_LEN];
	char scheme[SCHEME_LEN];
	char host[HOST_LEN];
	char path[PATH_LEN];
	char query[QUERY_LEN];
};

// Force the types into BTF so bpf2go generates Go equivalents.
const struct http_server_event *unused_server_event __attribute__((unused));
const struct http_client_event *unused_client_event __attribute__((unused));
const struct go_offsets *unused_go_offsets __attribute__((unused));

// Set by the loader before load.
volatile const u32 extract_flags = 0;
// Whether server spans read url.RawQuery (traces.http.capture_query).
volatile const u32 capture_query = 1;
// Submit with a wakeup once this many bytes wait in the ring; below it the
// reader drains on its own timer (BPF_RB_NO_WAKEUP avoids a wakeup per event).
volatile const u64 wakeup_threshold = 1 << 20;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23); // resized by the loader (ring_buffer_size)
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct go_offsets);
} go_offsets_by_cookie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct server_inflight);
} server_requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct client_inflight);
} client_requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct goroutine_key);
	__type(value, struct span_context);
} span_by_goroutine SEC(".maps");

// Failed ring buffer reservations (events lost), per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} ringbuf_drops SEC(".maps");

// Probe hits by hit_index, per CPU: the benchmark's hits-per-request figure.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIT_MAX);
	__type(key, u32);
	__type(value, u64);
} probe_hits SEC(".maps");

// Scratch space for the request head copy (too large for the BPF stack).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u8[HEAD_SCAN_LEN]);
} head_scratch SEC(".maps");

static __always_inline void count_hit(u32 idx)
{
	u64 *v = bpf_map_lookup_elem(&probe_hits, &idx);
	if (v)
		*v += 1;
}

static __always_inline void count_drop(void)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&ringbuf_drops, &zero);
	if (v)
		*v += 1;
}

static __always_inline void submit(void *e)
{
	u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_threshold)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

static __always_inline struct go_offsets *offsets_for(struct pt_regs *ctx)
{
	u32 cookie = (u32)bpf_get_attach_cookie(ctx);
	return bpf_map_lookup_elem(&go_offsets_by_cookie, &cookie);
}

static __always_inline struct goroutine_key current_goroutine(struct pt_regs *ctx)
{
	struct goroutine_key k = {};
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.g = GO_G(ctx);
	return k;
}

static __always_inline u64 read_ptr(u64 addr);

// span_key identifies the current goroutine for span_by_goroutine.
static __always_inline struct goroutine_key span_key(struct go_offsets *off, u32 tgid, u64 g)
{
	struct goroutine_key k = {.tgid = tgid, .g = g};
	if (has_goroutine(off))
		k.g = read_ptr(g + FIELD(off, RUNTIME_G_GOID));
	return k;
}

static __always_inline void random_bytes(u8 *dst, int n)
{
#pragma unroll
	for (int i = 0; i < 16; i += 4) {
		if (i >= n)
			break;
		u32 r = bpf_get_prandom_u32();
		__builtin_memcpy(dst + i, &r, 4);
	}
}

static __always_inline u64 read_ptr(u64 addr)
{
	u64 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

struct go_string {
	u64 ptr;
	s64 len;
};

// Copies at most cap bytes of the Go string at addr into dst; returns the
// number of bytes copied.
static __always_inline u16 read_go_string(u64 addr, char *dst, u32 cap)
{
	struct go_string s = {};
	if (bpf_probe_read_user(&s, sizeof(s), (void *)addr))
		return 0;
	if (s.len <= 0 || s.ptr == 0)
		return 0;
	u32 n = s.len > cap ? cap : (u32)s.len;
	if (n > cap)
		return 0;
	if (bpf_probe_read_user(dst, n, (void *)s.ptr))
		return 0;
	return (u16)n;
}

// ---------------------------------------------------------------------------
// Trace context extraction from the raw request head.

struct head_scan {
	u8 *buf;
	u32 len;
	u32 flags;
	int found; // 1 traceparent, 2 b3
	struct span_ids *ids;
};

static __always_inline int hex_value(u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static __always_inline u8 lower(u8 c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static __always_inline u8 at(struct head_scan *s, u32 i)
{
	// Keep the mask: clang drops it where it can prove i < len <= 4 KiB,
	// which the verifier cannot (it compares no two unknown registers).
	asm volatile("" : "+r"(i));
	return s->buf[i & (HEAD_SCAN_LEN - 1)];
}

// Decodes 2*n hex digits at buf[i..] into dst; returns 0 on success.
static __always_inline int decode_hex(struct head_scan *s, u32 i, u8 *dst, int n)
{
	for (int k = 0; k < 16; k++) {
		if (k >= n)
			break;
		int hi = hex_value(at(s, i + 2 * k));
		int lo = hex_value(at(s, i + 2 * k + 1));
		if (hi < 0 || lo < 0)
			return -1;
		dst[k] = (u8)(hi << 4 | lo);
	}
	return 0;
}

static __always_inline int all_zero(const u8 *b, int n)
{
	for (int k = 0; k < 16; k++) {
		if (k >= n)
			break;
		if (b[k])
			return 0;
	}
	return 1;
}

// traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
static __always_inline int parse_traceparent(struct head_scan *s, u32 i)
{
	if (i + 55 > s->len)
		return 0;
	if (at(s, i + 2) != '-' || at(s, i + 35) != '-' || at(s, i + 52) != '-')
		return 0;
	if (at(s, i) == 'f' && at(s, i + 1) == 'f')
		return 0;
	struct span_ids *ids = s->ids;
	if (decode_hex(s, i + 3, ids->trace_id, 16) || decode_hex(s, i + 36, ids->parent_span_id, 8))
		return 0;
	if (all_zero(ids->trace_id, 16) || all_zero(ids->parent_span_id, 8))
		return 0;
	return 1;
}

// b3: <32 or 16 hex trace id>-<16 hex span id>[-...]
static __always_inline int parse_b3(struct head_scan *s, u32 i)
{
	struct span_ids *ids = s->ids;
	if (i + 49 <= s->len && at(s, i + 32) == '-') {
		if (decode_hex(s, i, ids->trace_id, 16) || decode_hex(s, i + 33, ids->parent_span_id, 8))
			return 0;
	} else if (i + 33 <= s->len && at(s, i + 16) == '-') {
		__builtin_memset(ids->trace_id, 0, 8);
		if (decode_hex(s, i, ids->trace_id + 8, 8) || decode_hex(s, i + 17, ids->parent_span_id, 8))
			return 0;
	} else {
		return 0;
	}
	if (all_zero(ids->trace_id, 16) || all_zero(ids->parent_span_id, 8))
		return 0;
	return 1;
}

static __always_inline u32 skip_spaces(struct head_scan *s, u32 i)
{
	if (at(s, i) == ' ')
		i++;
	if (at(s, i) == ' ')
		i++;
	return i;
}

// Looks for a trace context header at p, the first byte of a line; returns
// 1 when the scan can stop (a valid traceparent: it wins over b3).
static __always_inline long check_line(struct head_scan *s, u32 p)
{
	if (p >= s->len)
		return 0;
	u8 c = lower(at(s, p));
	if (c == 't' && (s->flags & EXTRACT_TRACECONTEXT) && p + 12 < s->len) {
		if (lower(at(s, p + 1)) == 'r' && lower(at(s, p + 2)) == 'a' && lower(at(s, p + 3)) == 'c' &&
		    lower(at(s, p + 4)) == 'e' && lower(at(s, p + 5)) == 'p' && lower(at(s, p + 6)) == 'a' &&
		    lower(at(s, p + 7)) == 'r' && lower(at(s, p + 8)) == 'e' && lower(at(s, p + 9)) == 'n' &&
		    lower(at(s, p + 10)) == 't' && at(s, p + 11) == ':') {
			if (parse_traceparent(s, skip_spaces(s, p + 12))) {
				s->found = 1;
				return 1;
			}
		}
	} else if (c == 'b' && (s->flags & EXTRACT_B3) && s->found == 0 && p + 3 < s->len) {
		if (at(s, p + 1) == '3' && at(s, p + 2) == ':') {
			if (parse_b3(s, skip_spaces(s, p + 3)))
				s->found = 2;
		}
	}
	return 0;
}

// The head copy, as a type a global function can take.
struct head_bytes {
	u8 b[HEAD_SCAN_LEN];
};

// Checks the line starting at p of the head for a trace context header and
// decodes it into ids: 1 traceparent, 2 b3, 0 none. A global function, so
// the verifier checks it once, not at each of the 64 places scan_chunk calls
// it from.
__noinline int head_check_line(struct head_bytes *head, u32 len, u32 flags, u32 p, struct span_ids *ids)
{
	if (!head || !ids || len > HEAD_SCAN_LEN)
		return 0;
	struct head_scan s = {.buf = head->b, .len = len, .flags = flags, .found = 0, .ids = ids};
	check_line(&s, p);
	return s.found;
}

// Bytes of the head one bpf_loop step examines: 8 words.
#define SCAN_CHUNK 64
#define LOW7 0x7f7f7f7f7f7f7f7fULL
#define NEWLINES 0x0a0a0a0a0a0a0a0aULL

// bpf_loop callback: finds the line feeds in 64 bytes of the head a word at
// a time, without a branch per byte, and checks the header at the start of
// each following line. The old scan paid a bpf_loop step per byte; this
// pays one per 64 bytes plus one call per header line.
static long scan_chunk(u32 idx, void *data)
{
	struct head_scan *s = data;
	u32 base = idx * SCAN_CHUNK;
	if (base >= s->len)
		return 1;
#pragma unroll
	for (u32 w = 0; w < SCAN_CHUNK / 8; w++) {
		u32 off = base + w * 8;
		if (off >= s->len)
			return 1;
		u64 x = *(u64 *)(s->buf + (off & (HEAD_SCAN_LEN - 8))) ^ NEWLINES;
		// The high bit of each byte of m is set exactly where x has a zero
		// byte, i.e. where the head has '\n'.
		u64 m = ~(((x & LOW7) + LOW7) | x | LOW7);
		if (!m)
			continue;
#pragma unroll
		for (u32 j = 0; j < 8; j++) {
			if (!(m & (0x80ULL << (j * 8))))
				continue;
			// Only lines starting with t or b can be trace context.
			u8 c = at(s, off + j + 1) | 0x20;
			if (c != 't' && c != 'b')
				continue;
			u32 flags = s->flags;
			if (s->found)
				flags &= ~EXTRACT_B3; // the first b3 stays, traceparent still wins
			int r = head_check_line((struct head_bytes *)s->buf, s->len, flags, off + j + 1, s->ids);
			if (r == 1) {
				s->found = 1;
				return 1;
			}
			if (r == 2)
				s->found = 2;
		}
	}
	return 0;
}

// Scans the request head still held in the connection's bufio.Reader for a
// trace context header: one copy of at most 4 KiB and one pass over it in
// 64-byte steps. The cost grows with the head's size (see BENCHMARKS.md,
// BenchmarkHeadScan), far less than by a step per byte.
static __always_inline int extract_parent(struct go_offsets *off, u64 request, u64 response, struct span_ids *ids)
{
	if (!has_head_scan(off) || extract_flags == 0 || response == 0)
		return 0;
	// Only HTTP/1's *response has a connection read buffer to scan.
	if (read_ptr(request + FIELD(off, NET_HTTP_REQUEST_PROTOMAJOR)) != 1)
		return 0;
	u64 conn = read_ptr(response + FIELD(off, NET_HTTP_RESPONSE_CONN));
	if (!conn)
		return 0;
	u64 bufr = read_ptr(conn + FIELD(off, NET_HTTP_CONN_BUFR));
	if (!bufr)
		return 0;
	u64 buf = read_ptr(bufr + FIELD(off, BUFIO_READER_BUF));
	s64 r = (s64)read_ptr(bufr + FIELD(off, BUFIO_READER_R));
	if (!buf || r <= 0)
		return 0;
	u32 n = r > HEAD_SCAN_LEN ? HEAD_SCAN_LEN : (u32)r;
	u32 zero = 0;
	u8 *scratch = bpf_map_lookup_elem(&head_scratch, &zero);
	if (!scratch)
		return 0;
	if (n > HEAD_SCAN_LEN || n == 0)
		return 0;
	if (bpf_probe_read_user(scratch, n, (void *)buf))
		return 0;
	struct head_scan s = {
		.buf = scratch,
		.len = n,
		.flags = extract_flags,
		.found = 0,
		.ids = ids,
	};
	bpf_loop((n + SCAN_CHUNK - 1) / SCAN_CHUNK, scan_chunk, &s, 0);
	return s.found != 0;
}

// ---------------------------------------------------------------------------
// net/http server: serverHandler.ServeHTTP(rw ResponseWriter, req *Request)
// receiver (one pointer) in ax, rw (itab, data) in bx/cx, req in di.

SEC("uprobe/server_entry")
int uprobe_server_entry(struct pt_regs *ctx)
{
	count_hit(HIT_SERVER_ENTRY);
	struct go_offsets *off = offsets_for(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct server_inflight st = {};
	st.start_ns = bpf_ktime_get_boot_ns();
	st.request = GO_PARAM4(ctx);
	st.response = GO_PARAM3(ctx);
	st.entry_depth = read_ptr(key.g + G_STACK_HI) - ctx->sp;
	st.has_parent = extract_parent(off, st.request, st.response, &st.ids);
	if (!st.has_parent)
		random_bytes(st.ids.trace_id, 16);
	random_bytes(st.ids.span_id, 8);
	bpf_map_update_elem(&server_requests, &key, &st, BPF_ANY);

	struct span_context sc = {};
	__builtin_memcpy(sc.trace_id, st.ids.trace_id, 16);
	__builtin_memcpy(sc.span_id, st.ids.span_id, 8);
	struct goroutine_key sk = span_key(off, key.tgid, key.g);
	bpf_map_update_elem(&span_by_goroutine, &sk, &sc, BPF_ANY);
	return 0;
}

// Sends the SERVER span of the request st and forgets it. panicked: the
// handler panicked and ServeHTTP's frame was unwound (no RET ran).
static __always_inline void emit_server(struct go_offsets *off, struct goroutine_key *key, struct server_inflight *st, u8 panicked)
{
	struct http_server_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	e->kind = EVENT_HTTP_SERVER;
	e->pid = key->tgid;
	e->start_ns = st->start_ns;
	e->end_ns = bpf_ktime_get_boot_ns();
	e->ids = st->ids;
	e->has_parent = st->has_parent;

	u64 req = st->request;
	e->proto_major = (u8)read_ptr(req + FIELD(off, NET_HTTP_REQUEST_PROTOMAJOR));
	e->proto_minor = (u8)read_ptr(req + FIELD(off, NET_HTTP_REQUEST_PROTOMINOR));
	e->method_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_METHOD), e->method, METHOD_LEN);
	e->host_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_HOST), e->host, HOST_LEN);
	e->remote_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_REMOTEADDR), e->remote, REMOTE_LEN);
	if (known(off, GO_FIELD_NET_HTTP_REQUEST_TLS))
		e->tls = read_ptr(req + FIELD(off, NET_HTTP_REQUEST_TLS)) ? 2 : 1;
	else
		e->tls = 0;
	if (known(off, GO_FIELD_NET_HTTP_REQUEST_PATTERN))
		e->pattern_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_PATTERN), e->pattern, PATTERN_LEN);
	else
		e->pattern_len = 0;
	u64 url = read_ptr(req + FIELD(off, NET_HTTP_REQUEST_URL));
	e->path_len = 0;
	e->query_len = 0;
	if (url) {
		e->path_len = read_go_string(url + FIELD(off, NET_URL_URL_PATH), e->path, PATH_LEN);
		if (known(off, GO_FIELD_NET_URL_URL_RAWQUERY) && capture_query)
			e->query_len = read_go_string(url + FIELD(off, NET_URL_URL_RAWQUERY), e->query, QUERY_LEN);
	}
	// The ResponseWriter is net/http's *response for HTTP/1.x and its
	// bundled *http2responseWriter for HTTP/2.
	e->status = STATUS_UNKNOWN;
	if (e->proto_major == 1 && st->response) {
		e->status = (u16)read_ptr(st->response + FIELD(off, NET_HTTP_RESPONSE_STATUS));
	} else if (e->proto_major == 2 && st->response && has_h2_status(off)) {
		u64 rws = read_ptr(st->response + FIELD(off, NET_HTTP_HTTP2RESPONSEWRITER_RWS));
		if (rws)
			e->status = (u16)read_ptr(rws + FIELD(off, NET_HTTP_HTTP2RESPONSEWRITERSTATE_STATUS));
	}
	e->panicked = panicked;
	e->panic_type = 0;
	e->panic_msg_len = 0;
	if (panicked) {
		e->panic_type = st->panic_type;
		u16 n = st->panic_msg_len;
		if (n > PANIC_MSG_LEN)
			n = PANIC_MSG_LEN;
		__builtin_memcpy(e->panic_msg, st->panic_msg, PANIC_MSG_LEN);
		e->panic_msg_len = n;
	}
	submit(e);
out:;
	struct goroutine_key sk = span_key(off, key->tgid, key->g);
	bpf_map_delete_elem(&server_requests, key);
	bpf_map_delete_elem(&span_by_goroutine, &sk);
}

SEC("uprobe/server_return")
int uprobe_server_return(struct pt_regs *ctx)
{
	count_hit(HIT_SERVER_RETURN);
	struct go_offsets *off = offsets_for(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct server_inflight *st = bpf_map_lookup_elem(&server_requests, &key);
	if (!st)
		return 0;
	emit_server(off, &key, st, 0);
	return 0;
}

// ---------------------------------------------------------------------------
// Panics. runtime.gopanic(e any): the value's type in ax, its data in bx,
// running on the panicking goroutine. Only the goroutine's open server
// request (if any) is touched: the panic is remembered, not yet reported,
// because the handler may recover it itself and return normally.

// Kinds of runtime._type.kind (internal/abi), masked with KIND_MASK.
#define KIND_MASK 0x1f
#define KIND_PTR 22
#define KIND_STRING 24
#define KIND_STRUCT 25
// Layout of internal/abi.Type, PtrType, StructType and StructField (and of
// the runtime's _type before them), unchanged from Go 1.17 through 1.26.
#define TYPE_KIND 23
#define PTRTYPE_ELEM 48
#define STRUCTTYPE_FIELDS 56
#define STRUCTFIELD_TYP 8
#define STRUCTFIELD_OFFSET 16

static __always_inline u8 type_kind(u64 typ)
{
	u8 k = 0;
	bpf_probe_read_user(&k, 1, (void *)(typ + TYPE_KIND));
	return k & KIND_MASK;
}

// The panic value's text, when it has one without calling code: a string
// (panic("boom"), runtime.errorString), or a pointer to a struct whose first
// field is a string (errors.New's *errorString, fmt.Errorf's *wrapError).
static __always_inline u16 panic_text(u64 typ, u64 data, char *dst)
{
	u8 kind = type_kind(typ);
	if (kind == KIND_STRING)
		return read_go_string(data, dst, PANIC_MSG_LEN);
	if (kind != KIND_PTR || !data)
		return 0;
	u64 elem = read_ptr(typ + PTRTYPE_ELEM);
	if (!elem || type_kind(elem) != KIND_STRUCT)
		return 0;
	u64 fields = read_ptr(elem + STRUCTTYPE_FIELDS);
	s64 nfields = (s64)read_ptr(elem + STRUCTTYPE_FIELDS + 8);
	if (!fields || nfields < 1)
		return 0;
	u64 ftyp = read_ptr(fields + STRUCTFIELD_TYP);
	if (!ftyp || read_ptr(fields + STRUCTFIELD_OFFSET) != 0 || type_kind(ftyp) != KIND_STRING)
		return 0;
	return read_go_string(data, dst, PANIC_MSG_LEN);
}

SEC("uprobe/gopanic")
int uprobe_gopanic(struct pt_regs *ctx)
{
	count_hit(HIT_PANIC);
	struct go_offsets *off = offsets_for(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct server_inflight *st = bpf_map_lookup_elem(&server_requests, &key);
	if (!st)
		return 0;
	u64 typ = GO_PARAM1(ctx);
	u64 data = GO_PARAM2(ctx);
	st->panicking = 1;
	// The probe sits at gopanic's entry: ip - its unrelocated address is the
	// load bias, so user space gets the type's address in the file.
	st->panic_type = typ ? typ - (ctx->ip - off->gopanic_vaddr) : 0;
	st->panic_msg_len = typ ? panic_text(typ, data, st->panic_msg) : 0;
	return 0;
}

// runtime.recovery(gp) ends with gogo(&gp.sched) (ABI0: the argument on the
// stack), resuming gp in the frame that deferred the recovering call; this
// probe sits on that call. gobuf starts with sp, pc, g. When the frame
// resumed is above ServeHTTP's (less deep), ServeHTTP will never return:
// net/http's own recover caught the panic and closes the connection, so the
// span ends here, as an error. A panic the handler recovers itself resumes
// deeper, and the request goes on to a normal RET.
SEC("uprobe/recovery_resume")
int uprobe_recovery_resume(struct pt_regs *ctx)
{
	count_hit(HIT_RECOVERY);
	struct go_offsets *off = offsets_for(ctx);
	if (!off)
		return 0;
	u64 sched = read_ptr(ctx->sp);
	if (!sched)
		return 0;
	u64 buf[3] = {};
	if (bpf_probe_read_user(buf, sizeof(buf), (void *)sched))
		return 0;
	u64 resume_sp = buf[0], gp = buf[2];
	struct goroutine_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .g = gp};
	struct server_inflight *st = bpf_map_lookup_elem(&server_requests, &key);
	if (!st || !st->panicking)
		return 0;
	u64 depth = read_ptr(gp + G_STACK_HI) - resume_sp;
	if (depth >= st->entry_depth) {
		st->panicking = 0; // recovered inside the handler
		return 0;
	}
	emit_server(off, &key, st, 1);
	return 0;
}

// ---------------------------------------------------------------------------
// net/http client: (*Transport).roundTrip(req *Request) (*Response, error)
// t in ax, req in bx; results: *Response in ax, error (itab, data) in bx/cx.

SEC("uprobe/client_entry")
int uprobe_client_entry(struct pt_regs *ctx)
{
	count_hit(HIT_CLIENT_ENTRY);
	struct go_offsets *off = offsets_for(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct client_inflight st = {};
	st.start_ns = bpf_ktime_get_boot_ns();
	st.request = GO_PARAM2(ctx);
	struct goroutine_key sk = span_key(off, key.tgid, key.g);
	struct span_context *parent = bpf_map_lookup_elem(&span_by_goroutine, &sk);
	if (!parent && known(off, GO_FIELD_RUNTIME_G_PARENTGOID) && has_goroutine(off)) {
		// A goroutine started by the handler: its creator's span.
		sk.g = read_ptr(key.g + FIELD(off, RUNTIME_G_PARENTGOID));
		if (sk.g)
			parent = bpf_map_lookup_elem(&span_by_goroutine, &sk);
	}
	if (parent) {
		__builtin_memcpy(st.ids.trace_id, parent->trace_id, 16);
		__builtin_memcpy(st.ids.parent_span_id, parent->span_id, 8);
		st.has_parent = 1;
	}
	if (!st.has_parent)
		random_bytes(st.ids.trace_id, 16);
	random_bytes(st.ids.span_id, 8);
	bpf_map_update_elem(&client_requests, &key, &st, BPF_ANY);
	return 0;
}

SEC("uprobe/client_return")
int uprobe_client_return(struct pt_regs *ctx)
{
	count_hit(HIT_CLIENT_RETURN);
	struct go_offsets *off = offsets_for(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct client_inflight *st = bpf_map_lookup_elem(&client_requests, &key);
	if (!st)
		return 0;
	struct http_client_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	e->kind = EVENT_HTTP_CLIENT;
	e->pid = key.tgid;
	e->start_ns = st->start_ns;
	e->end_ns = bpf_ktime_get_boot_ns();
	e->ids = st->ids;
	e->has_parent = st->has_parent;

	u64 resp = GO_PARAM1(ctx);
	e->has_error = GO_PARAM2(ctx) != 0;
	e->has_response = resp != 0;
	e->status = resp ? (u16)read_ptr(resp + FIELD(off, NET_HTTP_RESPONSE_STATUSCODE)) : 0;

	u64 req = st->request;
	e->method_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_METHOD), e->method, METHOD_LEN);
	u64 url = read_ptr(req + FIELD(off, NET_HTTP_REQUEST_URL));
	if (url) {
		e->scheme_len = read_go_string(url + FIELD(off, NET_URL_URL_SCHEME), e->scheme, SCHEME_LEN);
		e->host_len = read_go_string(url + FIELD(off, NET_URL_URL_HOST), e->host, HOST_LEN);
		e->path_len = read_go_string(url + FIELD(off, NET_URL_URL_PATH), e->path, PATH_LEN);
		e->has_user = known(off, GO_FIELD_NET_URL_URL_USER) && read_ptr(url + FIELD(off, NET_URL_URL_USER)) != 0;
		if (known(off, GO_FIELD_NET_URL_URL_RAWQUERY))
			e->query_len = read_go_string(url + FIELD(off, NET_URL_URL_RAWQUERY), e->query, QUERY_LEN);
		else
			e->query_len = 0;
	} else {
		e->has_user = 0;
		e->scheme_len = 0;
		e->host_len = 0;
		e->path_len = 0;
		e->query_len = 0;
	}
	submit(e);
out:
	bpf_map_delete_elem(&client_requests, &key);
	return 0;
}

// ---------------------------------------------------------------------------
// runtime.newproc1(...) *g: at its RETs the new goroutine is in ax and the
// creating goroutine is the M's curg (newproc1 runs on the system stack).

SEC("uprobe/newproc1_return")
int uprobe_newproc1_return(struct pt_regs *ctx)
{
	count_hit(HIT_NEWPROC_RETURN);
	struct go_offsets *off = offsets_for(ctx);
	if (!off || !has_goroutine(off))
		return 0;
	u64 newg = GO_PARAM1(ctx);
	if (!newg)
		return 0;
	u64 m = read_ptr(GO_G(ctx) + FIELD(off, RUNTIME_G_M));
	if (!m)
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct goroutine_key parent_key = span_key(off, tgid, read_ptr(m + FIELD(off, RUNTIME_M_CURG)));
	struct span_context *parent = bpf_map_lookup_elem(&span_by_goroutine, &parent_key);
	if (!parent)
		return 0;
	struct span_context child = *parent;
	struct goroutine_key child_key = span_key(off, tgid, newg);
	bpf_map_update_elem(&span_by_goroutine, &child_key, &child, BPF_ANY);
	return 0;
}

// An empty program attached at the same places as the real ones: the
// benchmark's baseline for the kernel's bare uprobe cost.
SEC("uprobe/empty")
int uprobe_empty(struct pt_regs *ctx)
{
	return 0;
}
