//go:build ignore

// Socket-level traceparent insertion for plaintext HTTP/1.1 clients.
//
// Kernel lockdown (integrity) forbids bpf_probe_write_user, so nothing is
// written into a target's memory. Instead the bytes a tracked socket sends
// pass through an sk_msg program, which may insert one header line into a
// request head with bpf_msg_push_data.
//
// Which sockets: a cgroup sockops program, attached to the targets' own
// cgroups, marks a socket at BPF_SOCK_OPS_TCP_CONNECT_CB (called from the
// connect() syscall, so in the process that connects) when that process's
// tgid is tracked, and adds it to the sockhash once established. Only
// sockhash members run the sk_msg program; every other socket, of every
// other process, sends as before.
//
// Where: a request boundary is a TCP sequence number. The first byte a
// connection sends starts a request; a request whose head is complete in one
// message and declares its body length (Content-Length, or none) ends where
// the next one starts. The program compares the socket's write_seq (the
// sequence number of the first byte of this message: every earlier byte is
// already queued) with the boundary it expects, so bytes it does not see (a
// short write the application retries) cannot shift the boundary. Anything
// it cannot prove (chunked bodies, a head split across writes, a head larger
// than the scan window, malformed or non-HTTP bytes, CONNECT or Upgrade)
// makes the connection lost: no insertion on it again, and each request
// context offered for it later is counted as skipped.
//
// What: "traceparent: 00-<trace>-<span>-<flags>\r\n" in front of the CRLF
// that ends the head, only when a context is pending for the connection's
// 4-tuple (consumed once) and the head has no traceparent header of its own.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "Dual MIT/GPL";

#define TRACEPARENT_LEN 55
#define NAME_PREFIX_LEN 13 // "traceparent: "
#define INSERT_LEN (NAME_PREFIX_LEN + TRACEPARENT_LEN + 2)
// Largest request head scanned (a power of two: indexes are masked with
// HEAD_MAX - 1). Larger heads are skipped and make the connection lost.
#define HEAD_MAX 8192
// Requests parsed in one message (pipelined requests written at once).
#define MAX_REQS_PER_MSG 8
#define MAX_METHOD_LEN 24
#define MAX_CONTENT_LENGTH (1ULL << 30)
// Send-buffer room kept free beyond the message itself before inserting:
// the insertion must never make the kernel send part of a message and drop
// the rest, because the length it then reports to the application counts
// the inserted bytes.
#define ROOM_SLACK 4096

// Indexes into counters; the Go side names them (counters.go).
enum counter {
	C_INJECTED = 0,
	C_SKIP_NO_PENDING = 1,
	C_SKIP_NOT_REQUEST_START = 2,
	C_SKIP_HEAD_SPLIT = 3,
	C_SKIP_HAS_TRACEPARENT = 4,
	C_SKIP_TOO_LARGE = 5,
	C_SKIP_ERROR = 6,
	C_SKIP_BOUNDARY_LOST = 7,
	C_SKIP_MALFORMED = 8,
	C_SKIP_TLS = 9,
	C_SKIP_NO_ROOM = 10,
	C_LOST_CHUNKED = 11,
	C_LOST_UPGRADE = 12,
	C_SOCK_TRACKED = 13,
	C_SOCK_TRACK_FAILED = 14,
	C_MSG_RUNS = 15,
	C_PENDING_CLOSED = 16,
	C_PENDING_STALE = 17,
	C_MAX = 18,
};

// Force the enum into BTF so bpf2go generates the indexes Counters reads.
const enum counter *unused_counter __attribute__((unused));

// conn_state.flags
#define ST_TRACKED (1 << 0)   // connect() came from a tracked tgid
#define ST_SEQ_KNOWN (1 << 1) // next_seq holds the next request boundary
#define ST_LOST (1 << 2)      // the boundary is unknown from here on

struct conn_state {
	__u32 next_seq;
	__u32 flags;
	__u64 cookie; // the socket's cookie, set when it enters the sockhash
};

// A connection, as the application sees it: IPv4 addresses as IPv4-mapped
// IPv6, ports in host order.
struct conn_key {
	__u32 local_ip[4];
	__u32 remote_ip[4];
	__u16 local_port;
	__u16 remote_port;
	__u32 pad;
};

// cookie is the socket cookie of the connection the context was offered
// for (SetPending reads it from live_conns): a context left behind by a
// closed connection is never used by a later one with the same 4-tuple.
// The HTTP client probe's struct inject_pending_ctx (bpf/common/inject.h)
// is this layout: it shares pending, app_contexts (cookie left 0 there)
// and live_conns.
struct pending_ctx {
	__u8 traceparent[TRACEPARENT_LEN];
	__u8 pad;
	__u64 cookie;
};

struct insert_line {
	__u8 bytes[INSERT_LEN];
};


struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64); // socket cookie
	__type(value, __u64);
} tracked_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); // tgid
	__type(value, __u8);
} tracked_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn_state);
} conn_states SEC(".maps");

// Contexts waiting for their connection's next request. A plain hash, not
// an LRU: a context is never evicted silently; SetPending fails when it is
// full, and entries leave when used, withdrawn or their connection closes.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct conn_key);
	__type(value, struct pending_ctx);
} pending SEC(".maps");

// The traceparent an application sent itself, by connection: its request's
// client span (the receiver's HTTP client probe, which shares this map)
// adopts it as trace and parent. Observations, not contexts to insert: an
// LRU, and a missed adoption costs nothing but the join.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct conn_key);
	__type(value, struct pending_ctx);
} app_contexts SEC(".maps");

// The tracked connections that are open, by 4-tuple: their socket cookie.
// Entered with the sockhash, left at the first step of the close (with the
// pending context). SetPending refuses a connection that is not here.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, __u64);
} live_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct head_buf);
} head_scratch SEC(".maps");

// The kernel's own structures, read through BTF (CO-RE relocated).
struct tcp_sock {
	__u32 write_seq;
} __attribute__((preserve_access_index));

struct sock {
	int sk_sndbuf;
	int sk_wmem_queued;
} __attribute__((preserve_access_index));

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v) // atomic: a program run can be preempted by another on its CPU
		__sync_fetch_and_add(v, 1);
}

// What the scan of one request head found.
#define H_HAS_TP (1 << 0)      // a traceparent header
#define H_HAS_TE (1 << 1)      // a Transfer-Encoding header: the body end is unknown
#define H_UPGRADE (1 << 2)     // Upgrade header or CONNECT: not HTTP/1.1 afterwards
#define H_MALFORMED (1 << 3)   // anything outside the strict grammar checked
#define H_NOT_REQUEST (1 << 4) // the first bytes are no request line
#define H_CL_BAD (1 << 5)      // Content-Length unparseable, too large or conflicting
#define H_SAW_CR (1 << 6)
#define H_IN_VALUE (1 << 7)     // past the header name's colon
#define H_CL_DIGITS (1 << 8)    // Content-Length digits started
#define H_CL_DONE (1 << 9)      // Content-Length digits ended (trailing space)
#define H_IN_CL (1 << 10)       // in a Content-Length value
#define H_CONNECT (1 << 11)     // the method is CONNECT
#define H_HEADERS (1 << 12)     // past the request line
#define H_CL_SEEN (1 << 13)     // a Content-Length header was parsed

// Header names matched while scanning, lower case, colon excluded.
#define NAME_TP 0
#define NAME_CL 1
#define NAME_TE 2
#define NAME_UP 3
#define NAMES 4
#define NAME_MAX 32 // a power of two: indexes are masked

static const char header_names[NAMES][NAME_MAX] = {
	"traceparent",
	"content-length",
	"transfer-encoding",
	"upgrade",
};
static const __u32 header_name_len[NAMES] = {11, 14, 17, 7};

static const char connect_method[8] = "CONNECT";

// mask returns v & m in a way the compiler cannot drop when it knows v is
// already smaller: the verifier needs the AND to bound an index.
static __always_inline __u32 mask(__u32 v, __u32 m)
{
	asm volatile("%0 &= %1" : "+r"(v) : "i"(m));
	return v;
}

// The scan state lives in a per-CPU map value, not on the stack: the
// verifier follows a bpf_loop callback until its state stops changing, and
// values it loads from a map are unknown to it, so they converge at once
// (flags and columns on the stack would be tracked as constants, one state
// per combination). Columns are derived from the loop index.
struct head_scan {
	__u32 len;        // bytes of buf holding the message from the request start
	__u32 line_start; // offset of the current line
	__u32 name_mask;  // header names the current line may still be
	__u32 flags;
	__u32 head_end; // offset just past the CRLF CRLF, 0 until found
	__u64 cl;
	__u64 cl_line; // the value parsed on the current Content-Length line
	__u32 tp_at;   // offset just past the colon of the first traceparent line
	__u32 pad;
};

// A per-CPU scratch buffer. With CONFIG_PREEMPTION a program run may be
// preempted by another on the same CPU, which would then use the same
// buffer: gen changes at the start of every scan, and a scan whose gen
// changed before its result was copied out is discarded.
struct head_buf {
	__u64 gen;
	struct head_scan scan;
	__u8 bytes[HEAD_MAX];
};

struct scan_ctx {
	struct head_buf *buf;
};

static __always_inline int is_tchar(__u8 c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
	case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return 1;
	}
	return 0;
}

// end_line handles the CRLF ending the line that started at s->line_start;
// cr is the offset of its CR. Returns 1 to stop the scan.
static __always_inline int end_line(struct head_buf *hb, struct head_scan *s, __u32 cr)
{
	__u32 line_len = cr - s->line_start;

	if (!(s->flags & H_HEADERS)) {
		// "METHOD SP target SP HTTP/1.x": check the version at the end.
		if (line_len < 11 || cr < 9) {
			s->flags |= H_MALFORMED;
			return 1;
		}
		__u8 *b = hb->bytes;
		__u32 v = cr - 9;
		if (b[mask(v, HEAD_MAX - 1)] != ' ' || b[mask(v + 1, HEAD_MAX - 1)] != 'H' ||
		    b[mask(v + 2, HEAD_MAX - 1)] != 'T' || b[mask(v + 3, HEAD_MAX - 1)] != 'T' ||
		    b[mask(v + 4, HEAD_MAX - 1)] != 'P' || b[mask(v + 5, HEAD_MAX - 1)] != '/' ||
		    b[mask(v + 6, HEAD_MAX - 1)] != '1' || b[mask(v + 7, HEAD_MAX - 1)] != '.' ||
		    (b[mask(v + 8, HEAD_MAX - 1)] != '1' && b[mask(v + 8, HEAD_MAX - 1)] != '0')) {
			s->flags |= H_MALFORMED;
			return 1;
		}
	} else if (line_len == 0) {
		s->head_end = cr + 2;
		return 1;
	} else {
		if (!(s->flags & H_IN_VALUE)) { // a header line without a colon
			s->flags |= H_MALFORMED;
			return 1;
		}
		if (s->flags & H_IN_CL) {
			if (!(s->flags & H_CL_DIGITS)) {
				s->flags |= H_CL_BAD;
			} else if ((s->flags & H_CL_SEEN) && s->cl_line != s->cl) {
				s->flags |= H_CL_BAD;
			} else {
				s->cl = s->cl_line;
				s->flags |= H_CL_SEEN;
			}
		}
	}
	s->flags |= H_HEADERS;
	s->line_start = cr + 2;
	s->name_mask = (1 << NAMES) - 1;
	s->flags &= ~(H_SAW_CR | H_IN_VALUE | H_CL_DIGITS | H_CL_DONE | H_IN_CL);
	s->cl_line = 0;
	return 0;
}

static __always_inline int scan_request_line(struct head_scan *s, __u8 c, __u32 col)
{
	// Only the method is checked byte by byte: upper-case letters, then SP.
	if (s->flags & H_IN_VALUE) // past the method
		return 0;
	if (c == ' ') {
		if (col == 0) {
			s->flags |= H_NOT_REQUEST;
			return 1;
		}
		s->flags |= H_IN_VALUE;
		if (col == sizeof(connect_method) - 1 && (s->flags & H_CONNECT))
			s->flags |= H_UPGRADE;
		return 0;
	}
	if (c < 'A' || c > 'Z' || col >= MAX_METHOD_LEN) {
		s->flags |= H_NOT_REQUEST;
		return 1;
	}
	if (col == 0)
		s->flags |= H_CONNECT;
	if (col >= sizeof(connect_method) - 1 || connect_method[mask(col, 7)] != c)
		s->flags &= ~H_CONNECT;
	return 0;
}

static __always_inline int scan_header_byte(struct head_scan *s, __u8 c, __u32 col)
{

	if (!(s->flags & H_IN_VALUE)) {
		if (c == ':') {
			if (col == 0) {
				s->flags |= H_MALFORMED;
				return 1;
			}
			s->flags |= H_IN_VALUE;
			for (int k = 0; k < NAMES; k++) {
				if (!(s->name_mask & (1 << k)) || header_name_len[k] != col)
					continue;
				if (k == NAME_TP) {
					if (!(s->flags & H_HAS_TP))
						s->tp_at = s->line_start + col + 1;
					s->flags |= H_HAS_TP;
				}
				else if (k == NAME_CL)
					s->flags |= H_IN_CL;
				else if (k == NAME_TE)
					s->flags |= H_HAS_TE;
				else
					s->flags |= H_UPGRADE;
			}
			return 0;
		}
		// Folded lines and whitespace before the colon are outside the
		// grammar servers accept: unsure, so malformed.
		if (!is_tchar(c)) {
			s->flags |= H_MALFORMED;
			return 1;
		}
		__u8 lower = (c >= 'A' && c <= 'Z') ? c | 0x20 : c;
		for (int k = 0; k < NAMES; k++) {
			if (col >= header_name_len[k] || header_names[k][mask(col, NAME_MAX - 1)] != lower)
				s->name_mask &= ~(1 << k);
		}
		return 0;
	}
	// In a value: only Content-Length is parsed; a strict 1*DIGIT with
	// optional whitespace around it.
	if (!(s->flags & H_IN_CL))
		return 0;
	if (c >= '0' && c <= '9') {
		if (s->flags & H_CL_DONE) {
			s->flags |= H_CL_BAD;
			return 0;
		}
		s->flags |= H_CL_DIGITS;
		s->cl_line = s->cl_line * 10 + (c - '0');
		if (s->cl_line > MAX_CONTENT_LENGTH)
			s->flags |= H_CL_BAD;
		return 0;
	}
	if (c == ' ' || c == '\t') {
		if (s->flags & H_CL_DIGITS)
			s->flags |= H_CL_DONE;
		return 0;
	}
	s->flags |= H_CL_BAD;
	return 0;
}

static __always_inline int scan_one(struct head_buf *hb, struct head_scan *s, __u32 i)
{
	if (i >= s->len || i >= HEAD_MAX)
		return 1;
	__u8 c = hb->bytes[mask(i, HEAD_MAX - 1)];

	if (s->flags & H_SAW_CR) {
		if (c != '\n') { // a bare CR
			s->flags |= H_MALFORMED;
			return 1;
		}
		return end_line(hb, s, i - 1);
	}
	if (c == '\r') {
		s->flags |= H_SAW_CR;
		return 0;
	}
	if (c == '\n' || c == 0) { // a bare LF, or a NUL
		s->flags |= i == 0 ? H_NOT_REQUEST : H_MALFORMED;
		return 1;
	}
	__u32 col = i - s->line_start;
	if (!(s->flags & H_HEADERS))
		return scan_request_line(s, c, col);
	return scan_header_byte(s, c, col);
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

// zero_bytes is non-zero when a byte of v is zero.
static __always_inline __u64 zero_bytes(__u64 v)
{
	return (v - ONES) & ~v & HIGHS;
}

// scan_word scans the 8 bytes at 8*idx. Inside a header value (or the
// request target) nothing but CR, LF and NUL matters, so a word holding
// none of them is passed over whole: most of a head is values.
static long scan_word(__u64 idx, void *ctx)
{
	struct head_buf *hb = ((struct scan_ctx *)ctx)->buf;
	struct head_scan *s = &hb->scan;
	__u32 i = (__u32)idx * 8;

	if (i >= s->len || i >= HEAD_MAX)
		return 1;
	__u32 fl = s->flags;
	if ((fl & H_IN_VALUE) && !(fl & (H_IN_CL | H_SAW_CR)) && i + 8 <= s->len) {
		__u64 w = *(__u64 *)&hb->bytes[mask(i, HEAD_MAX - 8)];
		if (!(zero_bytes(w) | zero_bytes(w ^ (ONES * '\r')) | zero_bytes(w ^ (ONES * '\n'))))
			return 0;
	}
#pragma unroll
	for (int k = 0; k < 8; k++) {
		if (scan_one(hb, s, i + k))
			return 1;
	}
	return 0;
}

// Every context field is read unconditionally, then chosen: given a branch
// the compiler folds the two layouts into one load from a computed offset,
// which the verifier refuses for a context pointer; and each is a volatile
// 32-bit load, or two neighbours may become one 64-bit load the context
// does not allow. sk_msg_md and bpf_sock_ops name and encode them alike.
#define CTX_U32(x) (*(volatile __u32 *)&(x))
#define KEY_OF(ctx, k)                                                                  \
	do {                                                                            \
		__u32 family = CTX_U32((ctx)->family);                                  \
		__u32 l4 = CTX_U32((ctx)->local_ip4), r4 = CTX_U32((ctx)->remote_ip4);  \
		__u32 l6[4], r6[4];                                                     \
		l6[0] = CTX_U32((ctx)->local_ip6[0]);                                   \
		l6[1] = CTX_U32((ctx)->local_ip6[1]);                                   \
		l6[2] = CTX_U32((ctx)->local_ip6[2]);                                   \
		l6[3] = CTX_U32((ctx)->local_ip6[3]);                                   \
		r6[0] = CTX_U32((ctx)->remote_ip6[0]);                                  \
		r6[1] = CTX_U32((ctx)->remote_ip6[1]);                                  \
		r6[2] = CTX_U32((ctx)->remote_ip6[2]);                                  \
		r6[3] = CTX_U32((ctx)->remote_ip6[3]);                                  \
		if (family == 2 /* AF_INET */) {                                        \
			(k)->local_ip[2] = bpf_htonl(0xffff);                           \
			(k)->local_ip[3] = l4;                                          \
			(k)->remote_ip[2] = bpf_htonl(0xffff);                          \
			(k)->remote_ip[3] = r4;                                         \
		} else {                                                                \
			__builtin_memcpy((k)->local_ip, l6, sizeof(l6));                \
			__builtin_memcpy((k)->remote_ip, r6, sizeof(r6));               \
		}                                                                       \
		(k)->local_port = (__u16)CTX_U32((ctx)->local_port);                    \
		(k)->remote_port = (__u16)bpf_ntohl(CTX_U32((ctx)->remote_port));       \
	} while (0)

// take_pending removes and returns whether a context was pending for this
// connection; out gets a copy when it is not NULL. A context offered for
// another connection with the same 4-tuple (another socket cookie: one that
// closed with no state callback to withdraw it) is removed and counted,
// never used.
static __always_inline int take_pending(struct conn_state *st, struct conn_key *k,
					struct pending_ctx *out)
{
	struct pending_ctx *p = bpf_map_lookup_elem(&pending, k);
	if (!p)
		return 0;
	if (p->cookie != st->cookie) {
		bpf_map_delete_elem(&pending, k);
		count(C_PENDING_STALE);
		return 0;
	}
	if (out)
		__builtin_memcpy(out, p, sizeof(*out));
	bpf_map_delete_elem(&pending, k);
	return 1;
}

static __always_inline void lose(struct conn_state *st, struct conn_key *k, __u32 reason)
{
	st->flags |= ST_LOST;
	count(reason);
	// A context offered for this request cannot be used.
	if (take_pending(st, k, 0) && reason != C_SKIP_BOUNDARY_LOST)
		count(C_SKIP_BOUNDARY_LOST);
}

// has_room tells whether the send buffer takes the message and the inserted
// line whole (see ROOM_SLACK).
static __always_inline int has_room(struct sk_msg_md *msg)
{
	struct bpf_sock *bsk = msg->sk;
	if (!bsk)
		return 0;
	struct sock *sk = (struct sock *)bpf_skc_to_tcp_sock(bsk);
	if (!sk)
		return 0;
	long room = (long)sk->sk_sndbuf - (long)sk->sk_wmem_queued;
	return room >= (long)msg->size + INSERT_LEN + ROOM_SLACK;
}

// insert puts the traceparent line at offset at of msg. Returns 0 when the
// line is in place, <0 when msg is unchanged, >0 when msg could not be
// restored (the caller drops it rather than send uninitialised bytes).
static __always_inline int insert(struct sk_msg_md *msg, __u32 at, struct pending_ctx *p)
{
	// Built on the stack, not in per-CPU scratch: see struct head_buf.
	struct insert_line line;
	__builtin_memcpy(line.bytes, "traceparent: ", NAME_PREFIX_LEN);
	__builtin_memcpy(line.bytes + NAME_PREFIX_LEN, p->traceparent, TRACEPARENT_LEN);
	line.bytes[INSERT_LEN - 2] = '\r';
	line.bytes[INSERT_LEN - 1] = '\n';

	if (bpf_msg_push_data(msg, at, INSERT_LEN, 0) != 0)
		return -1;
	if (bpf_msg_pull_data(msg, at, at + INSERT_LEN, 0) != 0)
		goto undo;
	__u8 *data = (__u8 *)(long)msg->data;
	__u8 *end = (__u8 *)(long)msg->data_end;
	if (data + INSERT_LEN > end)
		goto undo;
	__builtin_memcpy(data, line.bytes, INSERT_LEN);
	return 0;
undo:
	if (bpf_msg_pop_data(msg, at, INSERT_LEN, 0) != 0)
		return 1;
	return -1;
}

// record_app_context keeps the application's own traceparent value (after
// optional blanks), if it ends inside the head, for the client probe.
static __always_inline void record_app_context(struct head_buf *hb, struct head_scan *s, __u64 gen,
						struct conn_key *key)
{
	__u32 at = s->tp_at;
#pragma unroll
	for (int k = 0; k < 4; k++) {
		__u8 c = hb->bytes[mask(at, HEAD_MAX - 1)];
		if (c == ' ' || c == '\t')
			at++;
	}
	if (at + TRACEPARENT_LEN > s->head_end || at > HEAD_MAX - TRACEPARENT_LEN)
		return;
	struct pending_ctx v = {};
	if (bpf_probe_read_kernel(v.traceparent, TRACEPARENT_LEN, &hb->bytes[mask(at, HEAD_MAX - 1)]) != 0)
		return;
	if (hb->gen != gen) // another run used the buffer meanwhile
		return;
	bpf_map_update_elem(&app_contexts, key, &v, BPF_ANY);
}

// One request at offset off of msg. Returns the offset where the next
// request starts (in msg, after any insertion), or -1 when the connection
// is lost (already counted), or -2 when msg must be dropped.
static __noinline long one_request(struct sk_msg_md *msg, struct conn_state *st,
					struct conn_key *key, __u32 off)
{
	__u32 zero = 0;
	struct head_buf *buf = bpf_map_lookup_elem(&head_scratch, &zero);
	if (!buf) {
		lose(st, key, C_SKIP_ERROR);
		return -1;
	}
	__u32 avail = msg->size - off;
	__u32 want = avail < HEAD_MAX ? avail : HEAD_MAX;
	if (bpf_msg_pull_data(msg, off, off + want, 0) != 0) {
		lose(st, key, C_SKIP_ERROR);
		return -1;
	}
	__u8 *data = (__u8 *)(long)msg->data;
	__u8 *end = (__u8 *)(long)msg->data_end;
	long got = end - data;
	if (got < (long)want || want == 0) {
		lose(st, key, C_SKIP_ERROR);
		return -1;
	}
	if (data + 1 > end) {
		lose(st, key, C_SKIP_ERROR);
		return -1;
	}
	if (data[0] == 0x16) { // a TLS handshake record
		lose(st, key, C_SKIP_TLS);
		return -1;
	}
	__u32 n = want;
	if (n > HEAD_MAX)
		n = HEAD_MAX;
	__u64 gen = buf->gen + 1;
	buf->gen = gen;
	if (bpf_probe_read_kernel(buf->bytes, n, data) != 0) {
		lose(st, key, C_SKIP_ERROR);
		return -1;
	}

	struct head_scan *sp = &buf->scan;
	__builtin_memset(sp, 0, sizeof(*sp));
	sp->len = n;
	sp->name_mask = (1 << NAMES) - 1;
	struct scan_ctx sctx = {.buf = buf};
	bpf_loop(HEAD_MAX / 8, scan_word, &sctx, 0);
	struct head_scan s = *sp;
	if (buf->gen != gen) { // another run used the buffer meanwhile
		lose(st, key, C_SKIP_ERROR);
		return -1;
	}

	if (s.flags & H_NOT_REQUEST) {
		lose(st, key, C_SKIP_NOT_REQUEST_START);
		return -1;
	}
	if (s.flags & H_MALFORMED) {
		lose(st, key, C_SKIP_MALFORMED);
		return -1;
	}
	if (s.head_end == 0) {
		lose(st, key, n == HEAD_MAX ? C_SKIP_TOO_LARGE : C_SKIP_HEAD_SPLIT);
		return -1;
	}
	if (s.head_end < 4 || s.head_end > HEAD_MAX)
		return -1;

	if (s.flags & H_CL_BAD) { // the server cannot know where the body ends either
		lose(st, key, C_SKIP_MALFORMED);
		return -1;
	}

	__u32 next = off + s.head_end;
	struct pending_ctx p;
	if (s.flags & H_HAS_TP) {
		take_pending(st, key, 0);
		count(C_SKIP_HAS_TRACEPARENT);
		record_app_context(buf, &s, gen, key);
	} else if (!take_pending(st, key, &p)) {
		count(C_SKIP_NO_PENDING);
	} else if (!has_room(msg)) {
		count(C_SKIP_NO_ROOM);
	} else {
		int r = insert(msg, off + s.head_end - 2, &p);
		if (r > 0) {
			lose(st, key, C_SKIP_ERROR);
			return -2;
		}
		if (r < 0) {
			count(C_SKIP_ERROR);
		} else {
			count(C_INJECTED);
			next += INSERT_LEN;
		}
	}

	if (s.flags & H_UPGRADE) {
		st->flags |= ST_LOST;
		count(C_LOST_UPGRADE);
		return -1;
	}
	if (s.flags & H_HAS_TE) {
		st->flags |= ST_LOST;
		count(C_LOST_CHUNKED);
		return -1;
	}
	return (long)next + (long)s.cl;
}

SEC("sk_msg")
int inject_sk_msg(struct sk_msg_md *msg)
{
	count(C_MSG_RUNS);
	struct bpf_sock *bsk = msg->sk;
	if (!bsk)
		return SK_PASS;
	struct conn_state *st = bpf_sk_storage_get(&conn_states, bsk, 0, 0);
	if (!st || !(st->flags & ST_SEQ_KNOWN))
		return SK_PASS;

	struct conn_key key = {};
	KEY_OF(msg, &key);
	if (st->flags & ST_LOST) {
		if (take_pending(st, &key, 0))
			count(C_SKIP_BOUNDARY_LOST);
		return SK_PASS;
	}
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(bsk);
	if (!tp)
		return SK_PASS;
	__u32 seq = tp->write_seq;
	__s32 off = (__s32)(st->next_seq - seq);
	if (off < 0) { // the boundary went by unseen
		lose(st, &key, C_SKIP_BOUNDARY_LOST);
		return SK_PASS;
	}
	if ((__u32)off >= msg->size) // body bytes of the previous request
		return SK_PASS;

	for (int r = 0; r < MAX_REQS_PER_MSG; r++) {
		long next = one_request(msg, st, &key, (__u32)off);
		if (next == -2)
			return SK_DROP;
		if (next < 0)
			return SK_PASS;
		if (next >= (long)msg->size) {
			st->next_seq = seq + (__u32)next;
			return SK_PASS;
		}
		off = (__s32)next;
	}
	lose(st, &key, C_SKIP_NOT_REQUEST_START);
	return SK_PASS;
}

SEC("sockops")
int inject_sockops(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk;
	struct conn_state *st;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB: {
		// connect() runs in the connecting process: its tgid decides.
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		if (!bpf_map_lookup_elem(&tracked_tgids, &tgid))
			return 1;
		sk = skops->sk;
		if (!sk)
			return 1;
		st = bpf_sk_storage_get(&conn_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			count(C_SOCK_TRACK_FAILED);
			return 1;
		}
		st->flags = ST_TRACKED;
		return 1;
	}
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB: {
		sk = skops->sk;
		if (!sk)
			return 1;
		st = bpf_sk_storage_get(&conn_states, sk, 0, 0);
		if (!st || !(st->flags & ST_TRACKED))
			return 1;
		// Nothing sent yet: the first byte of data has sequence snd_nxt.
		st->next_seq = skops->snd_nxt;
		st->flags |= ST_SEQ_KNOWN;
		__u64 cookie = bpf_get_socket_cookie(skops);
		st->cookie = cookie;
		struct conn_key key = {};
		KEY_OF(skops, &key);
		if (bpf_map_update_elem(&live_conns, &key, &cookie, BPF_ANY) != 0) {
			st->flags |= ST_LOST;
			count(C_SOCK_TRACK_FAILED);
			return 1;
		}
		if (bpf_sock_hash_update(skops, &tracked_socks, &cookie, BPF_NOEXIST) != 0) {
			bpf_map_delete_elem(&live_conns, &key);
			st->flags |= ST_LOST;
			count(C_SOCK_TRACK_FAILED);
			return 1;
		}
		count(C_SOCK_TRACKED);
		// Tell this socket's state changes (only tracked sockets pay).
		bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
		return 1;
	}
	case BPF_SOCK_OPS_STATE_CB: {
		// A context still pending when its connection closes must not go
		// to a later connection that reuses the 4-tuple. Withdrawn at the
		// first step of either side's close (FIN_WAIT1: we closed;
		// CLOSE_WAIT: the peer did; CLOSE: reset), the earliest point at
		// which no further request can use it. (CLOSE comes too, also on
		// the way to TIME_WAIT: tcp_done.)
		switch (skops->args[1]) {
		case BPF_TCP_FIN_WAIT1:
		case BPF_TCP_CLOSE_WAIT:
		case BPF_TCP_CLOSE:
			break;
		default:
			return 1;
		}
		struct conn_key key = {};
		KEY_OF(skops, &key);
		// live_conns first: SetPending stores a context, then checks that
		// the connection is still here, and withdraws it itself if not.
		__u64 cookie = bpf_get_socket_cookie(skops);
		__u64 *live = bpf_map_lookup_elem(&live_conns, &key);
		if (live && *live == cookie)
			bpf_map_delete_elem(&live_conns, &key);
		if (bpf_map_delete_elem(&pending, &key) == 0)
			count(C_PENDING_CLOSED);
		return 1;
	}
	}
	return 1;
}
