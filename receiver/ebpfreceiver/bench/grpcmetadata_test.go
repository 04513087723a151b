package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// buildGRPCMeta builds integration/testdata/grpcmeta against grpc-go
// v1.69.4 with toolchain (GOTOOLCHAIN), in a directory of $TMPDIR kept
// between runs.
func buildGRPCMeta(b *testing.B, toolchain string) string {
	b.Helper()
	src, err := os.ReadFile("../../../integration/testdata/grpcmeta/main.go")
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(os.TempDir(), "grpcmeta-bench", toolchain)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	gomod := "module grpcmeta\n\ngo 1.19\n\nrequire google.golang.org/grpc v1.69.4\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		b.Fatal(err)
	}
	exe := filepath.Join(dir, "grpcmeta")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", exe, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+toolchain, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("grpcmeta with %s: go %v: %v\n%s", toolchain, args, err, out)
		}
	}
	return exe
}

// BenchmarkGRPCMetadataSearch reports the BPF time per unary RPC of the
// gRPC server probe's handleStream entry, which searches the incoming
// metadata for traceparent: the same program (integration/testdata/grpcmeta,
// grpc-go v1.69.4) built by Go 1.22 (runtime.hmap buckets: the bucket walk)
// and by Go 1.24 (swiss tables: the group walk), traced by one tracer in
// one run, with traceparent alone and among 20 more entries; the ratio is
// bucket walk / swiss walk. Calls come from an untraced client process.
func BenchmarkGRPCMetadataSearch(b *testing.B) {
	requireRoot(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	const n = 500
	entry := grpcserver.ProgEntry[len("uprobe_"):]
	perRPC := map[string]float64{}
	for _, tc := range []struct{ walk, toolchain string }{{"bucket (Go 1.22)", "go1.22.12"}, {"swiss (Go 1.24)", "go1.24.13"}} {
		exe := buildGRPCMeta(b, tc.toolchain)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(exe, "-addr", addr)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitListening(b, "grpcmeta", addr)
		x, err := goexe.Inspect(exe)
		if err != nil {
			b.Fatal(err)
		}
		bin, err := tracer.ResolveBinary(x)
		if err != nil {
			b.Fatal(err)
		}
		cookie, err := tr.AddBinary(bin.Offsets)
		if err != nil {
			b.Fatal(err)
		}
		att, err := tr.Attach(cmd.Process.Pid, cookie, bin, tracer.Probes{grpcserver.Name: true})
		if err != nil {
			b.Fatal(err)
		}
		for _, pad := range []int{0, 20} {
			args := []string{"-client", "-target", addr, "-n", strconv.Itoa(n), "-traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "-pad", strconv.Itoa(pad)}
			call := func() {
				if out, err := exec.Command(exe, args...).CombinedOutput(); err != nil {
					b.Fatalf("grpcmeta %v: %v\n%s", args, err, out)
				}
			}
			call() // warm up
			_ = tr.Drain(time.Millisecond, func([]byte) {})
			s0, _ := tr.ProgramStats()
			call()
			s1, _ := tr.ProgramStats()
			_ = tr.Drain(300*time.Millisecond, func([]byte) {})
			runs, ns := s1[entry].RunCount-s0[entry].RunCount, s1[entry].Runtime-s0[entry].Runtime
			key := fmt.Sprintf("%s, %d more entries", tc.walk, pad)
			perRPC[key] = float64(ns.Nanoseconds()) / n
			fmt.Printf("%-32s handleStream entry: %.2f runs/RPC, %.0f ns/RPC\n", key, float64(runs)/n, perRPC[key])
		}
		att.Close()
	}
	for _, pad := range []int{0, 20} {
		bucket, swiss := perRPC[fmt.Sprintf("bucket (Go 1.22), %d more entries", pad)], perRPC[fmt.Sprintf("swiss (Go 1.24), %d more entries", pad)]
		fmt.Printf("%d more entries: bucket walk / swiss walk = %.2f\n", pad, bucket/swiss)
		b.ReportMetric(bucket, "BPF-ns/RPC-bucket-pad"+strconv.Itoa(pad))
		b.ReportMetric(swiss, "BPF-ns/RPC-swiss-pad"+strconv.Itoa(pad))
	}
}
