package tracer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclientstream"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2server"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

const grpcDemoDir = "../../../../integration/testdata/grpcdemo"

// buildGRPCDemo builds integration/testdata/grpcdemo (grpc-go of this
// module's go.mod) with ldflags.
func buildGRPCDemo(t *testing.T, ldflags string) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "grpcdemo")
	build := exec.Command("go", "build", "-ldflags="+ldflags, "-o", exe, grpcDemoDir)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build grpcdemo: %v\n%s", err, out)
	}
	return exe
}

// buildGRPCDemoAt builds grpcdemo against grpc-go version (a module of its
// own, fetched through the module proxy), cached in
// $TMPDIR/grpcdemo-bins by version and source.
func buildGRPCDemoAt(t *testing.T, version string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(grpcDemoDir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	dir := filepath.Join(os.TempDir(), "grpcdemo-bins", version+"-"+hex.EncodeToString(sum[:6]))
	exe := filepath.Join(dir, "grpcdemo")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module grpcdemo\n\ngo 1.24\n\nrequire google.golang.org/grpc " + version + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", exe + ".tmp", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("grpcdemo with grpc %s: go %v: %v\n%s", version, args, err, out)
		}
	}
	if err := os.Rename(exe+".tmp", exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// buildGRPCDemoStripped is buildGRPCDemoAt's program linked with -s -w (no
// symbol table, no DWARF), next to it.
func buildGRPCDemoStripped(t *testing.T, version string) string {
	t.Helper()
	modDir := filepath.Dir(buildGRPCDemoAt(t, version))
	exe := filepath.Join(modDir, "grpcdemo-stripped")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", exe+".tmp", ".")
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stripped grpcdemo with grpc %s: %v\n%s", version, err, out)
	}
	if err := os.Rename(exe+".tmp", exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// buildGRPCDemoGOPATH builds grpcdemo against grpc-go version the way
// distributions package Go programs: GOPATH mode (GO111MODULE=off), the
// dependencies under GOPATH/src, so the binary carries no module versions.
// ldflags "-s -w" strips it too; edit, when set, changes the vendored
// sources first (and the binary is not cached).
func buildGRPCDemoGOPATH(t *testing.T, version, ldflags string, edit func(gopathSrc string)) string {
	t.Helper()
	modDir := filepath.Dir(buildGRPCDemoAt(t, version))
	exe := filepath.Join(modDir, "grpcdemo-gopath")
	if ldflags != "" {
		exe += "-stripped"
	}
	if edit != nil {
		exe = filepath.Join(t.TempDir(), "grpcdemo-gopath-edited")
	} else if _, err := os.Stat(exe); err == nil {
		return exe
	}
	gopath := t.TempDir()
	vendor := filepath.Join(gopath, "src")
	run := func(dir string, env []string, args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v in %s: %v\n%s", args, dir, err, out)
		}
	}
	run(modDir, []string{"GOFLAGS=-mod=mod"}, "mod", "vendor", "-o", vendor)
	app := filepath.Join(vendor, "grpcdemo")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(modDir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(vendor)
	}
	run(app, []string{"GO111MODULE=off", "GOPATH=" + gopath, "CGO_ENABLED=0", "GOFLAGS="}, "build", "-ldflags="+ldflags, "-o", exe+".tmp", ".")
	if err := os.Rename(exe+".tmp", exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// grpcCall runs exe as a client of addr (a process of its own, not traced)
// and returns the status codes it printed.
func grpcCall(t *testing.T, exe, addr string, args ...string) []string {
	t.Helper()
	out, err := exec.Command(exe, append([]string{"-client", "-target", addr}, args...)...).Output()
	if err != nil {
		t.Fatalf("grpcdemo client %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// grpcEvents drains until n gRPC events arrived (generous deadline).
func grpcEvents(t *testing.T, tr *Tracer, n int) (servers []*grpcserver.Event, clients []*grpcclient.Event) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(servers)+len(clients) < n && time.Now().Before(deadline) {
		if err := tr.Drain(200*time.Millisecond, func(raw []byte) {
			ev, err := Decode(raw)
			if err != nil {
				t.Errorf("decode: %v", err)
				return
			}
			switch e := ev.(type) {
			case *grpcserver.Event:
				servers = append(servers, e)
			case *grpcclient.Event:
				clients = append(clients, e)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	return servers, clients
}

// A real grpc-go server (health service) traced by both gRPC probes:
// one SERVER span per RPC with its method, status code, addresses and the
// traceparent of its metadata, in 2 hits; a unary call the handler makes
// gets a CLIENT span under the server span with the code the callee sent,
// and, stitched by its HTTP/2 stream (grpcclientstream), the server span of
// that call is the client span's child in its trace; a server stream
// (Watch, unimplemented) gets one span too.
//
// grpc-go versions: this module's (v1.84.0); the oldest Linux distributions
// package (v1.33.2: WriteStatus, addresses in the transport, status.Error
// holding the message); v1.39.0 and v1.40.0 either side of status.Error
// holding a *Status; v1.59.0 and v1.60.0 either side of the transport's
// peer.Peer; v1.68.0 and v1.69.0 either side of the rename to
// writeStatus and the *Stream embedded in ServerStream; v1.76.0 and v1.77.0
// either side of Stream embedded by value; v1.40.0 and v1.41.0 either side
// of csAttempt.cs moving (which the streaming client spans' end read up
// to the move to (*clientStream).finish); v1.83.2 and
// v1.84.0 either side of NewStream's clientStreamWrapper; the newest the
// proxy serves
// (v1.85.0), also built in GOPATH mode (no module build info, as
// distributions build). The versions are fetched through the module proxy.
//
// Each versioned build is also traced stripped (-ldflags=-s -w: no DWARF,
// offsets from the committed table by grpc minor), with the table's other
// layout changes (v1.36.1/v1.37.0, v1.65.1/v1.66.0, v1.83.0/v1.83.1)
// stripped only, and v1.85.0 and v1.33.2 stripped in GOPATH mode too (no
// build info: the version is inferred from grpc-go's version string).
// Every versioned unstripped build checks the table's grpc-go entries
// against its DWARF.
func TestGRPCSpans(t *testing.T) {
	prereq.RequireRoot(t, "the gRPC probes")
	type variant struct {
		version, serverProbe string
		gopath, stripped     bool
	}
	var matrix []variant
	for _, v := range []struct{ version, serverProbe string }{
		{"v1.33.2", grpcserver.LegacyName},
		{"v1.39.0", grpcserver.LegacyName},
		{"v1.40.0", grpcserver.LegacyName},
		{"v1.41.0", grpcserver.LegacyName},
		{"v1.59.0", grpcserver.LegacyName},
		{"v1.60.0", grpcserver.LegacyName},
		{"v1.68.0", grpcserver.LegacyName},
		{"v1.69.0", grpcserver.Name},
		{"v1.76.0", grpcserver.Name},
		{"v1.77.0", grpcserver.Name},
		{"v1.83.2", grpcserver.Name},
		{"v1.84.0", grpcserver.Name},
		{"v1.85.0", grpcserver.Name},
	} {
		matrix = append(matrix, variant{v.version, v.serverProbe, false, false}, variant{v.version, v.serverProbe, false, true})
	}
	// The other layout changes of the table, traced stripped only: v1.37
	// (Stream.method moved), v1.66 (Stream.ctx and method moved, Stream.ct
	// a ClientTransport), v1.83.1 (a patch release: ServerStream.st and
	// ClientStream.ct moved); and those of the fields stitching reads:
	// v1.35, v1.52 and v1.58 (http2Client's addresses moved).
	for _, v := range []struct{ version, serverProbe string }{
		{"v1.34.0", grpcserver.LegacyName},
		{"v1.35.0", grpcserver.LegacyName},
		{"v1.51.0", grpcserver.LegacyName},
		{"v1.52.0", grpcserver.LegacyName},
		{"v1.57.0", grpcserver.LegacyName},
		{"v1.58.0", grpcserver.LegacyName},
		{"v1.36.1", grpcserver.LegacyName},
		{"v1.37.0", grpcserver.LegacyName},
		{"v1.65.1", grpcserver.LegacyName},
		{"v1.66.0", grpcserver.LegacyName},
		{"v1.83.0", grpcserver.Name},
		{"v1.83.1", grpcserver.Name},
	} {
		matrix = append(matrix, variant{v.version, v.serverProbe, false, true})
	}
	matrix = append(matrix,
		variant{"", grpcserver.Name, false, false},
		variant{"v1.85.0", grpcserver.Name, true, false},
		variant{"v1.85.0", grpcserver.Name, true, true},
		variant{"v1.33.2", grpcserver.LegacyName, true, true},
	)
	for _, v := range matrix {
		name := v.version
		if name == "" {
			name = "go.mod"
		}
		if v.gopath {
			name += "-gopath"
		}
		if v.stripped {
			name += "-stripped"
		}
		t.Run(name, func(t *testing.T) {
			exe := ""
			ldflags := ""
			if v.stripped {
				ldflags = "-s -w"
			}
			switch {
			case v.version == "":
				exe = buildGRPCDemo(t, "")
			case v.gopath:
				exe = buildGRPCDemoGOPATH(t, v.version, ldflags, nil)
			case v.stripped:
				exe = buildGRPCDemoStripped(t, v.version)
				// Its unstripped sibling (built anyway) checks the table.
				ref, err := goexe.Inspect(buildGRPCDemoAt(t, v.version))
				if err != nil {
					t.Fatal(err)
				}
				checkGRPCTableAgainstDWARF(t, ref, v.version)
			default:
				exe = buildGRPCDemoAt(t, v.version)
			}
			x, err := goexe.Inspect(exe)
			if err != nil {
				t.Fatal(err)
			}
			if v.gopath && x.Modules[goexe.GRPCModule] != "" {
				t.Fatalf("GOPATH build: modules %v, want none", x.Modules)
			}
			if v.stripped && x.HasDWARF {
				t.Fatal("stripped build has DWARF")
			}
			if v.gopath && v.stripped && x.InferredModules[goexe.GRPCModule] != v.version {
				t.Fatalf("GOPATH build of grpc %s: inferred %q (%s)", v.version, x.InferredModules[goexe.GRPCModule], x.ModuleNotes[goexe.GRPCModule])
			}
			if !v.stripped && v.version != "" {
				checkGRPCTableAgainstDWARF(t, x, v.version)
			}
			testGRPCSpans(t, exe, v.serverProbe)
		})
	}
}

// checkGRPCTableAgainstDWARF compares the committed table's grpc-go entries
// (by grpc minor, and by protoc-gen-go generation) with the DWARF of a
// build against that version.
func checkGRPCTableAgainstDWARF(t *testing.T, x *goexe.Executable, version string) {
	t.Helper()
	tab, err := goexe.EmbeddedOffsets()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for key, fo := range tab.Fields {
		if fo.Module != goexe.GRPCModule && fo.Module != goexe.ProtocGenGo {
			continue
		}
		i := strings.LastIndexByte(key, '.')
		j := strings.LastIndexByte(key[:i], '.')
		mods := map[string]string{goexe.GRPCModule: version, goexe.ProtocGenGo: x.ProtoGeneration(key[:j], key[j+1:i])}
		want, werr := x.DWARFFieldOffset(key[:i], key[i+1:])
		got, gerr := tab.Lookup(key, x.GoVersion, mods)
		absent := errors.Is(werr, goexe.ErrFieldAbsent) || errors.Is(werr, goexe.ErrStructAbsent)
		switch {
		case absent && !errors.Is(gerr, goexe.ErrFieldAbsent):
			t.Errorf("%s in grpc %s: table %d, %v; DWARF says absent", key, version, got, gerr)
		case !absent && werr != nil:
			t.Errorf("%s in grpc %s: DWARF: %v", key, version, werr)
		case !absent && (gerr != nil || got != want):
			t.Errorf("%s in grpc %s: table %d, %v; DWARF %d", key, version, got, gerr, want)
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("%d grpc-go fields in the table, want 20", checked)
	}
}

func testGRPCSpans(t *testing.T, exe, serverProbe string) {
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{"-addr", addr} })
	_, bin := resolveServer(t, exe)
	for _, name := range []string{serverProbe, grpcclient.Name, grpcclient.StreamName, grpcclientstream.Name} {
		if err := bin.Unusable[name]; err != nil {
			t.Fatalf("%s unusable: %v", name, err)
		}
	}
	tr, err := New(Options{RingBufferSize: 1 << 20, ExtractTraceContext: true, ExtractB3: true, Stitch: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, Probes{serverProbe: true, grpcclient.Name: true, grpcclient.StreamName: true, grpcclientstream.Name: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })

	const (
		n       = 20
		tpTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		tpSpan  = "00f067aa0ba902b7"
	)
	h0, _ := tr.Hits()
	// Unary: OK with a parent in the metadata, NOT_FOUND, INTERNAL.
	if got := grpcCall(t, exe, addr, "-n", "20", "-traceparent", "00-"+tpTrace+"-"+tpSpan+"-01"); len(got) != n || got[0] != "OK" {
		t.Fatalf("client printed %v", got)
	}
	grpcCall(t, exe, addr, "-service", "code=5")
	grpcCall(t, exe, addr, "-service", "code=13")
	servers, clients := grpcEvents(t, tr, n+2)
	if len(servers) != n+2 || len(clients) != 0 {
		t.Fatalf("%d server and %d client events for %d unary RPCs", len(servers), len(clients), n+2)
	}
	hits := hitsSince(t, tr, h0)
	if hits[grpcserver.ProgEntry] != n+2 || hits[grpcserver.ProgStatus] != n+2 {
		t.Errorf("hits for %d RPCs: handleStream %d, writeStatus %d; want %d each", n+2, hits[grpcserver.ProgEntry], hits[grpcserver.ProgStatus], n+2)
	}
	codes := map[uint32]int{}
	for _, ev := range servers {
		codes[ev.Code]++
		if ev.Method != "/grpc.health.v1.Health/Check" {
			t.Errorf("method %q", ev.Method)
		}
		if ev.Local.String() != addr {
			t.Errorf("local address %s, want %s", ev.Local, addr)
		}
		if !ev.Peer.IsValid() || ev.Peer.Addr().String() != "127.0.0.1" || ev.Peer.Port() == 0 {
			t.Errorf("peer %s", ev.Peer)
		}
		if ev.EndNs < ev.StartNs {
			t.Errorf("end %d before start %d", ev.EndNs, ev.StartNs)
		}
		// The callers are not traced: the metadata's traceparent wins
		// (no stitching lookup), the others find no client span.
		if want := map[bool]probes.Stitch{true: probes.StitchNone, false: probes.StitchUnmatched}[ev.Code == 0]; ev.Stitch != want {
			t.Errorf("code %d RPC: stitch %d, want %d", ev.Code, ev.Stitch, want)
		}
		if ev.Code == 0 {
			if !ev.IDs.HasParent || hex.EncodeToString(ev.IDs.TraceID[:]) != tpTrace || hex.EncodeToString(ev.IDs.ParentSpanID[:]) != tpSpan {
				t.Errorf("OK RPC: ids %+v, want parent %s/%s from the metadata", ev.IDs, tpTrace, tpSpan)
			}
		} else if ev.IDs.HasParent {
			t.Errorf("code %d RPC has a parent without traceparent metadata: %+v", ev.Code, ev.IDs)
		}
	}
	if codes[0] != n || codes[5] != 1 || codes[13] != 1 {
		t.Errorf("status codes %v, want %d OK, one 5, one 13", codes, n)
	}

	// A unary call inside a served RPC: the handler calls the server
	// itself; the callee answers ALREADY_EXISTS.
	h0, _ = tr.Hits()
	grpcCall(t, exe, addr, "-service", "call="+addr+";code=6")
	servers, clients = grpcEvents(t, tr, 3)
	if len(servers) != 2 || len(clients) != 1 {
		t.Fatalf("nested call: %d server and %d client events, want 2 and 1", len(servers), len(clients))
	}
	hits = hitsSince(t, tr, h0)
	// 4 on the client: Invoke's entry and return, the transport's
	// NewStream return (stitching), the attempt's finish (streaming spans,
	// nothing found for a unary RPC). clientStream.finish has a large frame:
	// on a young goroutine its prologue grows the stack and jumps back to
	// the entry, which the entry probe sees again (a second hit that finds
	// nothing): 1 or 2 finish hits.
	if finish := hits[grpcclient.ProgStreamFinish]; hits[grpcclient.ProgEntry] != 1 || hits[grpcclient.ProgReturn] != 1 || hits[grpcclientstream.ProgStream] != 1 || finish < 1 || finish > 2 {
		t.Errorf("client hits for one unary RPC: Invoke entry %d, return %d, NewStream return %d, finish %d; want 1 each", hits[grpcclient.ProgEntry], hits[grpcclient.ProgReturn], hits[grpcclientstream.ProgStream], hits[grpcclient.ProgStreamFinish])
	}
	var outer, inner *grpcserver.Event
	for _, s := range servers {
		if s.Code == 0 {
			outer = s
		} else {
			inner = s
		}
	}
	c := clients[0]
	switch {
	case outer == nil:
		t.Errorf("no OK server span among %+v", servers)
	case !c.IDs.HasParent || c.IDs.TraceID != outer.IDs.TraceID || c.IDs.ParentSpanID != outer.IDs.SpanID:
		t.Errorf("client span %+v is not a child of the server span %+v", c.IDs, outer.IDs)
	}
	// Stitching: the callee's span joins the client span's trace (late
	// when its handleStream looked before the client's NewStream returned).
	if inner != nil && (!joinedStitch(inner.Stitch) || !inner.IDs.HasParent || inner.IDs.TraceID != c.IDs.TraceID || inner.IDs.ParentSpanID != c.IDs.SpanID) {
		t.Errorf("callee span %+v (stitch %d) is not the stitched child of the client span %+v", inner.IDs, inner.Stitch, c.IDs)
	}
	if c.Stitch != probes.StitchMatched {
		t.Errorf("client span stitch %d, want matched", c.Stitch)
	}
	if c.Code != 6 || c.Method != "/grpc.health.v1.Health/Check" || c.Target != addr {
		t.Errorf("client event code %d method %q target %q; want 6, Check, %s", c.Code, c.Method, c.Target, addr)
	}

	// A streaming call inside a served RPC: the handler opens a Watch
	// stream on the server itself (UNIMPLEMENTED). One CLIENT span for the
	// stream, child of the handler's server span, with the code the stream
	// ended with; the Watch server span stitched under it. 4 hits for the
	// stream on the client (NewStream entry and return, the stream's finish
	// at its end and again from grpc's context watcher; more when the
	// finish grows the stack), 1 more for stitching.
	h0, _ = tr.Hits()
	grpcCall(t, exe, addr, "-service", "watch="+addr)
	servers, clients = grpcEvents(t, tr, 3)
	if len(servers) != 2 || len(clients) != 1 {
		t.Fatalf("streaming call: %d server and %d client events, want 2 and 1", len(servers), len(clients))
	}
	hits = hitsSince(t, tr, h0)
	if finish := hits[grpcclient.ProgStreamFinish]; hits[grpcclient.ProgStreamEntry] != 1 || hits[grpcclient.ProgStreamReturn] != 1 || finish < 2 || finish > 4 || hits[grpcclientstream.ProgStream] != 1 {
		t.Errorf("client hits for one stream: NewStream entry %d, return %d, finish %d (2 to 4: stack growth), transport NewStream return %d; want 1, 1, 2, 1",
			hits[grpcclient.ProgStreamEntry], hits[grpcclient.ProgStreamReturn], hits[grpcclient.ProgStreamFinish], hits[grpcclientstream.ProgStream])
	}
	var watchServer *grpcserver.Event
	outer = nil
	for _, s := range servers {
		if s.Method == "/grpc.health.v1.Health/Watch" {
			watchServer = s
		} else {
			outer = s
		}
	}
	c = clients[0]
	switch {
	case outer == nil || watchServer == nil:
		t.Errorf("streaming call: server spans %+v", servers)
	case c.Method != "/grpc.health.v1.Health/Watch" || c.Code != 12 || c.Target != addr:
		t.Errorf("stream client event method %q code %d target %q; want Watch, 12, %s", c.Method, c.Code, c.Target, addr)
	case !c.IDs.HasParent || c.IDs.TraceID != outer.IDs.TraceID || c.IDs.ParentSpanID != outer.IDs.SpanID:
		t.Errorf("stream client span %+v is not a child of the handler's server span %+v", c.IDs, outer.IDs)
	case watchServer.Code != 12 || !joinedStitch(watchServer.Stitch) || watchServer.IDs.TraceID != c.IDs.TraceID || watchServer.IDs.ParentSpanID != c.IDs.SpanID:
		t.Errorf("Watch server span %+v (code %d, stitch %d) is not the stitched child of the stream client span %+v", watchServer.IDs, watchServer.Code, watchServer.Stitch, c.IDs)
	case c.Stitch != probes.StitchMatched:
		t.Errorf("stream client span stitch %d, want matched", c.Stitch)
	}

	// A server stream: one span, UNIMPLEMENTED, 2 hits.
	h0, _ = tr.Hits()
	if got := grpcCall(t, exe, addr, "-watch"); len(got) != 1 || got[0] != "Unimplemented" {
		t.Fatalf("watch printed %v", got)
	}
	servers, _ = grpcEvents(t, tr, 1)
	if len(servers) != 1 || servers[0].Method != "/grpc.health.v1.Health/Watch" || servers[0].Code != 12 {
		t.Errorf("stream events %+v, want one Watch span with code 12", servers)
	}
	hits = hitsSince(t, tr, h0)
	if hits[grpcserver.ProgEntry] != 1 || hits[grpcserver.ProgStatus] != 1 {
		t.Errorf("stream hits: handleStream %d, writeStatus %d; want 1 each", hits[grpcserver.ProgEntry], hits[grpcserver.ProgStatus])
	}
}

var _ probes.Event = (*grpcserver.Event)(nil)

// gRPC served through net/http (grpc.(*Server).ServeHTTP over unencrypted
// HTTP/2) gives one span per RPC, the HTTP server span, and a call the
// handler makes is that span's child.
func TestGRPCServeHTTPOneSpan(t *testing.T) {
	prereq.RequireRoot(t, "the gRPC and HTTP probes")
	exe := buildGRPCDemo(t, "")
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{"-addr", addr, "-servehttp"} })
	_, bin := resolveServer(t, exe)
	tr, err := New(Options{RingBufferSize: 1 << 20, ExtractTraceContext: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, Probes{httpserver.Name: true, h2server.Name: true, grpcserver.Name: true, grpcclient.Name: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })

	// The RPCs carry a traceparent in their metadata: HTTP/2 header fields
	// the h2_server probe finds.
	const n = 5
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	grpcCall(t, exe, addr, "-n", "5", "-service", "code=5", "-traceparent", "00-"+traceID+"-"+parentID+"-01")
	// The outer RPC calls the server itself: two RPCs served, one made.
	grpcCall(t, exe, addr, "-service", "call="+addr+";")
	var https []*httpserver.Event
	var grpcServers []*grpcserver.Event
	var clients []*grpcclient.Event
	deadline := time.Now().Add(20 * time.Second)
	for len(https) < n+2 || len(clients) < 1 {
		if time.Now().After(deadline) {
			break
		}
		if err := tr.Drain(200*time.Millisecond, func(raw []byte) {
			ev, err := Decode(raw)
			if err != nil {
				t.Errorf("decode: %v", err)
				return
			}
			switch e := ev.(type) {
			case *httpserver.Event:
				https = append(https, e)
			case *grpcserver.Event:
				grpcServers = append(grpcServers, e)
			case *grpcclient.Event:
				clients = append(clients, e)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Whatever is late would show here.
	_ = tr.Drain(500*time.Millisecond, func(raw []byte) {
		if ev, err := Decode(raw); err == nil {
			if e, ok := ev.(*grpcserver.Event); ok {
				grpcServers = append(grpcServers, e)
			}
		}
	})
	if len(https) != n+2 || len(grpcServers) != 0 {
		t.Fatalf("%d HTTP and %d gRPC server spans for %d RPCs served through ServeHTTP; want %d and 0", len(https), len(grpcServers), n+2, n+2)
	}
	withParent := 0
	for _, h := range https {
		if h.Path != "/grpc.health.v1.Health/Check" || h.ProtoMajor != 2 {
			t.Errorf("HTTP span path %q proto %d", h.Path, h.ProtoMajor)
		}
		if h.IDs.HasParent && hex.EncodeToString(h.IDs.TraceID[:]) == traceID && hex.EncodeToString(h.IDs.ParentSpanID[:]) == parentID {
			withParent++
		}
	}
	if withParent != n {
		t.Errorf("%d HTTP spans took the RPC's traceparent, want %d", withParent, n)
	}
	if len(clients) != 1 {
		t.Fatalf("%d client spans, want 1", len(clients))
	}
	c := clients[0]
	parentFound := false
	for _, h := range https {
		if c.IDs.HasParent && c.IDs.TraceID == h.IDs.TraceID && c.IDs.ParentSpanID == h.IDs.SpanID {
			parentFound = true
		}
	}
	if !parentFound {
		t.Errorf("client span %+v is not the child of an HTTP server span", c.IDs)
	}
}

// Without DWARF (-s -w) the gRPC probes resolve from the offsets table
// (grpc-go of go.mod, by its minor): the same field offsets as the
// unstripped build's DWARF gives, for every field ID, and the HTTP probes of
// the same binary still resolve.
func TestGRPCStrippedResolves(t *testing.T) {
	exe := buildGRPCDemo(t, "-s -w")
	x, err := goexe.Inspect(exe)
	if err != nil {
		t.Fatal(err)
	}
	if x.HasDWARF {
		t.Fatal("stripped build has DWARF")
	}
	bin, err := ResolveBinary(x)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := goexe.Inspect(buildGRPCDemo(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	refBin, err := ResolveBinary(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{grpcserver.Name, grpcclient.Name, httpserver.Name} {
		if _, ok := bin.Sites[name]; !ok {
			t.Errorf("%s not resolved in a stripped binary: %v", name, bin.Unusable[name])
		}
	}
	if _, ok := bin.Sites[grpcserver.LegacyName]; ok {
		t.Errorf("%s resolved too", grpcserver.LegacyName)
	}
	for id := fields.ID(0); id < fields.Count; id++ {
		if fields.All()[id].NotInTable {
			continue // DWARF only (net/url.URL.User) or set by a rule
		}
		if got, want := bin.Offsets.Fields[id], refBin.Offsets.Fields[id]; got != want {
			t.Errorf("%s: %d from the table, %d from DWARF", id, got, want)
		}
	}
}

// A stripped program without build info whose grpc-go version cannot be
// trusted gets no gRPC probes, with an error naming the binary and why,
// rather than offsets of the wrong version: here grpc-go v1.85.0 whose
// version string was edited to say v1.68.0, which the code disagrees with
// (v1.68 has no (*http2Server).writeStatus).
func TestGRPCStrippedVersionDisagrees(t *testing.T) {
	exe := buildGRPCDemoGOPATH(t, "v1.85.0", "-s -w", func(src string) {
		p := filepath.Join(src, "google.golang.org", "grpc", "version.go")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(b), `"1.85.0"`, `"1.68.0"`, 1)
		if edited == string(b) {
			t.Fatalf("%s: no version 1.85.0 to edit", p)
		}
		if err := os.WriteFile(p, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	x, err := goexe.Inspect(exe)
	if err != nil {
		t.Fatal(err)
	}
	if v := x.InferredModules[goexe.GRPCModule]; v != "" {
		t.Fatalf("inferred grpc %s from an edited version string", v)
	}
	note := x.ModuleNotes[goexe.GRPCModule]
	if !strings.Contains(note, "v1.68.0") || !strings.Contains(note, "writeStatus") {
		t.Errorf("note %q does not say which version and why", note)
	}
	bin, err := ResolveBinary(x)
	if err != nil {
		t.Fatal(err) // the HTTP probes still resolve
	}
	for _, name := range []string{grpcserver.Name, grpcclient.Name} {
		err := bin.Unusable[name]
		if !errors.Is(err, ErrOffsetsMissing) || !strings.Contains(err.Error(), "writeStatus") {
			t.Errorf("%s: unusable %v; want missing offsets saying why", name, err)
		}
		if _, ok := bin.Sites[name]; ok {
			t.Errorf("%s resolved with an untrusted version", name)
		}
	}
}

// joinedStitch: a server span stitched to its client span, at its start or
// late (bpf/common/grpc_stitch.h).
func joinedStitch(s probes.Stitch) bool {
	return s == probes.StitchMatched || s == probes.StitchLate
}
