package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// buildGRPCProgram builds testdata/<program>/main.go against grpc-go
// version (a module of its own, fetched through the module proxy),
// stripped (-s -w: the offsets come from the committed table), cached in
// $TMPDIR/<program>-stripped-bins by version and source.
func buildGRPCProgram(t *testing.T, program, version string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", program, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	// Not program+"-bins": the tracer's tests cache unstripped builds of
	// grpcdemo there under the same version and source hash.
	dir := filepath.Join(os.TempDir(), program+"-stripped-bins", version+"-"+hex.EncodeToString(sum[:6]))
	exe := filepath.Join(dir, program)
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module " + program + "\n\ngo 1.24\n\nrequire google.golang.org/grpc " + version + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-ldflags=-s -w", "-o", exe + ".tmp", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s with grpc %s: go %v: %v\n%s", program, version, args, err, out)
		}
	}
	if err := os.Rename(exe+".tmp", exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// Client-streaming and bidirectional-streaming RPCs through the receiver
// with its default config (stitching on), grpc-go v1.33.2 (the oldest
// Linux distributions package) and v1.85.0 (the newest), stripped. The
// grpcdemo server's Check handler opens a stream on the server itself
// (grpcdemo.Streams, a hand-written service): Upload (5 requests 20 ms
// apart, one answer), and Chat (5 exchanges 20 ms apart) ended by the
// client's half-close (OK), by the server with INTERNAL, and by the client
// cancelling its context (CANCELLED on the client; the server's read then
// fails with CANCELLED, which its handler returns and grpc writes as the
// status). Each stream: exactly one CLIENT and one SERVER span, named
// grpcdemo.Streams/<method>, with rpc.method, the status code of its side
// and the Error status the conventions give it, the attributes of a unary
// RPC and nothing more (no message count), both lasting at least the 80 ms
// the messages were spread over; the client span the child of the Check
// server span, the stream's server span the stitched child of the client
// span (one trace), starting after it, and ending before it unless the
// client cancelled (then the server ends after, once the RST_STREAM
// arrived).
func TestEBPFGRPCStreamingSpans(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	for _, version := range []string{"v1.33.2", "v1.85.0"} {
		t.Run(version+"-stripped", func(t *testing.T) {
			testGRPCStreamingSpans(t, buildGRPCProgram(t, "grpcdemo", version))
		})
	}
}

func testGRPCStreamingSpans(t *testing.T, built string) {
	// The server at a path the receiver instruments; the test's calls come
	// from a copy elsewhere, not traced.
	dir := t.TempDir()
	server, caller := filepath.Join(dir, "grpcdemo"), filepath.Join(dir, "grpc-caller")
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{server, caller} {
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sink, tel := startStitchReceiver(t, server, true)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startService(t, server, "grpcdemo", "-addr", addr)
	check := func(service string) {
		t.Helper()
		out, err := exec.Command(caller, "-client", "-target", addr, "-service", service).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("Check(%q): %v, printed %q", service, err, out)
		}
	}
	// Until all three spans of a stream arrive: every probe is attached.
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.Reset()
		check(fmt.Sprintf("chat=%s;1;0s;ok", addr))
		time.Sleep(700 * time.Millisecond)
		if sink.SpanCount() == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grpcdemo never fully traced: %d spans for a Chat made by a handler, want 3", sink.SpanCount())
		}
	}

	const messages, gap = 5, 20 * time.Millisecond
	minDuration := (messages - 1) * gap
	for _, tc := range []struct {
		name, service, method  string
		clientCode, serverCode int64
		cancelled              bool
	}{
		{"upload", "upload=%s;%d;%s", "Upload", 0, 0, false},
		{"chat-ok", "chat=%s;%d;%s;ok", "Chat", 0, 0, false},
		{"chat-internal", "chat=%s;%d;%s;code=13", "Chat", 13, 13, false},
		{"chat-cancel", "chat=%s;%d;%s;cancel", "Chat", 1, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink.Reset()
			stitched0 := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched")
			check(fmt.Sprintf(tc.service, addr, messages, gap))
			spans := waitSpans(t, sink, 3)
			name := "grpcdemo.Streams/" + tc.method
			var outer, client, srv *span
			for i := range spans {
				s := &spans[i]
				switch {
				case s.Kind() == ptrace.SpanKindServer && s.Name() == "grpc.health.v1.Health/Check":
					outer = s
				case s.Kind() == ptrace.SpanKindClient && s.Name() == name && client == nil:
					client = s
				case s.Kind() == ptrace.SpanKindServer && s.Name() == name && srv == nil:
					srv = s
				}
			}
			if outer == nil || client == nil || srv == nil {
				for _, s := range spans {
					t.Logf("span %s %v %v", s.Name(), s.Kind(), s.Attributes().AsRaw())
				}
				t.Fatalf("want the Check SERVER span and one CLIENT and one SERVER span %q", name)
			}
			if code := intAttr(*outer, "rpc.grpc.status_code"); code != 0 {
				t.Errorf("Check server span: code %d, want 0", code)
			}
			port := int64(port)
			for _, c := range []struct {
				side string
				s    *span
				code int64
				// Error status: every non-OK code on the client; on the
				// server INTERNAL, not CANCELLED (rpcspan.ServerError).
				isError bool
				attrs   map[string]any
			}{
				{"client", client, tc.clientCode, tc.clientCode != 0, map[string]any{
					"server.address": "127.0.0.1", "server.port": port,
				}},
				{"server", srv, tc.serverCode, tc.serverCode == 13, map[string]any{
					"server.address": "127.0.0.1", "server.port": port, "client.address": "127.0.0.1", "client.port": nil,
				}},
			} {
				want := map[string]any{
					"rpc.system": "grpc", "rpc.service": "grpcdemo.Streams", "rpc.method": tc.method,
					"rpc.grpc.status_code": c.code,
				}
				for k, v := range c.attrs {
					want[k] = v
				}
				if c.isError {
					want["error.type"] = map[int64]string{1: "CANCELLED", 13: "INTERNAL"}[c.code]
				}
				got := c.s.Attributes().AsRaw()
				var keys, wantKeys []string
				for k := range got {
					keys = append(keys, k)
				}
				for k, v := range want {
					wantKeys = append(wantKeys, k)
					if v != nil && got[k] != v {
						t.Errorf("%s span %s=%v (%T), want %v", c.side, k, got[k], got[k], v)
					}
				}
				sort.Strings(keys)
				sort.Strings(wantKeys)
				// Nothing more: no message count (the probes record none).
				if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
					t.Errorf("%s span attributes %v, want exactly the keys %v", c.side, keys, wantKeys)
				}
				if st := c.s.Status().Code(); (st == ptrace.StatusCodeError) != c.isError {
					t.Errorf("%s span status %v for code %d, want Error: %v", c.side, st, c.code, c.isError)
				}
				if d := c.s.EndTimestamp().AsTime().Sub(c.s.StartTimestamp().AsTime()); d < minDuration {
					t.Errorf("%s span lasts %v, less than the %v the messages took", c.side, d, minDuration)
				}
			}

			t.Logf("%s: client span %v code %d, server span %v code %d", name,
				client.EndTimestamp().AsTime().Sub(client.StartTimestamp().AsTime()), intAttr(*client, "rpc.grpc.status_code"),
				srv.EndTimestamp().AsTime().Sub(srv.StartTimestamp().AsTime()), intAttr(*srv, "rpc.grpc.status_code"))
			// One trace: Check server span > stream client span > stream
			// server span (stitched).
			if client.TraceID() != outer.TraceID() || client.ParentSpanID() != outer.SpanID() {
				t.Errorf("client span (trace %s, parent %s) is not the child of the Check server span (trace %s, span %s)", client.TraceID(), client.ParentSpanID(), outer.TraceID(), outer.SpanID())
			}
			if srv.TraceID() != client.TraceID() || srv.ParentSpanID() != client.SpanID() {
				t.Errorf("server span (trace %s, parent %s) is not the child of the client span (trace %s, span %s)", srv.TraceID(), srv.ParentSpanID(), client.TraceID(), client.SpanID())
			}
			if got := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched") - stitched0; got != 1 {
				t.Errorf("spans_stitched +%d for one stream, want +1", got)
			}
			// Timing: the stream inside the handler's span, the server's
			// span inside the client's, except the end of a cancelled one.
			if client.StartTimestamp() < outer.StartTimestamp() || client.EndTimestamp() > outer.EndTimestamp() {
				t.Errorf("client span [%v, %v] outside the Check server span [%v, %v]", client.StartTimestamp(), client.EndTimestamp(), outer.StartTimestamp(), outer.EndTimestamp())
			}
			if srv.StartTimestamp() < client.StartTimestamp() {
				t.Errorf("server span starts at %v, before its client span (%v)", srv.StartTimestamp(), client.StartTimestamp())
			}
			if ends := srv.EndTimestamp() <= client.EndTimestamp(); ends == tc.cancelled {
				t.Errorf("server span ends at %v, client span at %v; want the server first: %v (the client cancelled: %v)", srv.EndTimestamp(), client.EndTimestamp(), !tc.cancelled, tc.cancelled)
			}
		})
	}
}
