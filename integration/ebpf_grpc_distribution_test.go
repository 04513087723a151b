package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// TestEBPFGRPCWithDistribution runs the built otelcol-goebpf binary with
// traces.grpc at its default (on) against testdata/grpcdemo (grpc-go from
// go.mod) built stripped (-s -w: the offsets come from the committed table):
// the calls come from a copy of the program at a path the collector does not
// instrument. Exact span counts, names, rpc.* attributes, the parent from
// the traceparent metadata, and a CLIENT span made inside a handler, child
// of its SERVER span, carrying the code the callee returned.
func TestEBPFGRPCWithDistribution(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	server := buildGo(t, "testdata/grpcdemo", dir, "grpc-dist-server", "-ldflags=-s -w")
	caller := filepath.Join(dir, "grpc-caller")
	if b, err := os.ReadFile(server); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(caller, b, 0o755); err != nil {
		t.Fatal(err)
	}
	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
    traces:
      http: { server: false, client: false }
exporters:
  file:
    path: {{DIR}}/traces.json
    flush_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [file]
`, server))
	out := c.Path("traces.json")

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	srv := exec.Command(server, "-addr", addr)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	call := func(args ...string) {
		t.Helper()
		if b, err := exec.Command(caller, append([]string{"-client", "-target", addr}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("grpc-caller %v: %v\n%s", args, err, b)
		}
	}
	eventually(t, 30*time.Second, "first gRPC span", func() (bool, string) {
		call()
		s, _ := fileSpans(t, out)
		return len(s) > 0, fmt.Sprintf("%d server spans", len(s))
	})
	time.Sleep(time.Second)
	s0, c0 := fileSpans(t, out)
	const n = 10
	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	call("-n", strconv.Itoa(n), "-traceparent", "00-"+traceID+"-"+parentID+"-01")
	call("-service", "code=14")
	call("-service", "call="+addr+";code=5")
	wantServer, wantClient := len(s0)+n+1+2, len(c0)+1
	eventually(t, 15*time.Second, "all spans in the file", func() (bool, string) {
		s, cl := fileSpans(t, out)
		return len(s) >= wantServer && len(cl) >= wantClient, fmt.Sprintf("%d/%d server, %d/%d client", len(s), wantServer, len(cl), wantClient)
	})
	time.Sleep(time.Second) // extras would show up now
	s, cl := fileSpans(t, out)
	if len(s) != wantServer || len(cl) != wantClient {
		t.Fatalf("%d server and %d client spans, want exactly %d and %d", len(s), len(cl), wantServer, wantClient)
	}
	byCode := map[int64][]ptrace.Span{}
	for _, sp := range s[len(s0):] {
		a := sp.Attributes().AsRaw()
		if sp.Name() != "grpc.health.v1.Health/Check" || a["rpc.system"] != "grpc" || a["rpc.service"] != "grpc.health.v1.Health" || a["rpc.method"] != "Check" {
			t.Errorf("server span %q %v", sp.Name(), a)
		}
		if a["server.address"] != "127.0.0.1" || a["client.address"] != "127.0.0.1" {
			t.Errorf("server span addresses %v", a)
		}
		code, _ := a["rpc.grpc.status_code"].(int64)
		byCode[code] = append(byCode[code], sp)
	}
	if len(byCode[0]) != n+1 || len(byCode[14]) != 1 || len(byCode[5]) != 1 {
		t.Fatalf("server spans by code: %d OK, %d UNAVAILABLE, %d NOT_FOUND; want %d, 1, 1", len(byCode[0]), len(byCode[14]), len(byCode[5]), n+1)
	}
	if byCode[14][0].Status().Code() != ptrace.StatusCodeError || byCode[5][0].Status().Code() == ptrace.StatusCodeError {
		t.Errorf("server status: UNAVAILABLE %v, NOT_FOUND %v; want Error, not Error", byCode[14][0].Status().Code(), byCode[5][0].Status().Code())
	}
	withParent := 0
	for _, sp := range byCode[0] {
		if sp.TraceID().String() == traceID && sp.ParentSpanID().String() == parentID {
			withParent++
		}
	}
	if withParent != n {
		t.Errorf("%d of %d OK server spans have the metadata's parent", withParent, n)
	}
	cs := cl[len(c0)]
	a := cs.Attributes().AsRaw()
	if cs.Name() != "grpc.health.v1.Health/Check" || a["rpc.grpc.status_code"] != int64(5) || cs.Status().Code() != ptrace.StatusCodeError {
		t.Errorf("client span %q %v status %v; want NOT_FOUND as an error", cs.Name(), a, cs.Status().Code())
	}
	parentFound := false
	for _, sp := range byCode[0] {
		if sp.SpanID() == cs.ParentSpanID() && sp.TraceID() == cs.TraceID() {
			parentFound = true
		}
	}
	if !parentFound {
		t.Errorf("client span is not the child of an OK server span")
	}
}
