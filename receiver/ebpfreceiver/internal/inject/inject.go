// Package inject inserts a W3C traceparent header into plaintext HTTP/1.1
// requests that instrumented processes send, at the socket layer (cgroup
// sockops + sockhash + sk_msg, bpf_msg_push_data), without writing into any
// process's memory. See README.md for the rules it follows and what it
// skips.
package inject

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ErrMissingPrivilege is wrapped by Open's error when the process lacks a
// capability injection needs (CAP_NET_ADMIN for the sockops and sk_msg
// programs, besides CAP_BPF and CAP_PERFMON).
var ErrMissingPrivilege = errors.New("missing privilege")

// ErrConnNotTracked is wrapped by SetPending's error when the connection is
// not a tracked one that is open: made before its process was tracked, by
// an untracked process, outside the attached cgroups, or already closing.
// No context is left behind for it.
var ErrConnNotTracked = errors.New("connection not tracked or closing")

// TraceParentLen is the length of a version-00 traceparent value.
const TraceParentLen = 55

// TraceParent is a traceparent header value: "00-<32 hex>-<16 hex>-<2 hex>".
type TraceParent [TraceParentLen]byte

// NewTraceParent formats a version-00 traceparent.
func NewTraceParent(traceID [16]byte, spanID [8]byte, flags byte) TraceParent {
	var tp TraceParent
	copy(tp[:], fmt.Sprintf("00-%x-%x-%02x", traceID, spanID, flags))
	return tp
}

// Conn names a TCP connection from the sending application's side.
type Conn struct {
	Local, Remote netip.AddrPort
}

func (c Conn) key() injectConnKey {
	var k injectConnKey
	l, r := c.Local.Addr().As16(), c.Remote.Addr().As16()
	for i := 0; i < 4; i++ {
		// The BPF side stores the address bytes in network order, as the
		// kernel does: reading them as native (little-endian) words gives
		// the same memory.
		k.LocalIp[i] = nativeWord(l[4*i : 4*i+4])
		k.RemoteIp[i] = nativeWord(r[4*i : 4*i+4])
	}
	k.LocalPort = c.Local.Port()
	k.RemotePort = c.Remote.Port()
	return k
}

func nativeWord(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// Options size the injector's maps; zero values take the defaults.
type Options struct {
	// MaxPending bounds the contexts waiting for their connection's next
	// request; SetPending fails (and counts PendingRejected) when that many
	// wait. Default 16384.
	MaxPending uint32
}

// Injector is the loaded programs and maps, and the cgroups they are
// attached to.
type Injector struct {
	objs injectObjects

	mu      sync.Mutex
	cgroups map[string]link.Link
	msgProg bool // the sk_msg program is attached to the sockhash
	closed  bool

	pendingRejected   atomic.Uint64
	pendingNotTracked atomic.Uint64
}

// Open loads the programs and maps and attaches the sk_msg program to the
// sockhash. Nothing runs for any socket until AttachCgroup and Track.
func Open(opts Options) (*Injector, error) {
	if err := requireCaps(); err != nil {
		return nil, err
	}
	spec, err := loadInject()
	if err != nil {
		return nil, fmt.Errorf("inject: load object spec: %w", err)
	}
	if opts.MaxPending > 0 {
		spec.Maps["pending"].MaxEntries = opts.MaxPending
	}
	in := &Injector{cgroups: map[string]link.Link{}}
	if err := spec.LoadAndAssign(&in.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("inject: load programs: %+v", verr)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("inject: load programs: %w: %w (socket-level injection needs CAP_NET_ADMIN, CAP_BPF and CAP_PERFMON)", ErrMissingPrivilege, err)
		}
		return nil, fmt.Errorf("inject: load programs: %w", err)
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  in.objs.TrackedSocks.FD(),
		Program: in.objs.InjectSkMsg,
		Attach:  ebpf.AttachSkMsgVerdict,
	}); err != nil {
		in.objs.Close()
		return nil, fmt.Errorf("inject: attach sk_msg program to the sockhash: %w", err)
	}
	in.msgProg = true
	return in, nil
}

// requiredCaps are the capabilities injection needs, by their bit in
// /proc/self/status CapEff: the kernel refuses to load sockops and sk_msg
// programs without CAP_NET_ADMIN, and refuses bpf_skc_to_tcp_sock and
// bpf_probe_read_kernel to a program loaded without CAP_PERFMON.
var requiredCaps = []struct {
	bit  uint
	name string
}{{12, "CAP_NET_ADMIN"}, {39, "CAP_BPF"}, {38, "CAP_PERFMON"}}

// requireCaps names the missing capabilities before the kernel's bare EPERM
// or verifier message would.
func requireCaps() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil // let the kernel decide
	}
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:\t")
		if !ok {
			continue
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil
		}
		var missing []string
		for _, c := range requiredCaps {
			if eff&(1<<c.bit) == 0 {
				missing = append(missing, c.name)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("inject: %w: %s not in the effective set (socket-level injection needs CAP_NET_ADMIN, CAP_BPF and CAP_PERFMON)",
				ErrMissingPrivilege, strings.Join(missing, ", "))
		}
	}
	return nil
}

// AttachCgroup attaches the sockops program to a cgroup v2 directory (a
// target's own cgroup): sockets created in it, and in its descendants, are
// candidates; only those of tracked processes enter the sockhash.
// Attaching the same directory twice is a no-op.
func (in *Injector) AttachCgroup(path string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.cgroups[path]; ok {
		return nil
	}
	l, err := link.AttachCgroup(link.CgroupOptions{
		Path:    path,
		Attach:  ebpf.AttachCGroupSockOps,
		Program: in.objs.InjectSockops,
	})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("inject: attach sockops to cgroup %s: %w: %w (needs CAP_NET_ADMIN)", path, ErrMissingPrivilege, err)
		}
		return fmt.Errorf("inject: attach sockops to cgroup %s: %w", path, err)
	}
	in.cgroups[path] = l
	return nil
}

// DetachCgroup undoes AttachCgroup. Connections already in the sockhash
// keep their state until they close or the injector is closed; closing
// after the detach, they get no state callback, so a context still pending
// for one stays in the map (never used by another socket: see SetPending).
func (in *Injector) DetachCgroup(path string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	l, ok := in.cgroups[path]
	if !ok {
		return nil
	}
	delete(in.cgroups, path)
	return l.Close()
}

// Track makes the connections pid opens from now on candidates.
func (in *Injector) Track(pid int) error {
	if err := in.objs.TrackedTgids.Put(uint32(pid), uint8(1)); err != nil {
		return fmt.Errorf("inject: track pid %d: %w", pid, err)
	}
	return nil
}

// Untrack stops making pid's new connections candidates.
func (in *Injector) Untrack(pid int) error {
	if err := in.objs.TrackedTgids.Delete(uint32(pid)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("inject: untrack pid %d: %w", pid, err)
	}
	return nil
}

// SetPending offers tp to the next request c sends. It is consumed by that
// request (inserted, or skipped and counted) and never used twice; it is
// withdrawn when the connection closes first. It fails, wrapping
// ErrConnNotTracked, when c is not an open tracked connection.
//
// The context records the connection's socket cookie, and the sk_msg
// program uses it only on that socket: should the connection close with no
// state callback (its cgroup detached), a later connection reusing the
// 4-tuple does not get it (PendingStale).
func (in *Injector) SetPending(c Conn, tp TraceParent) error {
	k := c.key()
	var cookie uint64
	if err := in.objs.LiveConns.Lookup(k, &cookie); err != nil {
		return in.notTracked(c, err)
	}
	v := injectPendingCtx{Traceparent: tp, Cookie: cookie}
	if err := in.objs.Pending.Put(k, v); err != nil {
		in.pendingRejected.Add(1)
		return fmt.Errorf("inject: pending context for %s->%s: %w", c.Local, c.Remote, err)
	}
	// The close's state callback leaves live_conns before it withdraws the
	// context: still there now, it will withdraw this one; gone, it may
	// have run before the Put, so the context is withdrawn here.
	var now uint64
	if err := in.objs.LiveConns.Lookup(k, &now); err != nil || now != cookie {
		var p injectPendingCtx
		if in.objs.Pending.Lookup(k, &p) == nil && p.Cookie == cookie {
			in.objs.Pending.Delete(k)
		}
		if err == nil {
			err = errors.New("another connection with that 4-tuple")
		}
		return in.notTracked(c, err)
	}
	return nil
}

// PendingMap is the map of pending contexts, keyed by the connection's
// 4-tuple from the sender's side (IPv4 as IPv4-mapped IPv6 addresses in
// network order, ports in host order; 40 bytes) with the 55 traceparent
// bytes, one pad byte and the 8-byte socket cookie of the connection the
// context is for (from LiveConnsMap) as value. The receiver's HTTP client
// probe (bpf/common/inject.h) shares it, to offer a request's context from
// BPF before the request is written. Valid until Close.
func (in *Injector) PendingMap() *ebpf.Map { return in.objs.Pending }

// LiveConnsMap holds the open tracked connections (PendingMap's key) and
// their socket cookie: a producer of contexts from BPF offers one only for
// a connection found there, with that cookie (the sk_msg program refuses
// any other). Valid until Close.
func (in *Injector) LiveConnsMap() *ebpf.Map { return in.objs.LiveConns }

// AppContextMap holds, by connection (PendingMap's key), the traceparent
// value the application itself sent in its last request that carried one
// (an LRU of observations; the 55 bytes as sent, unchecked; PendingMap's
// value type, its cookie left 0). The receiver's
// HTTP client probe shares it so that its client span adopts the
// application's context. Valid until Close.
func (in *Injector) AppContextMap() *ebpf.Map { return in.objs.AppContexts }

// ProgramStats returns the kernel's run count and run time of the sk_msg
// and sockops programs (non-zero only while BPF statistics are enabled, see
// ebpf.EnableStats): the benchmarks' view of their cost.
func (in *Injector) ProgramStats() (msg, sockops ebpf.ProgramStats, err error) {
	m, err := in.objs.InjectSkMsg.Stats()
	if err != nil {
		return msg, sockops, fmt.Errorf("inject: sk_msg program stats: %w", err)
	}
	s, err := in.objs.InjectSockops.Stats()
	if err != nil {
		return msg, sockops, fmt.Errorf("inject: sockops program stats: %w", err)
	}
	return *m, *s, nil
}

func (in *Injector) notTracked(c Conn, err error) error {
	in.pendingNotTracked.Add(1)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("inject: pending context for %s->%s: %w", c.Local, c.Remote, ErrConnNotTracked)
	}
	return fmt.Errorf("inject: pending context for %s->%s: %w: %w", c.Local, c.Remote, ErrConnNotTracked, err)
}

// ClearPending withdraws a context SetPending offered and no request took.
func (in *Injector) ClearPending(c Conn) error {
	if err := in.objs.Pending.Delete(c.key()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("inject: clear pending context for %s->%s: %w", c.Local, c.Remote, err)
	}
	return nil
}

// Close detaches every cgroup and the sk_msg program and frees the maps:
// sockets leave the sockhash and send as before.
func (in *Injector) Close() error {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	in.closed = true
	var errs []error
	for path, l := range in.cgroups {
		errs = append(errs, l.Close())
		delete(in.cgroups, path)
	}
	if in.msgProg {
		errs = append(errs, link.RawDetachProgram(link.RawDetachProgramOptions{
			Target:  in.objs.TrackedSocks.FD(),
			Program: in.objs.InjectSkMsg,
			Attach:  ebpf.AttachSkMsgVerdict,
		}))
		in.msgProg = false
	}
	errs = append(errs, in.objs.Close())
	return errors.Join(errs...)
}
