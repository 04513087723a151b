package inject

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// drainServer accepts connections and discards what they send.
func drainServer(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// benchWrites runs injclient in mode with n writes from cgroup dir and
// returns the mean time of its write calls. In bench-stepped mode a context
// is offered before each write (refused for untracked clients).
func benchWrites(b *testing.B, in *Injector, dir, addr, mode string, track bool, n int) float64 {
	b.Helper()
	c := startClient(b, dir, mode, addr, strconv.Itoa(n))
	if track {
		if err := in.Track(c.pid()); err != nil {
			b.Fatal(err)
		}
		defer in.Untrack(c.pid())
	}
	c.release()
	c.connected()
	if mode == "bench-stepped" {
		for i := 0; i < n; i++ {
			// An untracked client's connection is refused (its
			// socket never looks); the call is made all the same.
			if err := in.SetPending(c.conn, traceParentN(i)); err != nil && (track || !errors.Is(err, ErrConnNotTracked)) {
				b.Fatal(err)
			}
			c.step()
		}
	} else {
		c.release()
	}
	var ns, writes int64
	if _, err := fmt.Sscanf(c.expect("result "), "result %d %d", &ns, &writes); err != nil || writes != int64(n) {
		b.Fatalf("injclient result: %v (%d writes)", err, writes)
	}
	return float64(ns) / float64(n)
}

// benchPair runs injclient's bench-pair mode: one untracked process, one
// connection made in cgroup from and one after the process moved to cgroup
// to, n head writes on each, interleaved. It returns the mean thread CPU
// time of a write on each connection.
func benchPair(b *testing.B, from, to, addr string, n int) (fromNS, toNS float64) {
	b.Helper()
	c := startClient(b, from, "bench-pair", addr, strconv.Itoa(n))
	c.release()
	c.expect("conn ")
	if err := os.WriteFile(filepath.Join(to, "cgroup.procs"), []byte(strconv.Itoa(c.pid())), 0o644); err != nil {
		b.Fatalf("move injclient to %s: %v", to, err)
	}
	c.release()
	c.expect("conn ")
	c.release()
	var a, t, writes int64
	if _, err := fmt.Sscanf(c.expect("result-pair "), "result-pair %d %d %d", &a, &t, &writes); err != nil || writes != int64(n) {
		b.Fatalf("injclient result: %v (%d writes)", err, writes)
	}
	return float64(a) / float64(n), float64(t) / float64(n)
}

// progRuns is a program's mean run time since the last call.
type progRuns struct {
	prog      *ebpf.Program
	last      time.Duration
	lastCount uint64
}

func (r *progRuns) next(b *testing.B) (ns float64, runs uint64) {
	st, err := r.prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	d, n := st.Runtime-r.last, st.RunCount-r.lastCount
	r.last, r.lastCount = st.Runtime, st.RunCount
	if n == 0 {
		return 0, 0
	}
	return float64(d.Nanoseconds()) / float64(n), n
}

// BenchmarkSendmsg reports the mean write() time of a client sending ~1 KiB
// request heads over loopback, measured in the same run:
//   - unrelated: a process that is not tracked writes in turn on two
//     connections, one made in a cgroup without the sockops program and one
//     made after it moved into the attached cgroup (pair); and a separate
//     untracked client as the baseline of the tracked scenarios;
//   - tracked: heads scanned without a context (no-pending), heads that get
//     a traceparent (injected, a context offered before each write), and
//     1 KiB body writes after a head declaring a large body (body);
//
// with each one's ratio to the baseline (the injected writes, one per round
// trip with the test, to an untracked client stepped the same way), and the sk_msg program's own run
// time per write from the kernel's BPF statistics. b.N is the writes per
// client; every measurement is repeated in 3 alternating rounds.
func BenchmarkSendmsg(b *testing.B) {
	in := openInjector(b)
	attached, detached := testCgroup(b), testCgroup(b)
	if err := in.AttachCgroup(attached); err != nil {
		b.Fatal(err)
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF run-time statistics: %v", err)
	}
	defer stats.Close()
	addr := drainServer(b)
	run := &progRuns{prog: in.objs.InjectSkMsg}
	run.next(b)
	sockops := &progRuns{prog: in.objs.InjectSockops}
	sockops.next(b)

	type scenario struct {
		name  string
		dir   string
		mode  string
		track bool
	}
	scenarios := []scenario{
		{"unrelated-baseline", detached, "bench-heads", false},
		{"tracked-no-pending", attached, "bench-heads", true},
		{"unrelated-stepped", detached, "bench-stepped", false},
		{"tracked-injected", attached, "bench-stepped", true},
		{"tracked-body", attached, "bench-body", true},
	}
	n := max(b.N, 1000)
	sum := map[string]float64{}
	bpf := map[string]float64{}
	b.ResetTimer()
	var pairDetached, pairAttached float64
	for round := 0; round < 3; round++ {
		d, a := benchPair(b, detached, attached, addr, n)
		pairDetached += d / 3
		pairAttached += a / 3
		if _, runs := run.next(b); runs != 0 {
			b.Fatalf("the sk_msg program ran %d times for an unrelated process", runs)
		}
		// Each round starts with another scenario: the first client of a
		// round runs on colder caches.
		for j := range scenarios {
			s := scenarios[(j+round)%len(scenarios)]
			sum[s.name] += benchWrites(b, in, s.dir, addr, s.mode, s.track, n) / 3
			ns, runs := run.next(b)
			if s.track && runs < uint64(n) {
				b.Fatalf("%s: %d sk_msg runs for %d writes", s.name, runs, n)
			}
			if !s.track && runs != 0 {
				b.Fatalf("%s: the sk_msg program ran %d times for an unrelated process", s.name, runs)
			}
			bpf[s.name] += ns / 3
		}
	}
	b.StopTimer()
	cnt, _ := in.Counters()
	if cnt.Injected < uint64(3*n) {
		b.Fatalf("injected %d of %d offered", cnt.Injected, 3*n)
	}
	// The sockops program runs at connection set-up (connect, established)
	// of every socket in the attached cgroup, tracked or not; never per write.
	ns, runs := sockops.next(b)
	b.ReportMetric(ns, "sockops-ns/run")
	b.ReportMetric(float64(runs), "sockops-runs")
	// One untracked process, one connection outside and one inside the
	// attached cgroup, written to in turn: the fair comparison.
	b.ReportMetric(pairDetached, "unrelated-pair-detached-cpu-ns/write")
	b.ReportMetric(pairAttached, "unrelated-pair-attached-cpu-ns/write")
	b.ReportMetric(pairAttached/pairDetached, "unrelated-pair-ratio")
	for _, s := range scenarios {
		b.ReportMetric(sum[s.name], s.name+"-ns/write")
		// Stepped writes (one per round trip with the test) run on cold
		// caches: they compare with the stepped baseline.
		base := "unrelated-baseline"
		if s.mode == "bench-stepped" {
			base = "unrelated-stepped"
		}
		if s.name != base {
			b.ReportMetric(sum[s.name]/sum[base], s.name+"-ratio")
		}
		if s.track {
			b.ReportMetric(bpf[s.name], s.name+"-skmsg-ns/run")
		}
	}
}
