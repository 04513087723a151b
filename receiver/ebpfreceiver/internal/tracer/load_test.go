package tracer

import (
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
)

func TestLoadPassesVerifier(t *testing.T) {
	prereq.RequireRoot(t, "loading BPF programs")
	for _, opts := range []Options{
		{RingBufferSize: 1 << 20},
		{RingBufferSize: 1 << 16, ExtractTraceContext: true, ExtractB3: true},
	} {
		tr, err := New(opts)
		if err != nil {
			t.Fatalf("New(%+v): %v", opts, err)
		}
		if got := tr.coll.Maps["events"].MaxEntries(); got != uint32(ringSize(opts.RingBufferSize)) {
			t.Errorf("ring size = %d, want %d", got, ringSize(opts.RingBufferSize))
		}
		drops, err := tr.Drops()
		if err != nil || drops != 0 {
			t.Errorf("Drops() = %d, %v; want 0, nil", drops, err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestForgetProcessDeletesOnlyThatProcess(t *testing.T) {
	prereq.RequireRoot(t, "loading BPF programs")
	tr, err := New(Options{RingBufferSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var sc bpfprog.GoebpfSpanContext
	var sr bpfprog.GoebpfServerInflight
	for g := uint64(1); g <= 50; g++ {
		for _, pid := range []uint32{100, 200} {
			k := bpfprog.GoebpfGoroutineKey{Tgid: pid, G: g}
			if err := tr.coll.Maps["span_by_goroutine"].Put(&k, &sc); err != nil {
				t.Fatal(err)
			}
			if err := tr.coll.Maps["server_requests"].Put(&k, &sr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for port := uint16(1); port <= 20; port++ {
		for _, pid := range []uint32{100, 200} {
			k := bpfprog.GoebpfConnTuple{ClientPort: port, ServerPort: uint16(pid)}
			if err := tr.coll.Maps["client_by_conn"].Put(&k, &bpfprog.GoebpfConnClient{Tgid: pid}); err != nil {
				t.Fatal(err)
			}
			hk := bpfprog.GoebpfH2StreamTuple{Conn: k, StreamId: 1}
			if err := tr.coll.Maps["client_by_h2_stream"].Put(&hk, &bpfprog.GoebpfConnClient{Tgid: pid}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tr.ForgetProcess(100); err != nil {
		t.Fatal(err)
	}
	count := func(pid uint32) (n int) {
		var k bpfprog.GoebpfGoroutineKey
		it := tr.coll.Maps["span_by_goroutine"].Iterate()
		for it.Next(&k, &sc) {
			if k.Tgid == pid {
				n++
			}
		}
		it = tr.coll.Maps["server_requests"].Iterate()
		for it.Next(&k, &sr) {
			if k.Tgid == pid {
				n++
			}
		}
		return n
	}
	if n := count(100); n != 0 {
		t.Errorf("%d entries of the forgotten process remain", n)
	}
	if n := count(200); n != 100 {
		t.Errorf("%d entries of the other process remain, want 100", n)
	}
	conns := map[uint32]int{}
	var k bpfprog.GoebpfConnTuple
	var v bpfprog.GoebpfConnClient
	for it := tr.coll.Maps["client_by_conn"].Iterate(); it.Next(&k, &v); {
		conns[v.Tgid]++
	}
	if conns[100] != 0 || conns[200] != 20 {
		t.Errorf("connections left: %v, want none of pid 100 and 20 of pid 200", conns)
	}
	streams := map[uint32]int{}
	var hk bpfprog.GoebpfH2StreamTuple
	for it := tr.coll.Maps["client_by_h2_stream"].Iterate(); it.Next(&hk, &v); {
		streams[v.Tgid]++
	}
	if streams[100] != 0 || streams[200] != 20 {
		t.Errorf("HTTP/2 streams left: %v, want none of pid 100 and 20 of pid 200", streams)
	}
}
