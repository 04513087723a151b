package tracer

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclient"
)

// refusingFront is a gRPC peer over unencrypted HTTP/2 (prior knowledge)
// that answers every stream with an empty OK response (response headers,
// then trailers with grpc-status 0) once the request ended, except the
// first stream it sees: that one it refuses with RST_STREAM REFUSED_STREAM
// after delay, which a grpc-go client retries transparently.
type refusingFront struct {
	delay   time.Duration
	refused atomic.Bool
	// refusedAt and answeredAt: CLOCK_BOOTTIME (the events' clock) when
	// the refusal was sent and when the first OK response was.
	refusedAt, answeredAt atomic.Int64
}

func boottimeNs(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano()
}

func startRefusingFront(t *testing.T, delay time.Duration) (*refusingFront, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &refusingFront{delay: delay}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				// Closed with the listener at the end of the test.
				t.Cleanup(func() { c.Close() })
				f.serve(t, c)
			}()
		}
	}()
	return f, l.Addr().String()
}

func (f *refusingFront) serve(t *testing.T, c net.Conn) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var mu sync.Mutex // writes: the framer, the encoder
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	block := func(kv ...string) []byte {
		hbuf.Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return append([]byte(nil), hbuf.Bytes()...)
	}
	write := func(fn func() error) {
		mu.Lock()
		defer mu.Unlock()
		if err := fn(); err != nil {
			c.Close()
		}
	}
	write(func() error { return fr.WriteSettings() })
	refusedHere := map[uint32]bool{}
	answer := func(id uint32) {
		write(func() error {
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(":status", "200", "content-type", "application/grpc"), EndHeaders: true}); err != nil {
				return err
			}
			f.answeredAt.CompareAndSwap(0, boottimeNs(t))
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block("grpc-status", "0"), EndHeaders: true, EndStream: true})
		})
	}
	for {
		frame, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch fm := frame.(type) {
		case *http2.SettingsFrame:
			if !fm.IsAck() {
				write(func() error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !fm.IsAck() {
				write(func() error { return fr.WritePing(true, fm.Data) })
			}
		case *http2.MetaHeadersFrame:
			id := fm.StreamID
			if f.refused.CompareAndSwap(false, true) {
				refusedHere[id] = true
				time.AfterFunc(f.delay, func() {
					write(func() error {
						f.refusedAt.Store(boottimeNs(t))
						return fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
					})
				})
				continue
			}
			if fm.StreamEnded() {
				answer(id)
			}
		case *http2.DataFrame:
			if fm.StreamEnded() && !refusedHere[fm.StreamID] {
				answer(fm.StreamID)
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}

// A stream whose first attempt the peer refuses (RST_STREAM
// REFUSED_STREAM, after 300 ms) and grpc-go retries transparently on the
// same connection: one CLIENT span for the stream, ending after the retry's
// OK response with status 0, its duration covering the refused attempt.
// (grpc ends the refused attempt through (*csAttempt).finish with
// UNAVAILABLE: a span ended there would be early with code 14.)
func TestGRPCClientStreamRetry(t *testing.T) {
	prereq.RequireRoot(t, "the gRPC probes")
	const delay = 300 * time.Millisecond
	front, frontAddr := startRefusingFront(t, delay)
	exe := buildGRPCDemo(t, "")
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{"-addr", addr} })
	_, bin := resolveServer(t, exe)
	if err := bin.Unusable[grpcclient.StreamName]; err != nil {
		t.Fatalf("%s unusable: %v", grpcclient.StreamName, err)
	}
	tr, err := New(Options{RingBufferSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, Probes{grpcclient.Name: true, grpcclient.StreamName: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })

	h0, _ := tr.Hits()
	if got := grpcCall(t, exe, addr, "-service", "watch="+frontAddr); len(got) != 1 || got[0] != "OK" {
		t.Fatalf("client printed %v", got)
	}
	_, clients := grpcEvents(t, tr, 1)
	// Anything else (an early span of the refused attempt) would come
	// with it.
	if err := tr.Drain(time.Second, func(raw []byte) {
		if ev, err := Decode(raw); err == nil {
			if e, ok := ev.(*grpcclient.Event); ok {
				clients = append(clients, e)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	hits := hitsSince(t, tr, h0)
	if !front.refused.Load() || front.refusedAt.Load() == 0 || front.answeredAt.Load() == 0 {
		t.Fatalf("the front refused %v at %d, answered at %d: no retried stream", front.refused.Load(), front.refusedAt.Load(), front.answeredAt.Load())
	}
	if len(clients) != 1 {
		t.Fatalf("%d client events, want 1 for the retried stream: %+v", len(clients), clients)
	}
	c := clients[0]
	if c.Method != "/grpc.health.v1.Health/Watch" || c.Target != frontAddr {
		t.Errorf("client span method %q target %q; want Watch, %s", c.Method, c.Target, frontAddr)
	}
	if c.Code != 0 {
		t.Errorf("client span code %d, want 0 (the retry's status, not the refused attempt's)", c.Code)
	}
	if int64(c.EndNs) < front.answeredAt.Load() {
		t.Errorf("client span ends at %d, before the retry was answered at %d (refused at %d)", c.EndNs, front.answeredAt.Load(), front.refusedAt.Load())
	}
	if d := time.Duration(c.EndNs - c.StartNs); c.EndNs < c.StartNs || d < delay {
		t.Errorf("client span lasts %v, want at least the %v before the refusal", d, delay)
	}
	// NewStream entry and RET once; the stream's finish at its end and
	// from grpc's context watcher (each maybe twice when its prologue grows
	// the stack).
	if finish := hits[grpcclient.ProgStreamFinish]; hits[grpcclient.ProgStreamEntry] != 1 || hits[grpcclient.ProgStreamReturn] != 1 || finish < 2 || finish > 4 {
		t.Errorf("hits for one retried stream: NewStream entry %d, return %d, finish %d; want 1, 1, 2 (to 4)", hits[grpcclient.ProgStreamEntry], hits[grpcclient.ProgStreamReturn], hits[grpcclient.ProgStreamFinish])
	}
}
