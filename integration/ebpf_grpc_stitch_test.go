package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap/zaptest"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver"
)

// buildGRPCFrontBack builds testdata/grpcfrontback against grpc-go version,
// stripped (buildGRPCProgram).
func buildGRPCFrontBack(t *testing.T, version string) string {
	t.Helper()
	return buildGRPCProgram(t, "grpcfrontback", version)
}

// startStitchReceiver starts the ebpf receiver with its default config
// (HTTP and gRPC spans, stitching on) instrumenting glob, stitching as
// given.
func startStitchReceiver(t *testing.T, glob string, stitch bool) (*consumertest.TracesSink, *componenttest.Telemetry) {
	t.Helper()
	f := ebpfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfreceiver.Config)
	cfg.Discovery.Instrument = []ebpfreceiver.ProcessSelector{{ExePath: glob}}
	cfg.Discovery.PollInterval = 200 * time.Millisecond
	cfg.Traces.Propagation.Stitch = stitch
	tel := componenttest.NewTelemetry()
	set := receivertest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), t.Name())
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zaptest.NewLogger(t)
	sink := new(consumertest.TracesSink)
	rcv, err := f.CreateTraces(context.Background(), set, cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rcv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		_ = tel.Shutdown(ctx)
	})
	return sink, tel
}

// Issue 16's gRPC report, through the receiver with its default config:
// two unmodified, stripped services on this host, front (an HTTP server)
// calling back (a gRPC server) over one shared ClientConn, plaintext and
// TLS, with grpc-go v1.33.2 (the oldest Linux distributions package) and
// v1.85.0 (the newest). Each request to front makes a unary Check from the
// handler's goroutine and one from a goroutine it starts, and a
// server-streaming Watch; requests run concurrently. Exactly one trace per
// request to front, and every back server span is the child of the front
// client span of its RPC (same method); the stitching counters agree.
// With stitching off, the same traffic gives each back span a trace of its
// own: the assertions above would fail.
func TestEBPFGRPCStitchFrontBack(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	for _, tc := range []struct {
		version string
		tls     bool
		stitch  bool
		slow    bool
	}{
		{"v1.33.2", false, true, false},
		{"v1.33.2", true, true, false},
		{"v1.85.0", false, true, false},
		{"v1.85.0", true, true, false},
		{"v1.85.0", false, false, false},
		// The client records its span after back's handleStream ran.
		{"v1.33.2", false, true, true},
		{"v1.85.0", true, true, true},
	} {
		name := tc.version
		if tc.tls {
			name += "-tls"
		}
		if !tc.stitch {
			name += "-nostitch"
		}
		if tc.slow {
			name += "-slowheaders"
		}
		t.Run(name, func(t *testing.T) {
			testGRPCStitchFrontBack(t, buildGRPCFrontBack(t, tc.version), tc.tls, tc.stitch, tc.slow)
		})
	}
}

// slowheaders: front's stats handler sleeps on each RPC's OutHeader, inside
// NewStream after the HEADERS frame was queued, so back's handleStream
// looks the stream up before front's client probe recorded it (the race a
// loaded host makes). Each back span must still join its client span: the
// client probe joins the waiting server span (spans_stitched_late).
func testGRPCStitchFrontBack(t *testing.T, built string, useTLS, stitch, slow bool) {
	// A copy per run: the receiver instruments this path only.
	exe := filepath.Join(t.TempDir(), "grpcfrontback")
	if b, err := os.ReadFile(built); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sink, tel := startStitchReceiver(t, exe, stitch)
	backAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	frontAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	backArgs := []string{"back", backAddr}
	frontArgs := []string{"front", frontAddr, backAddr}
	if useTLS {
		backArgs = append(backArgs, "tls")
		frontArgs = append(frontArgs, "tls")
	}
	if slow {
		frontArgs = append(frontArgs, "slowheaders")
		backArgs = append(backArgs, "nested")
	}
	back := startService(t, exe, "back", backArgs...)
	front := startService(t, exe, "front", frontArgs...)
	url := "http://" + frontAddr + "/work"

	// Per request: front's HTTP server span and 3 client spans, back's 3
	// server spans. slow: back's 2 Checks each call back's own Check
	// ("inner") from their handler, 2 more client and server spans in back.
	const perFront = 4
	perBack, backServers, innerChecks := 3, 3, 0
	if slow {
		perBack, backServers, innerChecks = 7, 5, 2
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.Reset()
		get(t, url, nil)
		time.Sleep(700 * time.Millisecond)
		if n := spansByPID(collect(sink)); n[front] == perFront && n[back] == perBack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("front and back never both traced: %v spans by pid (front %d, back %d)", spansByPID(collect(sink)), front, back)
		}
	}
	sink.Reset()
	stitched0 := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched")
	late0 := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched_late")
	unstitchedServer0 := counterWith(t, tel, "otelcol_receiver_ebpf_spans_unstitched", "side", "server")
	unstitchedClient0 := counterWith(t, tel, "otelcol_receiver_ebpf_spans_unstitched", "side", "client")

	const requests, workers = 12, 3
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < requests; i += workers {
				if code := get(t, url, nil); code != 200 {
					t.Errorf("/work: %d", code)
				}
			}
		}()
	}
	wg.Wait()
	spans := waitSpans(t, sink, (perFront+perBack)*requests)
	traces := map[pcommon.TraceID]int{}
	byID := map[pcommon.SpanID]span{}
	names := map[string]int{}
	for _, s := range spans {
		traces[s.TraceID()]++
		byID[s.SpanID()] = s
		names[serviceOf(s)+" "+s.Kind().String()+" "+s.Name()]++
	}
	for name, want := range map[string]int{
		"front Server GET /work":                   requests,
		"front Client grpc.health.v1.Health/Check": 2 * requests,
		"front Client grpc.health.v1.Health/Watch": requests,
		"back Server grpc.health.v1.Health/Check":  (2 + innerChecks) * requests,
		"back Client grpc.health.v1.Health/Check":  innerChecks * requests,
		"back Server grpc.health.v1.Health/Watch":  requests,
	} {
		if names[name] != want {
			t.Errorf("%d spans %q, want %d (all: %v)", names[name], name, want, names)
		}
	}
	joined := 0
	for _, s := range spans {
		if serviceOf(s) != "back" {
			continue
		}
		p, ok := byID[s.ParentSpanID()]
		if s.Kind() != ptrace.SpanKindServer {
			continue
		}
		if ok && p.Kind() == ptrace.SpanKindClient && p.TraceID() == s.TraceID() && p.Name() == s.Name() {
			joined++
			if code := intAttr(p, "rpc.grpc.status_code"); code != 0 {
				t.Errorf("client span %s: status code %d, want 0", p.Name(), code)
			}
		}
	}
	stitched := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched") - stitched0
	unstitchedClient := counterWith(t, tel, "otelcol_receiver_ebpf_spans_unstitched", "side", "client") - unstitchedClient0
	unstitchedServer := counterWith(t, tel, "otelcol_receiver_ebpf_spans_unstitched", "side", "server") - unstitchedServer0
	late := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched_late") - late0
	t.Logf("back server spans: %d joined of %d; spans_stitched +%d (late +%d), spans_unstitched{side=server} +%d, {side=client} +%d",
		joined, backServers*requests, stitched, late, unstitchedServer, unstitchedClient)
	if !stitch {
		// Every back span is a trace of its own.
		if len(traces) != requests+perBack*requests || joined != 0 || stitched != 0 {
			t.Errorf("stitching off: %d traces, %d back spans joined, spans_stitched +%d; want %d, 0, 0", len(traces), joined, stitched, requests+perBack*requests)
		}
		return
	}
	if len(traces) != requests {
		t.Errorf("%d traces for %d requests to front, want %d", len(traces), requests, requests)
	}
	if joined != backServers*requests {
		t.Errorf("%d of %d back server spans are children of the client span of their RPC", joined, backServers*requests)
	}
	// Unstitched server spans: front's HTTP ones only (the test's requests
	// come from an untraced process).
	if stitched != int64(backServers*requests) || unstitchedClient != 0 || unstitchedServer != requests {
		t.Errorf("spans_stitched +%d, spans_unstitched{side=client} +%d, {side=server} +%d; want +%d, +0, +%d", stitched, unstitchedClient, unstitchedServer, backServers*requests, requests)
	}
	// Slow headers: the client's record comes after the server's lookup
	// (all of them unless the host delays handleStream by 30 ms).
	if slow && late == 0 {
		t.Errorf("spans_stitched_late +0 with the client's OutHeader delayed; the race was not exercised")
	}
}
