package tracer

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// The head scan reads the request head 8 bytes at a time: a trace context
// header must be found whatever the byte lane its line starts in, wherever
// it sits in a head of up to 4 KiB, in any letter case, and not when the
// text only appears inside another header's value.
func TestHeadScanFindsContext(t *testing.T) {
	prereq.RequireRoot(t, "the server probes")
	pid, base, path := startDemo(t, "")
	_, bin := resolveServer(t, path)
	tr, _ := attachServer(t, Options{RingBufferSize: 1 << 20, ExtractTraceContext: true, ExtractB3: true}, pid, bin)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)

	const (
		tpTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		tpSpan  = "00f067aa0ba902b7"
		b3Trace = "80f198ee56343ba864fe8b2a57d3eff7"
		b3Span  = "e457b5a2e4d86bd1"
	)
	tp := "00-" + tpTrace + "-" + tpSpan + "-01"
	b3 := b3Trace + "-" + b3Span + "-1"
	type tc struct {
		name      string
		headers   []string
		wantTrace string // "" for no parent
	}
	var cases []tc
	// Every byte lane, near the start and at the end of a ~4 KiB head.
	for shift := range 16 {
		pad := "X-Pad: " + strings.Repeat("p", shift)
		cases = append(cases, tc{fmt.Sprintf("lane %d first", shift), []string{pad, "traceparent: " + tp}, tpTrace})
		var many []string
		for i := range 60 {
			many = append(many, fmt.Sprintf("X-Filler-%02d: %s", i, strings.Repeat("f", 40)))
		}
		cases = append(cases, tc{fmt.Sprintf("lane %d last of 4 KiB", shift), append(append(many, pad), "Traceparent: "+tp), tpTrace})
	}
	cases = append(cases,
		tc{"upper case name", []string{"TRACEPARENT: " + tp}, tpTrace},
		tc{"tracestate first", []string{"tracestate: congo=t61rcWkgMzE", "traceparent: " + tp}, tpTrace},
		tc{"b3 only", []string{"b3: " + b3}, b3Trace},
		tc{"b3 then traceparent: traceparent wins", []string{"b3: " + b3, "traceparent: " + tp}, tpTrace},
		tc{"traceparent then b3: traceparent wins", []string{"traceparent: " + tp, "b3: " + b3}, tpTrace},
		tc{"only inside another value", []string{"X-Note: traceparent: " + tp}, ""},
		tc{"no context", []string{"Accept: */*"}, ""},
	)
	for _, c := range cases {
		head := "GET /hello?sig=q1 HTTP/1.1\r\nHost: 127.0.0.1\r\n" + strings.Join(c.headers, "\r\n") + "\r\n\r\n"
		if len(head) > 4096 {
			t.Fatalf("%s: head of %d bytes does not fit net/http's buffer", c.name, len(head))
		}
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		evs := serverEvents(t, tr, 1)
		if len(evs) != 1 {
			t.Fatalf("%s: %d events", c.name, len(evs))
		}
		if evs[0].RawQuery != "" {
			t.Errorf("%s: query %q read with CaptureQuery off", c.name, evs[0].RawQuery)
		}
		got := ""
		if evs[0].IDs.HasParent {
			got = hex.EncodeToString(evs[0].IDs.TraceID[:])
		}
		if got != c.wantTrace {
			t.Errorf("%s (%d-byte head): parent trace %q, want %q", c.name, len(head), got, c.wantTrace)
		}
	}
}
