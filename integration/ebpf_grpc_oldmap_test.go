package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// buildGRPCMetaGOPATH builds testdata/grpcmeta the way Debian packages Go
// programs: Debian's Go 1.19, GOPATH mode (no module versions in the build
// info), grpc-go v1.33.2 under GOPATH/src, stripped; cached in
// $TMPDIR/grpcmeta-gopath-bins by source.
func buildGRPCMetaGOPATH(t *testing.T) string {
	t.Helper()
	const goBin, version = "/usr/lib/go-1.19/bin/go", "v1.33.2"
	if _, err := os.Stat(goBin); err != nil {
		t.Fatalf("%s: %v (golang-1.19-go, installed by .ci/run)", goBin, err)
	}
	src, err := os.ReadFile("testdata/grpcmeta/main.go")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	dir := filepath.Join(os.TempDir(), "grpcmeta-gopath-bins", version+"-"+hex.EncodeToString(sum[:6]))
	exe := filepath.Join(dir, "grpcmeta")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	mod := filepath.Join(dir, "mod")
	gopath := filepath.Join(dir, "gopath")
	app := filepath.Join(gopath, "src", "grpcmeta")
	write := func(path, data string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(dir string, env []string, args ...string) {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOWORK=off"}, env...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("grpcmeta (Go 1.19, GOPATH): go %v: %v\n%s", args, err, out)
		}
	}
	write(filepath.Join(mod, "go.mod"), "module grpcmeta\n\ngo 1.19\n\nrequire google.golang.org/grpc "+version+"\n")
	write(filepath.Join(mod, "main.go"), string(src))
	run(mod, []string{"GOFLAGS=-mod=mod"}, "mod", "tidy")
	// The dependencies' sources under GOPATH/src (vendor -o replaces the
	// directory: the program goes in after).
	run(mod, []string{"GOFLAGS=-mod=mod"}, "mod", "vendor", "-o", filepath.Join(gopath, "src"))
	write(filepath.Join(app, "main.go"), string(src))
	run(app, []string{"GO111MODULE=off", "GOPATH=" + gopath, "GOFLAGS="}, "build", "-ldflags=-s -w", "-o", exe+".tmp", ".")
	if err := os.Rename(exe+".tmp", exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// A gRPC service as Debian ships one (Go 1.19, GOPATH build without module
// versions, stripped, grpc-go v1.33.2), traced by the receiver with its
// default config and stitching off: each server span carries the
// traceparent the client sent in its metadata (found by the server probe's
// walk of Go 1.19's map buckets). With 300 more metadata entries (64
// buckets, 16 searched) each request's span either has that parent or is
// counted in grpc_metadata_unsearched (reason truncated).
func TestEBPFGRPCMetadataDebianGo119(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	built := buildGRPCMetaGOPATH(t)
	// A copy per run: the receiver instruments this path only.
	exe := filepath.Join(t.TempDir(), "grpcmeta")
	if b, err := os.ReadFile(built); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sink, tel := startStitchReceiver(t, exe, false)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startService(t, exe, "grpcmeta", "-addr", addr)

	const (
		tpTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		tpSpan  = "00f067aa0ba902b7"
	)
	call := func(n int, args ...string) {
		t.Helper()
		args = append([]string{"-client", "-target", addr, "-n", strconv.Itoa(n), "-traceparent", "00-" + tpTrace + "-" + tpSpan + "-01"}, args...)
		if out, err := exec.Command(exe, args...).CombinedOutput(); err != nil {
			t.Fatalf("grpcmeta %v: %v\n%s", args, err, out)
		}
	}
	// Until the receiver attached: one RPC per try.
	deadline := time.Now().Add(30 * time.Second)
	for len(collect(sink)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no span from the gRPC service")
		}
		call(1)
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond)
	sink.Reset()
	truncated0 := counterWith(t, tel, "otelcol_receiver_ebpf_grpc_metadata_unsearched", "reason", "truncated")

	hasParent := func(s span) bool {
		return s.TraceID().String() == tpTrace && s.ParentSpanID().String() == tpSpan
	}
	const n = 5
	call(n)
	for _, s := range waitSpans(t, sink, n) {
		if s.Kind() != ptrace.SpanKindServer || s.Name() != "grpc.health.v1.Health/Check" || !hasParent(s) {
			t.Errorf("span %s (%v) trace %s parent %s; want the Check server span under %s/%s", s.Name(), s.Kind(), s.TraceID(), s.ParentSpanID(), tpTrace, tpSpan)
		}
	}

	sink.Reset()
	const big = 8
	call(big, "-pad", "300")
	found := 0
	for _, s := range waitSpans(t, sink, big) {
		if hasParent(s) {
			found++
		} else if !s.ParentSpanID().IsEmpty() {
			t.Errorf("300 more entries: span with parent %s/%s", s.TraceID(), s.ParentSpanID())
		}
	}
	truncated := counterWith(t, tel, "otelcol_receiver_ebpf_grpc_metadata_unsearched", "reason", "truncated") - truncated0
	if int64(found)+truncated != big {
		t.Errorf("300 more entries: %d of %d spans have the client's parent, %d counted truncated", found, big, truncated)
	}
	t.Logf("300 more entries: %d of %d found, %d truncated", found, big, truncated)
}
