package inject

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The header-safety test sends random requests through an injecting client
// to a server that records what it received, and checks the server got
// exactly what the application sent plus one traceparent line where the
// rules allow one, and nothing else; a model of those rules (below, written
// from the README, independent of the BPF code) says where.

const headScanLimit = 8192 // HEAD_MAX in bpf/inject.bpf.c

// genRequest is one request as the application sends it.
type genRequest struct {
	method  string
	head    []byte // request line, headers, final CRLF
	body    []byte // as sent (chunk-encoded when chunked)
	hasTP   bool   // the application sent its own traceparent
	chunked bool
}

func (r genRequest) bytes() []byte { return append(bytes.Clone(r.head), r.body...) }

// group is requests written together, after one offer of a context (or
// none) for the first of them.
type group struct {
	reqs    []genRequest
	offered bool
	tp      TraceParent
	writes  [][]byte // the group's bytes, cut into writes
	// splitHead: the first request's head ends in a later write than it
	// starts in; firstWrite is the length of that first write.
	splitHead  bool
	firstWrite int
}

var headerNames = []string{"Accept", "User-Agent", "X-Request-Id", "Cookie", "Authorization",
	"Cache-Control", "X-Forwarded-For", "Accept-Encoding", "X-B3-TraceId", "Tracestate",
	"X-Traceparent", "Traceparent-Copy", "Content-Type", "Content-Lengthy", "Baggage", "Via"}

const tchars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"

func randomCase(rng *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' && rng.Intn(2) == 0 {
			b[i] = c - 32
		} else if c >= 'A' && c <= 'Z' && rng.Intn(2) == 0 {
			b[i] = c + 32
		}
	}
	return string(b)
}

func randomValue(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0x21 + rng.Intn(0x7e-0x21+1))
		if i > 0 && i < n-1 && rng.Intn(12) == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

// randomBody holds bytes a careless scanner would take for HTTP.
func randomBody(rng *rand.Rand) []byte {
	traps := []string{"\r\n\r\n", "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "Content-Length: 5\r\n", "\x00\x16\x03\x01"}
	var b []byte
	for n := rng.Intn(3000); len(b) < n; {
		if rng.Intn(6) == 0 {
			b = append(b, traps[rng.Intn(len(traps))]...)
		} else {
			b = append(b, byte(rng.Intn(256)))
		}
	}
	return b
}

func genOne(rng *rand.Rand) genRequest {
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"}
	r := genRequest{method: methods[rng.Intn(len(methods))]}
	var target int
	switch p := rng.Intn(10); {
	case p < 7:
		target = rng.Intn(1024)
	case p < 9:
		target = 1024 + rng.Intn(5*1024)
	default:
		target = 7*1024 + rng.Intn(5*1024) // around and over the scan limit
	}
	nHeaders := rng.Intn(101)
	lines := []string{"Host: 127.0.0.1"}
	per := 1
	if nHeaders > 0 {
		per = max(1, target/nHeaders-16)
	}
	for i := 0; i < nHeaders; i++ {
		var name string
		if rng.Intn(3) == 0 {
			name = string(tchars[rng.Intn(26)])
			for j := rng.Intn(20); j > 0; j-- {
				name += string(tchars[rng.Intn(len(tchars))])
			}
		} else {
			name = randomCase(rng, headerNames[rng.Intn(len(headerNames))])
		}
		lines = append(lines, name+": "+randomValue(rng, per/2+rng.Intn(per/2+1)))
	}
	if rng.Intn(7) == 0 {
		r.hasTP = true
		lines = append(lines, randomCase(rng, "traceparent")+": 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	}
	switch p := rng.Intn(10); {
	case p < 4:
		r.body = randomBody(rng)
		lines = append(lines, randomCase(rng, "content-length")+": "+strconv.Itoa(len(r.body)))
	case p < 5 && rng.Intn(2) == 0:
		r.chunked = true
		plain := randomBody(rng)
		for len(plain) > 0 {
			n := min(len(plain), 1+rng.Intn(700))
			r.body = append(r.body, fmt.Sprintf("%x\r\n", n)...)
			r.body = append(r.body, plain[:n]...)
			r.body = append(r.body, "\r\n"...)
			plain = plain[n:]
		}
		r.body = append(r.body, "0\r\n\r\n"...)
		lines = append(lines, randomCase(rng, "transfer-encoding")+": chunked")
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	r.head = []byte(r.method + " /r/" + strconv.Itoa(rng.Intn(1e6)) + "?q=" + randomValue(rng, rng.Intn(40)) + " HTTP/1.1\r\n")
	r.head = bytes.ReplaceAll(r.head, []byte(" ?"), []byte("?")) // no spaces in the target
	r.head = append(r.head, strings.Join(lines, "\r\n")...)
	r.head = append(r.head, "\r\n\r\n"...)
	// Spaces in the query would break the request line.
	line, rest, _ := bytes.Cut(r.head, []byte("\r\n"))
	f := bytes.SplitN(line, []byte(" "), 2)
	target2 := bytes.TrimSuffix(f[1], []byte(" HTTP/1.1"))
	target2 = bytes.ReplaceAll(target2, []byte(" "), []byte("+"))
	r.head = append(append(append(f[0], ' '), target2...), append([]byte(" HTTP/1.1\r\n"), rest...)...)
	return r
}

// genSession is the groups one connection sends.
func genSession(rng *rand.Rand, firstTP int) []group {
	var gs []group
	for n := 1 + rng.Intn(6); len(gs) < n; {
		g := group{reqs: []genRequest{genOne(rng)}}
		if rng.Intn(7) == 0 {
			g.reqs = append(g.reqs, genOne(rng)) // pipelined
		}
		if rng.Intn(5) != 0 {
			g.offered = true
			g.tp = traceParentN(firstTP + len(gs))
		}
		var all []byte
		for _, r := range g.reqs {
			all = append(all, r.bytes()...)
		}
		first := g.reqs[0]
		switch p := rng.Intn(10); {
		case len(g.reqs) == 1 && p < 1 && len(first.head) > 2:
			cut := 1 + rng.Intn(len(first.head)-1)
			g.splitHead, g.firstWrite = true, cut
			g.writes = [][]byte{all[:cut], all[cut:]}
		case len(g.reqs) == 1 && p < 4 && len(first.body) > 1:
			h := len(first.head)
			cut := h + 1 + rng.Intn(len(first.body)-1)
			g.writes = [][]byte{all[:h], all[h:cut], all[cut:]}
		default:
			g.writes = [][]byte{all}
		}
		if !g.splitHead {
			g.firstWrite = len(g.writes[0])
		}
		gs = append(gs, g)
	}
	return gs
}

// model applies the injection rules to a session: the bytes the server
// must receive and the counters that must move.
func model(gs []group) ([]byte, Counters) {
	var want []byte
	var c Counters
	lost := false
	for _, g := range gs {
		pendingLeft := g.offered
		avail := g.firstWrite // bytes from the request start to the end of its write
		for k, r := range g.reqs {
			pending := k == 0 && pendingLeft
			if k > 0 {
				avail -= len(g.reqs[k-1].head) + len(g.reqs[k-1].body)
			}
			if lost {
				if pending {
					c.SkippedBoundaryLost++
				}
				want = append(want, r.bytes()...)
				continue
			}
			window := min(avail, headScanLimit)
			if len(r.head) > window {
				if window == headScanLimit {
					c.SkippedTooLarge++
				} else {
					c.SkippedHeadSplit++
				}
				if pending {
					c.SkippedBoundaryLost++
				}
				lost = true
				want = append(want, r.bytes()...)
				continue
			}
			h := len(r.head) - 2
			switch {
			case r.hasTP:
				c.SkippedHasTraceparent++
				want = append(want, r.head...)
			case !pending:
				c.SkippedNoPending++
				want = append(want, r.head...)
			default:
				c.Injected++
				want = append(want, r.head[:h]...)
				want = append(want, "traceparent: "...)
				want = append(want, g.tp[:]...)
				want = append(want, "\r\n\r\n"...)
			}
			want = append(want, r.body...)
			if r.chunked {
				c.LostChunked++
				lost = true
			}
		}
	}
	return want, c
}

func TestHeaderSafety(t *testing.T) {
	in, dir := attachedInjector(t)
	srv := startEchoServer(t)
	seed := int64(16)
	if s := os.Getenv("INJECT_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	sessions := 60
	if testing.Short() {
		sessions = 15
	}
	rng := rand.New(rand.NewSource(seed))
	var total Counters
	requests := 0
	for s := 0; s < sessions; s++ {
		gs := genSession(rng, s*100)
		want, wantCnt := model(gs)
		var writes [][]byte
		var methods []string
		for _, g := range gs {
			writes = append(writes, g.writes...)
			for _, r := range g.reqs {
				methods = append(methods, r.method)
			}
		}
		requests += len(methods)
		path := writeSpec(t, writes, methods)
		before, _ := in.Counters()
		c := startTracked(t, in, dir, "raw", srv.addr, path)
		for _, g := range gs {
			if g.offered {
				if err := in.SetPending(c.conn, g.tp); err != nil {
					t.Fatal(err)
				}
			}
			for range g.writes {
				c.step()
			}
			// A context no request took must not wait for a later one.
			in.ClearPending(c.conn)
		}
		n, ok := c.finish()
		if n != len(methods) || ok != n {
			t.Fatalf("seed %d session %d: %d responses, %d 2xx, want %d", seed, s, n, ok, len(methods))
		}
		got := srv.received(c.conn.Local.String())
		if !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Fatalf("seed %d session %d: server received %d bytes, want %d; first difference at %d:\ngot  %q\nwant %q",
				seed, s, len(got), len(want), i, clip(got, i), clip(want, i))
		}
		after, _ := in.Counters()
		d := diff(after, before)
		d.MessageRuns, d.SocketsTracked = 0, 0
		if d != wantCnt {
			t.Fatalf("seed %d session %d: counters moved by %+v, want %+v", seed, s, d, wantCnt)
		}
		total = addCounters(total, d)
	}
	t.Logf("seed %d: %d sessions, %d requests: %+v", seed, sessions, requests, total)
	if total.Injected == 0 || total.SkippedHasTraceparent == 0 || total.SkippedHeadSplit == 0 ||
		total.SkippedTooLarge == 0 || total.LostChunked == 0 || total.SkippedBoundaryLost == 0 {
		t.Errorf("the random sessions missed a case: %+v", total)
	}
}

func clip(b []byte, at int) []byte {
	lo, hi := max(0, at-40), min(len(b), at+80)
	return b[lo:hi]
}

func diff(a, b Counters) Counters {
	var d Counters
	fa, fb, fd := a.all(), b.all(), d.all()
	for i := range fd {
		*fd[i] = *fa[i] - *fb[i]
	}
	return d
}

func addCounters(a, b Counters) Counters {
	fa, fb := a.all(), b.all()
	for i := range fa {
		*fa[i] += *fb[i]
	}
	return a
}
