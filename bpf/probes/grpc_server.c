//go:build ignore

// The grpc-go server probe: one SERVER span per RPC (unary or stream).
//
// grpc.(*Server).handleStream is probed at its entry: the RPC's method and
// incoming trace context are read from the transport stream, and the span
// becomes the goroutine's current span (client calls the handler makes
// become its children). The span ends where the status is written, at the
// entry of transport.(*http2Server).writeStatus (WriteStatus before grpc
// v1.69: the same program, attached by a second probe description), which grpc calls once per
// RPC on the same goroutine after the handler returned: its code is the
// span's status and the transport's peer gives the addresses. 2 hits per
// RPC, whatever the number of messages. An RPC served through net/http
// (ServeHTTP) is left to the HTTP server span.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "grpc.h"
#include "grpc_stitch.h"
#include "propagation.h"
#include <bpf/bpf_helpers.h>

#define GRPC_METHOD_LEN 128

// struct grpc_server_inflight and grpc_server_rpcs: grpc_stitch.h (the
// client stream probe joins a waiting server span there).

struct grpc_server_event {
	struct event_header hdr;
	u32 code; // GRPC_CODE_UNKNOWN_READ when it could not be read
	u16 method_len;
	u16 peer_port;
	u16 local_port;
	u8 peer_ip_len; // 4 or 16; 0 when the address is not TCP or unknown
	u8 local_ip_len;
	u8 stitch; // STITCH_* (stitch.h), STITCH_LATE (grpc_stitch.h)
	u8 pad[7];
	u8 peer_ip[16];
	u8 local_ip[16];
	char method[GRPC_METHOD_LEN];
};

const struct grpc_server_event *unused_grpc_server_event __attribute__((unused));

// The transport.Stream of the stream handleStream gets: a ServerStream
// embedding it by value (grpc >= v1.77) or by pointer (v1.69-v1.76), or
// the Stream itself (older versions, without ServerStream).
static __always_inline u64 stream_base(struct go_offsets *off, u64 stream)
{
	// The pointer entry first: only the rule that found a pointer sets it.
	if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_SERVERSTREAM_STREAMPTR))
		return read_ptr(stream + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_SERVERSTREAM_STREAMPTR));
	if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_SERVERSTREAM_STREAM))
		return stream + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_SERVERSTREAM_STREAM);
	return stream;
}

// ---------------------------------------------------------------------------
// Incoming metadata. operateHeaders stores the request's metadata (a
// metadata.MD, map[string][]string) as the value of the context.valueCtx
// that is the stream's context when handleStream starts. The map is
// searched for "traceparent" and "b3" (grpc-go lower-cases the keys) by
// one of two walks, whichever the binary has the fields of (DWARF, else
// the offsets table by Go version): Go's swiss maps (Go >= 1.24) or the
// bucket maps before them (Go 1.19-1.23). Both only read; a search cut short by its bounds, or a map
// that could not be read, is counted (grpc_md_counters).
//
// Swiss maps: a map is either one group (dirLen 0, dirPtr the group) or a
// directory of dirLen table pointers, each table holding groups.data, an
// array of lengthMask+1 groups. A group is a control word (one byte per
// slot, high bit set when the slot is empty or deleted) and 8 slots of key
// and value. grpc sizes the map by the number of header fields, so a
// request with more than 8 fields has a directory.

#define SWISS_GROUP_SLOTS 8
#define SWISS_CTRL_EMPTY_BIT 0x80
// A slot of map[string][]string: the key (string) then the value ([]string).
#define MD_SLOT_SIZE 40
#define MD_SLOT_VALUE 16
#define MD_GROUP_SIZE (8 + SWISS_GROUP_SLOTS * MD_SLOT_SIZE)
// groupsReference: data (pointer), then lengthMask (uint64).
#define SWISS_GROUPS_LENGTHMASK 8
// Groups searched: tables of the directory x groups of each table.
#define MD_MAX_TABLES 4
#define MD_MAX_GROUPS 8

// Bucket maps (runtime.hmap, Go 1.19-1.23): buckets points to an array of
// 2^B buckets; while the map grows, oldbuckets to the previous array (half
// as many buckets, or as many for a same-size grow: flags' bit 8), whose
// entries not moved yet are still there. A bucket is 8 tophash bytes, the
// 8 keys, the 8 values and the pointer to its overflow bucket (the field
// offsets: bucket<string,[]string> in go_fields.h). A tophash below 5 is an
// empty slot, or one whose entry moved to the new array.
#define HMAP_BUCKET_SLOTS 8
#define HMAP_MIN_TOPHASH 5
#define HMAP_SAME_SIZE_GROW 8
#define MD_KEY_SIZE 16   // string
#define MD_VALUE_SIZE 24 // []string
// Buckets searched: 2^B up to 16 (B <= 4: up to 104 entries), as many of
// the old array, each with up to 3 overflow buckets; one bpf_loop step
// per bucket.
#define HMAP_MAX_B 4
#define HMAP_MAX_OVERFLOW 3
#define HMAP_MAX_STEPS 64

// grpc_md_counters' indices: searches cut short by their bounds (more
// tables, groups or buckets than searched, none of them with traceparent),
// and maps whose header or a bucket could not be read.
#define GRPC_MD_TRUNCATED 0
#define GRPC_MD_READ_FAILED 1
#define GRPC_MD_COUNTERS 2
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GRPC_MD_COUNTERS);
	__type(key, u32);
	__type(value, u64);
} grpc_md_counters SEC(".maps");

// Where the values of "traceparent" and "b3" were found (addresses of
// their []string), 0 when not seen. A map value rather than the stack: the
// verifier does not tell apart the states of a slot that matched and of
// one that did not, so the 8 slots of a group or bucket do not multiply
// the paths it explores.
struct md_found {
	u64 tp_values;
	u64 b3_values;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct md_found);
} grpc_md_found SEC(".maps");

static __always_inline void grpc_md_count(u32 idx)
{
	u64 *v = bpf_map_lookup_elem(&grpc_md_counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline int has_metadata(struct go_offsets *off)
{
	return known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_STREAM_CTX) && known(off, GO_FIELD_CONTEXT_VALUECTX_VAL);
}

static __always_inline int has_swiss_map(struct go_offsets *off)
{
	return known(off, GO_FIELD_INTERNAL_RUNTIME_MAPS_MAP_DIRPTR) && known(off, GO_FIELD_INTERNAL_RUNTIME_MAPS_MAP_DIRLEN) &&
	       known(off, GO_FIELD_INTERNAL_RUNTIME_MAPS_TABLE_GROUPS);
}

static __always_inline int has_bucket_map(struct go_offsets *off)
{
	return known(off, GO_FIELD_RUNTIME_HMAP_FLAGS) && known(off, GO_FIELD_RUNTIME_HMAP_B) && known(off, GO_FIELD_RUNTIME_HMAP_BUCKETS) &&
	       known(off, GO_FIELD_RUNTIME_HMAP_OLDBUCKETS) && known(off, GO_FIELD_BUCKET_STRING___STRING__KEYS) &&
	       known(off, GO_FIELD_BUCKET_STRING___STRING__VALUES) && known(off, GO_FIELD_BUCKET_STRING___STRING__OVERFLOW);
}

// Parses the first value of a metadata entry (values, the address of its
// []string) as traceparent (which 1) or b3 (which 2) into ids, through the
// head scan's scratch buffer.
static __always_inline int parse_md_value(u64 values_addr, int which, struct span_ids *ids)
{
	u64 values = read_ptr(values_addr);
	s64 nvalues = (s64)read_ptr(values_addr + 8);
	if (!values || nvalues < 1)
		return 0;
	struct go_string v = {};
	if (bpf_probe_read_user(&v, sizeof(v), (void *)values) || v.len < 16 || v.len > 64 || !v.ptr)
		return 0;
	u32 zero = 0;
	u8 *buf = bpf_map_lookup_elem(&head_scratch, &zero);
	if (!buf)
		return 0;
	u32 n = (u32)v.len & 127;
	if (n > 64 || bpf_probe_read_user(buf, n, (void *)v.ptr))
		return 0;
	struct head_scan s = {.buf = buf, .len = n, .flags = extract_flags, .ids = ids};
	if (which == 1)
		return parse_traceparent(&s, 0);
	return parse_b3(&s, 0);
}

// Which key the Go string at key_addr is: 1 "traceparent", 2 "b3", else 0.
// A global function: the verifier checks it once, not at each of the 8
// slots of every group or bucket step.
__noinline int grpc_md_key(u64 key_addr)
{
	struct go_string k = {};
	if (bpf_probe_read_user(&k, sizeof(k), (void *)key_addr))
		return 0;
	char name[11] = {};
	if (k.len == 11) {
		if (bpf_probe_read_user(name, 11, (void *)k.ptr) == 0 && __builtin_memcmp(name, "traceparent", 11) == 0)
			return 1;
	} else if (k.len == 2) {
		if (bpf_probe_read_user(name, 2, (void *)k.ptr) == 0 && name[0] == 'b' && name[1] == '3')
			return 2;
	}
	return 0;
}

struct md_search {
	struct go_offsets *off;
	u64 dir;       // directory of table pointers
	u64 dir_len;   // entries searched
	u64 entry;     // directory entry being searched
	u64 table;     // its table
	u64 groups;    // the table's groups.data
	u64 mask;      // and groups.lengthMask
	u64 group;     // group of the table searched next
	struct md_found *found;
	u8 truncated; // a table or group was left unsearched
};

// Notes the values of traceparent and b3 of one group in grpc_md_found.
// Global functions, like grpc_md_key and grpc_md_search_bucket: the
// verifier checks each once, not at every step of the walks.
__noinline int grpc_md_search_group(u64 group)
{
	u32 zero = 0;
	struct md_found *found = bpf_map_lookup_elem(&grpc_md_found, &zero);
	if (!found)
		return 0;
	u64 ctrl = read_ptr(group);
#pragma unroll
	for (int i = 0; i < SWISS_GROUP_SLOTS; i++) {
		if ((ctrl >> (8 * i)) & SWISS_CTRL_EMPTY_BIT)
			continue;
		u64 slot = group + 8 + i * MD_SLOT_SIZE;
		int which = grpc_md_key(slot);
		if (which == 1)
			found->tp_values = slot + MD_SLOT_VALUE;
		else if (which == 2)
			found->b3_values = slot + MD_SLOT_VALUE;
	}
	return 0;
}

// bpf_loop callback: each step searches the next group of the directory's
// tables in order (a table that fills several directory entries is
// searched once), and stops after the last group or once traceparent is
// found.
static long search_directory(u32 idx, void *data)
{
	struct md_search *s = data;
	if (s->entry >= s->dir_len || s->found->tp_values)
		return 1;
	if (s->group == 0) {
		u64 table = read_ptr(s->dir + s->entry * 8);
		if (!table || table == s->table) {
			s->entry++;
			return 0;
		}
		s->table = table;
		u64 groups = table + FIELD(s->off, INTERNAL_RUNTIME_MAPS_TABLE_GROUPS);
		s->groups = read_ptr(groups);
		s->mask = read_ptr(groups + SWISS_GROUPS_LENGTHMASK);
		if (!s->groups) {
			s->entry++;
			return 0;
		}
	}
	grpc_md_search_group(s->groups + (u64)s->group * MD_GROUP_SIZE);
	if (s->group >= s->mask || s->group + 1 >= MD_MAX_GROUPS) {
		if (s->group < s->mask)
			s->truncated = 1;
		s->group = 0;
		s->entry++;
	} else {
		s->group++;
	}
	return 0;
}

// Searches a swiss map (m, a *maps.Map).
static __always_inline void search_swiss_map(struct go_offsets *off, u64 m, struct md_search *s)
{
	u64 dir = read_ptr(m + FIELD(off, INTERNAL_RUNTIME_MAPS_MAP_DIRPTR));
	s64 dir_len = (s64)read_ptr(m + FIELD(off, INTERNAL_RUNTIME_MAPS_MAP_DIRLEN));
	if (!dir || dir_len < 0) {
		grpc_md_count(GRPC_MD_READ_FAILED);
		return;
	}
	if (dir_len == 0) {
		grpc_md_search_group(dir);
		return;
	}
	s->dir = dir;
	s->dir_len = dir_len > MD_MAX_TABLES ? MD_MAX_TABLES : dir_len;
	s->truncated = dir_len > MD_MAX_TABLES;
	bpf_loop(MD_MAX_TABLES * (MD_MAX_GROUPS + 1), search_directory, s, 0);
	if (s->truncated && !s->found->tp_values)
		grpc_md_count(GRPC_MD_TRUNCATED);
}

struct hmap_search {
	struct go_offsets *off;
	u64 array;     // bucket array being searched
	u64 old;       // the old array, searched after array (0: none)
	u32 n;         // buckets of array searched
	u32 old_n;     // and of old
	u32 next;      // index in array of the next chain
	u32 chain;     // overflow buckets followed in the current chain
	u64 bucket;    // bucket searched next in the current chain (0: none)
	u64 size;      // a bucket's size
	struct md_found *found;
	u8 done;       // every bucket within the bounds was searched
	u8 truncated;  // a bucket was left unsearched
	u8 failed;     // a bucket could not be read
};

// Notes the values of traceparent and b3 of one bucket (b, with its keys
// and values at those addresses) in grpc_md_found; -1 when the bucket
// cannot be read.
__noinline int grpc_md_search_bucket(u64 b, u64 keys, u64 values)
{
	u32 zero = 0;
	struct md_found *found = bpf_map_lookup_elem(&grpc_md_found, &zero);
	if (!found)
		return 0;
	u8 tophash[HMAP_BUCKET_SLOTS] = {};
	if (bpf_probe_read_user(tophash, sizeof(tophash), (void *)b))
		return -1;
#pragma unroll
	for (int i = 0; i < HMAP_BUCKET_SLOTS; i++) {
		if (tophash[i] < HMAP_MIN_TOPHASH)
			continue;
		int which = grpc_md_key(keys + i * MD_KEY_SIZE);
		if (which == 1)
			found->tp_values = values + i * MD_VALUE_SIZE;
		else if (which == 2)
			found->b3_values = values + i * MD_VALUE_SIZE;
	}
	return 0;
}

// bpf_loop callback: each step searches one bucket: the chains of the
// bucket array in order, each bucket then its overflow buckets, then the
// old array's; it stops after the last or once traceparent is found.
static long search_buckets(u32 idx, void *data)
{
	struct hmap_search *s = data;
	if (s->found->tp_values || s->failed) {
		s->done = 1;
		return 1;
	}
	if (!s->bucket) {
		if (s->next >= s->n) {
			if (!s->old) {
				s->done = 1;
				return 1;
			}
			s->array = s->old;
			s->n = s->old_n;
			s->old = 0;
			s->next = 0;
			return 0;
		}
		s->bucket = s->array + (u64)s->next * s->size;
		s->chain = 0;
	}
	u64 b = s->bucket;
	if (grpc_md_search_bucket(b, b + FIELD(s->off, BUCKET_STRING___STRING__KEYS), b + FIELD(s->off, BUCKET_STRING___STRING__VALUES))) {
		s->failed = 1;
		return 1;
	}
	u64 overflow = read_ptr(b + FIELD(s->off, BUCKET_STRING___STRING__OVERFLOW));
	if (overflow && s->chain < HMAP_MAX_OVERFLOW) {
		s->bucket = overflow;
		s->chain++;
		return 0;
	}
	if (overflow)
		s->truncated = 1;
	s->bucket = 0;
	s->next++;
	return 0;
}

// Searches a bucket map (h, a *runtime.hmap).
static __always_inline void search_bucket_map(struct go_offsets *off, u64 h, struct md_found *found)
{
	u8 flags = 0, b = 0;
	if (bpf_probe_read_user(&flags, 1, (void *)(h + FIELD(off, RUNTIME_HMAP_FLAGS))) ||
	    bpf_probe_read_user(&b, 1, (void *)(h + FIELD(off, RUNTIME_HMAP_B)))) {
		grpc_md_count(GRPC_MD_READ_FAILED);
		return;
	}
	struct hmap_search s = {.off = off, .found = found};
	s.array = read_ptr(h + FIELD(off, RUNTIME_HMAP_BUCKETS));
	if (!s.array)
		return; // an empty map
	s.size = FIELD(off, BUCKET_STRING___STRING__OVERFLOW) + 8;
	u8 searched = b > HMAP_MAX_B ? HMAP_MAX_B : b;
	s.truncated = b > HMAP_MAX_B;
	s.n = 1u << searched;
	s.old = read_ptr(h + FIELD(off, RUNTIME_HMAP_OLDBUCKETS));
	if (s.old) {
		// Growing: the old array has 2^(B-1) buckets, or 2^B for a
		// same-size grow.
		u8 old_b = (flags & HMAP_SAME_SIZE_GROW) || b == 0 ? b : b - 1;
		s.old_n = 1u << (old_b > HMAP_MAX_B ? HMAP_MAX_B : old_b);
	}
	bpf_loop(HMAP_MAX_STEPS, search_buckets, &s, 0);
	if (s.failed)
		grpc_md_count(GRPC_MD_READ_FAILED);
	else if (!found->tp_values && (s.truncated || !s.done))
		grpc_md_count(GRPC_MD_TRUNCATED);
}

// Finds traceparent (or, failing that, b3) in the stream's incoming
// metadata.
static __always_inline int extract_grpc_parent(struct go_offsets *off, u64 stream, struct span_ids *ids)
{
	if (!has_metadata(off) || extract_flags == 0)
		return 0;
	// The bucket walk when the binary has runtime.hmap: a Go 1.24 program
	// built with GOEXPERIMENT=noswissmap has it in its DWARF, while the
	// swiss fields may come from the table by Go version.
	int buckets = has_bucket_map(off);
	if (!buckets && !has_swiss_map(off))
		return 0;
	u64 base = stream_base(off, stream);
	if (!base)
		return 0;
	u64 vctx = read_ptr(base + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_STREAM_CTX) + 8);
	if (!vctx)
		return 0;
	// val is an interface; a map's data word is the map itself.
	u64 m = read_ptr(vctx + FIELD(off, CONTEXT_VALUECTX_VAL) + 8);
	if (!m)
		return 0;
	u32 zero = 0;
	struct md_found *found = bpf_map_lookup_elem(&grpc_md_found, &zero);
	if (!found)
		return 0;
	found->tp_values = 0;
	found->b3_values = 0;
	if (buckets) {
		search_bucket_map(off, m, found);
	} else {
		struct md_search s = {.off = off, .found = found};
		search_swiss_map(off, m, &s);
	}
	u64 tp_values = found->tp_values, b3_values = found->b3_values;
	if (tp_values && (extract_flags & EXTRACT_TRACECONTEXT) && parse_md_value(tp_values, 1, ids))
		return 1;
	if (b3_values && (extract_flags & EXTRACT_B3))
		return parse_md_value(b3_values, 2, ids);
	return 0;
}

// ---------------------------------------------------------------------------
// Stitching, server side: the stream's HTTP/2 id and the transport's
// connection are looked up in grpc_client_by_stream; a client span of this
// host in flight on that stream becomes the server span's parent, and its
// trace the server span's (and, through the goroutine's span, its local
// subtree's). t is the ServerTransport's data word (*http2Server: gRPC
// served through net/http never gets here, see the entry).
// On STITCH_UNMATCHED, k is the stream's key (the caller leaves a waiting
// entry under it).
static __always_inline u8 stitch_grpc_server(struct go_offsets *off, u64 t, u64 stream, struct span_ids *ids, u8 *has_parent,
					     struct grpc_stream_key *k)
{
	if (!stitch_enabled || !t || !known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_STREAM_ID))
		return STITCH_NONE;
	u64 base = stream_base(off, stream);
	if (!base)
		return STITCH_NONE;
	u64 remote = 0, local = 0;
	if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_PEER)) {
		u64 peer = t + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_PEER);
		remote = peer + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_PEER_PEER_ADDR);
		local = peer + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_PEER_PEER_LOCALADDR);
	} else if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_REMOTEADDR)) {
		remote = t + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_REMOTEADDR);
		local = t + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_LOCALADDR);
	} else {
		return STITCH_NONE;
	}
	if (grpc_stream_tuple(off, local, remote, 0, k))
		return STITCH_NONE;
	u32 id = 0;
	if (bpf_probe_read_user(&id, sizeof(id), (void *)(base + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_STREAM_ID))) || id == 0)
		return STITCH_NONE;
	k->stream_id = id;
	struct conn_client *c = bpf_map_lookup_elem(&grpc_client_by_stream, k);
	if (!c)
		return STITCH_UNMATCHED;
	__builtin_memcpy(ids->trace_id, c->sc.trace_id, 16);
	__builtin_memcpy(ids->parent_span_id, c->sc.span_id, 8);
	c->matched = 1;
	*has_parent = 1;
	return STITCH_MATCHED;
}

// The stream had no client span recorded (yet): leaves a waiting entry
// for the client probe (grpc_stitch.h), then looks again, in case the
// client recorded its span between the first look and the entry: recorded
// first, looked up second on both sides, so one at least sees the other.
// Found now, nothing ran in between: the span is joined as at its start.
static __always_inline void wait_for_client(struct go_offsets *off, struct goroutine_key *key, struct grpc_server_inflight *st)
{
	struct grpc_server_wait w = {};
	w.rpc = *key;
	w.span = span_key(off, key->tgid, key->g);
	__builtin_memcpy(w.span_id, st->ids.span_id, 8);
	bpf_map_update_elem(&grpc_server_waiting, &st->wait, &w, BPF_ANY);
	struct conn_client *c = bpf_map_lookup_elem(&grpc_client_by_stream, &st->wait);
	if (c && grpc_join_waiting(&w, c, STITCH_MATCHED)) {
		c->matched = 1;
		grpc_forget_waiting(&st->wait, w.span_id);
	}
}

// At the server span's end, a span still unjoined looks its stream up
// once more (the client's record may have come after handleStream and
// missed the waiting entry), and its waiting entry goes.
static __always_inline void grpc_server_end_wait(struct grpc_server_inflight *st)
{
	if (!st->waiting)
		return;
	if (st->stitch == STITCH_UNMATCHED) {
		struct conn_client *c = bpf_map_lookup_elem(&grpc_client_by_stream, &st->wait);
		if (c) {
			__builtin_memcpy(st->ids.trace_id, c->sc.trace_id, 16);
			__builtin_memcpy(st->ids.parent_span_id, c->sc.span_id, 8);
			st->has_parent = 1;
			st->stitch = STITCH_LATE;
			c->matched = 1;
		}
	}
	grpc_forget_waiting(&st->wait, st->ids.span_id);
}

// ---------------------------------------------------------------------------
// grpc.(*Server).handleStream(t ServerTransport, stream *ServerStream):
// receiver in ax, t (itab, data) in bx/cx, stream in di.

SEC("uprobe/grpc_server_entry")
int uprobe_grpc_server_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct grpc_server_inflight st = {};
	// gRPC served through net/http (grpc.(*Server).ServeHTTP): the RPC
	// already is the HTTP server span of the goroutine that started this
	// one, so it gets no second span, and calls the handler makes stay that
	// span's children. (Its status is written by the handler transport,
	// which this probe does not instrument.)
	if (inherit_span(off, &key, &st.ids))
		return 0;
	st.start_ns = bpf_ktime_get_boot_ns();
	st.stream = GO_PARAM4(ctx);
	st.has_parent = extract_grpc_parent(off, st.stream, &st.ids);
	// A traceparent the client's own SDK sent wins over stitching, as for
	// HTTP/1 (http_server.c).
	if (!st.has_parent)
		st.stitch = stitch_grpc_server(off, GO_PARAM3(ctx), st.stream, &st.ids, &st.has_parent, &st.wait);
	new_span(&st.ids, st.has_parent);
	st.waiting = st.stitch == STITCH_UNMATCHED;
	bpf_map_update_elem(&grpc_server_rpcs, &key, &st, BPF_ANY);
	set_goroutine_span(off, &key, &st.ids);
	if (st.waiting)
		wait_for_client(off, &key, &st);
	return 0;
}

// Reads a net.Addr interface holding a *net.TCPAddr: its IP and port. A
// *net.UnixAddr (two strings) never has an IP slice of capacity 4 or 16.
static __always_inline u8 read_tcp_addr(struct go_offsets *off, u64 iface, u8 *ip, u16 *port)
{
	u64 addr = read_ptr(iface + 8);
	if (!addr)
		return 0;
	u64 slice[3] = {};
	if (bpf_probe_read_user(slice, sizeof(slice), (void *)(addr + FIELD(off, NET_TCPADDR_IP))))
		return 0;
	if (!slice[0] || slice[1] != slice[2] || (slice[1] != 4 && slice[1] != 16))
		return 0;
	if (bpf_probe_read_user(ip, slice[1] == 4 ? 4 : 16, (void *)slice[0]))
		return 0;
	*port = (u16)read_ptr(addr + FIELD(off, NET_TCPADDR_PORT));
	return (u8)slice[1];
}

// transport.(*http2Server).writeStatus(s *ServerStream, st *status.Status),
// or WriteStatus(s *Stream, st *status.Status) before v1.69: t in ax, s in
// bx, st in cx.
SEC("uprobe/grpc_server_status")
int uprobe_grpc_server_status(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct grpc_server_inflight *st = bpf_map_lookup_elem(&grpc_server_rpcs, &key);
	if (!st || st->stream != GO_PARAM2(ctx))
		return 0;
	grpc_server_end_wait(st);
	struct grpc_server_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	fill_header(&e->hdr, EVENT_GRPC_SERVER, key.tgid, st->start_ns, &st->ids, st->has_parent);
	e->code = grpc_status_code(off, GO_PARAM3(ctx));
	u64 base = stream_base(off, st->stream);
	e->method_len = base ? read_go_string(base + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_STREAM_METHOD), e->method, GRPC_METHOD_LEN) : 0;
	// The connection's addresses: http2Server.peer.{Addr,LocalAddr}, or
	// in older versions http2Server.{remoteAddr,localAddr}.
	u64 t = GO_PARAM1(ctx);
	u64 remote = 0, local = 0;
	if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_PEER)) {
		u64 peer = t + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_PEER);
		remote = peer + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_PEER_PEER_ADDR);
		local = peer + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_PEER_PEER_LOCALADDR);
	} else if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_REMOTEADDR)) {
		remote = t + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_REMOTEADDR);
		local = t + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2SERVER_LOCALADDR);
	}
	e->peer_port = 0;
	e->local_port = 0;
	e->peer_ip_len = remote ? read_tcp_addr(off, remote, e->peer_ip, &e->peer_port) : 0;
	e->local_ip_len = local ? read_tcp_addr(off, local, e->local_ip, &e->local_port) : 0;
	e->stitch = st->stitch;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	submit(e);
out:
	clear_goroutine_span(off, &key, &st->ids);
	bpf_map_delete_elem(&grpc_server_rpcs, &key);
	return 0;
}
