package tracer

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
)

const grpcMetaDir = "../../../../integration/testdata/grpcmeta"

// debianGo119 is Debian's golang-1.19-go, the toolchain distributions built
// their Go packages with.
const debianGo119 = "/usr/lib/go-1.19/bin/go"

// grpcMetaBuild is one build of integration/testdata/grpcmeta.
type grpcMetaBuild struct {
	// toolchain: debianGo119, or a goX.Y.Z release (GOTOOLCHAIN).
	toolchain, grpcVersion string
	// gopath: built in GOPATH mode (no module versions in the build info).
	gopath, stripped bool
}

func (b grpcMetaBuild) name() string {
	tc := b.toolchain
	if tc == debianGo119 {
		tc = "debian-go1.19"
	}
	name := tc + "-" + b.grpcVersion
	if b.gopath {
		name += "-gopath"
	}
	if b.stripped {
		name += "-stripped"
	}
	return name
}

// goCommand runs the build's toolchain in dir.
func (b grpcMetaBuild) goCommand(dir string, env []string, args ...string) *exec.Cmd {
	goBin, gotoolchain := "go", b.toolchain
	if strings.Contains(b.toolchain, "/") {
		goBin, gotoolchain = b.toolchain, "local"
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GOTOOLCHAIN=" + gotoolchain, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false"}, env...)...)
	return cmd
}

// buildGRPCMeta builds grpcmeta as b says, cached in $TMPDIR/grpcmeta-bins
// by toolchain, grpc-go version and source. A missing toolchain fails the
// test: the matrix is the point.
func buildGRPCMeta(t *testing.T, b grpcMetaBuild) string {
	t.Helper()
	if strings.Contains(b.toolchain, "/") {
		if _, err := os.Stat(b.toolchain); err != nil {
			t.Fatalf("toolchain %s: %v (golang-1.19-go, installed by .ci/run)", b.toolchain, err)
		}
	}
	src, err := os.ReadFile(filepath.Join(grpcMetaDir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	dir := filepath.Join(os.TempDir(), "grpcmeta-bins", strings.TrimSuffix(strings.TrimSuffix(b.name(), "-stripped"), "-gopath")+"-"+hex.EncodeToString(sum[:6]))
	exe := filepath.Join(dir, "grpcmeta")
	if b.gopath {
		exe += "-gopath"
	}
	if b.stripped {
		exe += "-stripped"
	}
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(cmd *exec.Cmd) {
		t.Helper()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("grpcmeta %s: %v in %s: %v\n%s", b.name(), cmd.Args, cmd.Dir, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil {
		gomod := "module grpcmeta\n\ngo 1.19\n\nrequire google.golang.org/grpc " + b.grpcVersion + "\n"
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		run(b.goCommand(dir, nil, "mod", "tidy"))
	}
	ldflags := ""
	if b.stripped {
		ldflags = "-s -w"
	}
	if !b.gopath {
		run(b.goCommand(dir, nil, "build", "-ldflags="+ldflags, "-o", exe+".tmp", "."))
	} else {
		// As distributions build: GOPATH mode, the dependencies under
		// GOPATH/src.
		gopath := t.TempDir()
		vendor := filepath.Join(gopath, "src")
		run(b.goCommand(dir, nil, "mod", "vendor", "-o", vendor))
		app := filepath.Join(vendor, "grpcmeta")
		if err := os.MkdirAll(app, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(app, "main.go"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		run(b.goCommand(app, []string{"GO111MODULE=off", "GOPATH=" + gopath, "GOFLAGS="}, "build", "-ldflags="+ldflags, "-o", exe+".tmp", "."))
	}
	if err := os.Rename(exe+".tmp", exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// Incoming trace context from gRPC metadata in programs built by Go
// 1.19-1.23, whose maps are runtime.hmap's buckets (grpc_server.c's bucket
// walk; Go >= 1.24's swiss maps are TestGRPCSpans'): Debian's Go 1.19 with
// grpc-go v1.33.2 (the oldest release distributions package; its metadata
// map grows as headers are added, so some calls find it mid-growth), with
// and without DWARF, and built in GOPATH mode and stripped (no module
// versions, no DWARF: Go's version from the build info, grpc-go's from its
// version string); Go 1.22 with grpc-go v1.69.4 (writeStatus, a map sized
// up front), with and without DWARF.
//
// A real client (another process, untraced) sends traceparent, or b3
// alone, or traceparent among 12 to 40 more entries (2 to 8 buckets, and
// overflow buckets): every server span has exactly the parent sent; a call
// without trace context has none. With 300 entries (64 buckets, 16
// searched) every call either finds traceparent or is counted as a
// truncated search.
func TestGRPCMetadataBucketMaps(t *testing.T) {
	prereq.RequireRoot(t, "the gRPC server probe")
	for _, b := range []grpcMetaBuild{
		{toolchain: debianGo119, grpcVersion: "v1.33.2"},
		{toolchain: debianGo119, grpcVersion: "v1.33.2", stripped: true},
		{toolchain: debianGo119, grpcVersion: "v1.33.2", gopath: true, stripped: true},
		{toolchain: "go1.22.12", grpcVersion: "v1.69.4"},
		{toolchain: "go1.22.12", grpcVersion: "v1.69.4", stripped: true},
	} {
		t.Run(b.name(), func(t *testing.T) {
			exe := buildGRPCMeta(t, b)
			x, err := goexe.Inspect(exe)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case b.stripped && x.HasDWARF:
				t.Fatal("stripped build has DWARF")
			case b.gopath && x.Modules[goexe.GRPCModule] != "":
				t.Fatalf("GOPATH build: modules %v, want none", x.Modules)
			case b.gopath && x.InferredModules[goexe.GRPCModule] != b.grpcVersion:
				t.Fatalf("GOPATH build: inferred grpc %q (%s)", x.InferredModules[goexe.GRPCModule], x.ModuleNotes[goexe.GRPCModule])
			}
			serverProbe := grpcserver.Name
			if b.grpcVersion == "v1.33.2" {
				serverProbe = grpcserver.LegacyName
			}
			testGRPCMetadataBucketMap(t, exe, serverProbe)
		})
	}
}

func testGRPCMetadataBucketMap(t *testing.T, exe, serverProbe string) {
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{"-addr", addr} })
	_, bin := resolveServer(t, exe)
	if err := bin.Unusable[serverProbe]; err != nil {
		t.Fatalf("%s unusable: %v", serverProbe, err)
	}
	off := bin.Offsets.Fields
	if !off.Known(grpcserver.MetadataFields...) || !off.Known(grpcserver.BucketMapFields...) {
		t.Fatalf("metadata fields unknown: %v", off)
	}
	if off.Known(fields.SwissMapDirPtr) {
		t.Fatal("a Go < 1.24 binary has swiss map offsets")
	}
	tr, err := New(Options{RingBufferSize: 1 << 20, ExtractTraceContext: true, ExtractB3: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, Probes{serverProbe: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })

	const (
		tpTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		tpSpan  = "00f067aa0ba902b7"
		b3Trace = "80f198ee56343ba864fe8b2a57d3eff7"
		b3Span  = "e457b5a2e4d86bd1"
	)
	traceparent := "00-" + tpTrace + "-" + tpSpan + "-01"
	call := func(n int, args ...string) {
		t.Helper()
		out, err := exec.Command(exe, append([]string{"-client", "-target", addr, "-n", strconv.Itoa(n)}, args...)...).Output()
		if err != nil {
			t.Fatalf("grpcmeta client %v: %v", args, err)
		}
		if got := strings.Fields(string(out)); len(got) != n || got[0] != "OK" {
			t.Fatalf("client %v printed %v", args, got)
		}
	}
	spans := func(n int) []*grpcserver.Event {
		t.Helper()
		servers, _ := grpcEvents(t, tr, n)
		if len(servers) != n {
			t.Fatalf("%d server spans for %d RPCs", len(servers), n)
		}
		return servers
	}
	for _, tc := range []struct {
		name        string
		args        []string
		trace, span string // the parent sent; "" for none
		calls       int
	}{
		{"traceparent", []string{"-traceparent", traceparent}, tpTrace, tpSpan, 5},
		{"b3 alone", []string{"-b3", b3Trace + "-" + b3Span + "-1"}, b3Trace, b3Span, 3},
		{"traceparent and b3", []string{"-traceparent", traceparent, "-b3", b3Trace + "-" + b3Span + "-1"}, tpTrace, tpSpan, 2},
		{"12 more entries", []string{"-traceparent", traceparent, "-pad", "12"}, tpTrace, tpSpan, 3},
		{"25 more entries", []string{"-traceparent", traceparent, "-pad", "25"}, tpTrace, tpSpan, 3},
		{"40 more entries", []string{"-traceparent", traceparent, "-pad", "40"}, tpTrace, tpSpan, 3},
		{"none", []string{"-pad", "3"}, "", "", 2},
	} {
		call(tc.calls, tc.args...)
		for _, ev := range spans(tc.calls) {
			switch {
			case tc.trace == "" && ev.IDs.HasParent:
				t.Errorf("%s: span has a parent: %+v", tc.name, ev.IDs)
			case tc.trace != "" && (!ev.IDs.HasParent || hex.EncodeToString(ev.IDs.TraceID[:]) != tc.trace || hex.EncodeToString(ev.IDs.ParentSpanID[:]) != tc.span):
				t.Errorf("%s: ids %+v, want parent %s/%s from the metadata", tc.name, ev.IDs, tc.trace, tc.span)
			}
		}
	}
	counts, err := tr.GRPCMetadataCounts()
	if err != nil {
		t.Fatal(err)
	}
	if counts != (GRPCMetadataCounts{}) {
		t.Errorf("metadata counters %+v after searches within the bounds, want none", counts)
	}

	// Beyond the bounds: each call finds traceparent (in the buckets
	// searched) or counts its search as truncated.
	const big = 8
	call(big, "-traceparent", traceparent, "-pad", "300")
	found := 0
	for _, ev := range spans(big) {
		if ev.IDs.HasParent {
			if hex.EncodeToString(ev.IDs.TraceID[:]) != tpTrace || hex.EncodeToString(ev.IDs.ParentSpanID[:]) != tpSpan {
				t.Errorf("300 more entries: ids %+v, want parent %s/%s", ev.IDs, tpTrace, tpSpan)
			}
			found++
		}
	}
	counts, err = tr.GRPCMetadataCounts()
	if err != nil {
		t.Fatal(err)
	}
	if found+int(counts.Truncated) != big || counts.ReadFailed != 0 {
		t.Errorf("300 more entries: %d of %d calls found traceparent, counters %+v: want the others counted truncated", found, big, counts)
	}
	t.Logf("300 more entries: %d of %d found, %d truncated", found, big, counts.Truncated)
}
