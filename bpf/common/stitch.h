// Stitching by wire identity: a client span and the server span of the same
// request on this host share the TCP connection's 4-tuple. The client probe
// records its span under the tuple of the connection it sends the request
// on (client_by_conn); the server probe, at the request's entry, looks the
// tuple of the connection it reads from up there and, when found, takes the
// client span's trace and makes it the server span's parent. Nothing is
// written to either process: the tuples come from the kernel's sockets,
// found from the file descriptor held in Go's netFD.
#ifndef GOEBPF_STITCH_H
#define GOEBPF_STITCH_H

#include "goebpf.h"
#include "go_mem.h"
#include "goroutines.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// Whether spans are stitched (traces.propagation.stitch).
volatile const u32 stitch_enabled = 1;

// stitch states carried by events (http_server_event.stitch,
// http_client_event.stitch, grpc_server_event.stitch, ...). bpf2go generates
// the Go constants (package bpfprog) from this enum.
enum stitch_result {
	STITCH_NONE = 0,      // the connection's tuple could not be read
	STITCH_MATCHED = 1,   // joined to the other side's span
	STITCH_UNMATCHED = 2, // tuple read, no span of the other side found
	// gRPC only: joined to the client span after the server span started
	// (grpc_stitch.h).
	STITCH_LATE = 3,
};

// Force the enum into BTF so bpf2go generates its Go constants.
const enum stitch_result *unused_stitch_result __attribute__((unused));

// The kernel's types, relocated with CO-RE against the running kernel's
// BTF: only the members read here. Members the kernel nests in anonymous
// unions and structs are matched by name.
struct in6_addr {
	union {
		u8 u6_addr8[16];
	} in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct file;

struct socket {
	struct file *file;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct file {
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
	struct files_struct *files;
} __attribute__((preserve_access_index));

#define AF_INET 2
#define AF_INET6 10

// A TCP connection as the client sees it: addresses as IPv6 (IPv4 mapped
// to ::ffff:a.b.c.d, as a dual-stack listener sees it), ports in host order.
struct conn_tuple {
	u8 client_addr[16];
	u8 server_addr[16];
	u16 client_port;
	u16 server_port;
	u32 pad;
};

// The client span in flight on a connection. matched is set by the server
// probe that joined it.
struct conn_client {
	struct span_context sc;
	u32 tgid;
	u8 matched;
	u8 pad[3];
};

// One entry per connection with a client request in flight (HTTP/1.1: one
// at a time); the client probe deletes it when its request ends, so the
// wait for the server side is bounded by the client span itself.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct conn_tuple);
	__type(value, struct conn_client);
} client_by_conn SEC(".maps");

// Deletes the connection's entry if it is still the one of span span_id.
static __always_inline void forget_conn(struct conn_tuple *t, u8 *span_id)
{
	struct conn_client *c = bpf_map_lookup_elem(&client_by_conn, t);
	if (c && __builtin_memcmp(c->sc.span_id, span_id, 8) == 0)
		bpf_map_delete_elem(&client_by_conn, t);
}

// Go's layouts, unchanged from Go 1.17 through 1.26: net.TCPConn embeds
// net.conn, whose first field is fd *netFD; netFD starts with
// poll.FD{fdmu fdMutex (16 bytes), Sysfd int}; crypto/tls.Conn starts with
// conn net.Conn.
#define NETCONN_FD 0
#define NETFD_SYSFD 16
#define TLSCONN_CONN_DATA 8

static __always_inline struct sock *fd_sock(s64 fd)
{
	if (fd < 0 || fd > 0xffffff)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (u64)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	// A socket file's private_data is its struct socket, which points back.
	if (!sock || BPF_CORE_READ(sock, file) != f)
		return 0;
	return BPF_CORE_READ(sock, sk);
}

// The kernel socket of the Go net.Conn data word conn when it is a
// *net.TCPConn (or any type starting with a *netFD), else NULL.
static __always_inline struct sock *go_conn_sock(u64 conn)
{
	u64 netfd = read_ptr(conn + NETCONN_FD);
	if (!netfd)
		return 0;
	return fd_sock((s64)read_ptr(netfd + NETFD_SYSFD));
}

static __always_inline void v4_mapped(u8 *dst, __be32 a)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &a, 4);
}

// Fills t from the TCP socket behind the Go net.Conn whose data word is
// conn (*net.TCPConn, or *tls.Conn over one); client: the current process
// is the connection's client side. *tls (when not NULL) tells whether conn
// was a *tls.Conn. Returns 0 on success.
static __always_inline int conn_tuple_tls_of(u64 conn, int client, struct conn_tuple *t, u8 *tls)
{
	if (!conn)
		return -1;
	struct sock *sk = go_conn_sock(conn);
	if (tls)
		*tls = !sk;
	if (!sk) {
		// A *tls.Conn: the connection it wraps.
		u64 inner = read_ptr(conn + TLSCONN_CONN_DATA);
		if (!inner)
			return -1;
		sk = go_conn_sock(inner);
		if (!sk)
			return -1;
	}
	u8 local[16], remote[16];
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		v4_mapped(local, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		v4_mapped(remote, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&local, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&remote, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return -1;
	}
	u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (client) {
		__builtin_memcpy(t->client_addr, local, 16);
		__builtin_memcpy(t->server_addr, remote, 16);
		t->client_port = lport;
		t->server_port = rport;
	} else {
		__builtin_memcpy(t->client_addr, remote, 16);
		__builtin_memcpy(t->server_addr, local, 16);
		t->client_port = rport;
		t->server_port = lport;
	}
	t->pad = 0;
	return 0;
}

static __always_inline int conn_tuple_of(u64 conn, int client, struct conn_tuple *t)
{
	return conn_tuple_tls_of(conn, client, t, 0);
}

#endif
