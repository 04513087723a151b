package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
// (HTTP and gRPC spans, stitching on) and goroutine_ancestry deep,
// instrumenting glob, stitching as given.
func startStitchReceiver(t *testing.T, glob string, stitch bool) (*consumertest.TracesSink, *componenttest.Telemetry) {
	t.Helper()
	f := ebpfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfreceiver.Config)
	cfg.Discovery.Instrument = []ebpfreceiver.ProcessSelector{{ExePath: glob}}
	cfg.Discovery.PollInterval = 200 * time.Millisecond
	cfg.Traces.Propagation.Stitch = stitch
	// Explicit, whatever the default: front's Deep call is made 8 go
	// statements below its handler.
	cfg.Traces.GoroutineAncestry = ebpfreceiver.AncestryDeep
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

// Issue 16's gRPC report, through the receiver with its default config and
// goroutine_ancestry deep: two unmodified, stripped services on this host,
// front (an HTTP server) calling back (a gRPC server) over one shared
// ClientConn, plaintext and TLS, with grpc-go v1.33.2 (the oldest Linux
// distributions package) and v1.85.0 (the newest). Each request to front
// (/work?req=N) calls back's service tag.RN (the span names say which
// request and which call): unary Handler from the handler's goroutine,
// Goroutine from a goroutine it starts, Deep from a goroutine 8 go
// statements below it, and the server-streaming Watch; requests run
// concurrently. Each request is exactly one trace, rooted at front's server
// span of that request, holding exactly its calls, every back server span
// the child of the front client span of the same call; the stitching
// counters agree. With stitching off, the same traffic gives each back span
// a trace of its own: the assertions above would fail. preattached: front's
// ClientConn made its connection (and one call) before the receiver
// started; the traced calls go over that connection and stitch the same.
func TestEBPFGRPCStitchFrontBack(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	for _, tc := range []struct {
		version string
		opts    grpcStitchOptions
	}{
		{"v1.33.2", grpcStitchOptions{stitch: true}},
		{"v1.33.2", grpcStitchOptions{tls: true, stitch: true}},
		{"v1.85.0", grpcStitchOptions{stitch: true}},
		{"v1.85.0", grpcStitchOptions{tls: true, stitch: true}},
		{"v1.85.0", grpcStitchOptions{}},
		// The client records its span after back's handleStream ran.
		{"v1.33.2", grpcStitchOptions{stitch: true, slow: true}},
		{"v1.85.0", grpcStitchOptions{tls: true, stitch: true, slow: true}},
		{"v1.33.2", grpcStitchOptions{tls: true, stitch: true, preattached: true}},
		{"v1.85.0", grpcStitchOptions{stitch: true, preattached: true}},
	} {
		name := tc.version
		if tc.opts.tls {
			name += "-tls"
		}
		if !tc.opts.stitch {
			name += "-nostitch"
		}
		if tc.opts.slow {
			name += "-slowheaders"
		}
		if tc.opts.preattached {
			name += "-preattached"
		}
		t.Run(name, func(t *testing.T) {
			testGRPCStitchFrontBack(t, buildGRPCFrontBack(t, tc.version), tc.opts)
		})
	}
}

// grpcStitchOptions: a TLS connection, stitching on, slow headers (see
// testGRPCStitchFrontBack), front's connection opened before the receiver
// starts.
type grpcStitchOptions struct {
	tls, stitch, slow, preattached bool
}

// slowheaders: front's stats handler sleeps on each RPC's OutHeader, inside
// NewStream after the HEADERS frame was queued, so back's handleStream
// looks the stream up before front's client probe recorded it (the race a
// loaded host makes). Each back span must still join its client span: the
// client probe joins the waiting server span (spans_stitched_late).
func testGRPCStitchFrontBack(t *testing.T, built string, o grpcStitchOptions) {
	// A copy per run: the receiver instruments this path only.
	exe := filepath.Join(t.TempDir(), "grpcfrontback")
	if b, err := os.ReadFile(built); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	var sink *consumertest.TracesSink
	var tel *componenttest.Telemetry
	if !o.preattached {
		sink, tel = startStitchReceiver(t, exe, o.stitch)
	}
	backAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	frontAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	backArgs := []string{"back", backAddr}
	frontArgs := []string{"front", frontAddr, backAddr}
	if o.tls {
		backArgs = append(backArgs, "tls")
		frontArgs = append(frontArgs, "tls")
	}
	if o.slow {
		frontArgs = append(frontArgs, "slowheaders")
		backArgs = append(backArgs, "nested")
	}
	back := startService(t, exe, "back", backArgs...)
	front := startService(t, exe, "front", frontArgs...)
	url := "http://" + frontAddr + "/work"
	dials := func() string {
		resp, err := client.Get("http://" + frontAddr + "/dials")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	if o.preattached {
		if code := get(t, url, nil); code != 200 {
			t.Fatalf("/work before tracing: %d", code)
		}
		if d := dials(); d != "1" {
			t.Fatalf("front's ClientConn opened %s connections before tracing, want 1", d)
		}
		sink, tel = startStitchReceiver(t, exe, o.stitch)
	}

	// Per request: front's HTTP server span and 4 client spans, back's 4
	// server spans. slow: back's 3 unary methods each call their Inner
	// counterpart on back from their handler, 3 more client and server
	// spans in back.
	const perFront = 5
	perBack, backServers, innerCalls := 4, 4, 0
	if o.slow {
		perBack, backServers, innerCalls = 10, 7, 3
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
				if code := get(t, fmt.Sprintf("%s?req=%d", url, i), nil); code != 200 {
					t.Errorf("/work: %d", code)
				}
			}
		}()
	}
	wg.Wait()
	spans := waitSpans(t, sink, (perFront+perBack)*requests)
	traces := map[pcommon.TraceID]int{}
	names := map[string]int{}
	for _, s := range spans {
		traces[s.TraceID()]++
		names[serviceOf(s)+" "+s.Kind().String()]++
		if s.Kind() == ptrace.SpanKindClient {
			if code := intAttr(s, "rpc.grpc.status_code"); code != 0 {
				t.Errorf("client span %s: status code %d, want 0", s.Name(), code)
			}
		}
	}
	for name, want := range map[string]int{
		"front Server": requests,
		"front Client": 4 * requests,
		"back Server":  backServers * requests,
		"back Client":  innerCalls * requests,
	} {
		if names[name] != want {
			t.Errorf("%d %s spans, want %d (all: %v)", names[name], name, want, names)
		}
	}
	stitched := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched") - stitched0
	unstitchedClient := counterWith(t, tel, "otelcol_receiver_ebpf_spans_unstitched", "side", "client") - unstitchedClient0
	unstitchedServer := counterWith(t, tel, "otelcol_receiver_ebpf_spans_unstitched", "side", "server") - unstitchedServer0
	late := counterValue(t, tel, "otelcol_receiver_ebpf_spans_stitched_late") - late0
	t.Logf("spans_stitched +%d (late +%d), spans_unstitched{side=server} +%d, {side=client} +%d",
		stitched, late, unstitchedServer, unstitchedClient)
	// Every call of every request went over one connection (with
	// preattached: the one opened before tracing).
	if d := dials(); d != "1" {
		t.Errorf("front's ClientConn opened %s connections, want 1", d)
	}
	if !o.stitch {
		// Every back span is a trace of its own.
		roots := 0
		for _, s := range spans {
			if serviceOf(s) == "back" && s.ParentSpanID().IsEmpty() {
				roots++
			}
		}
		if len(traces) != requests+perBack*requests || roots != perBack*requests || stitched != 0 {
			t.Errorf("stitching off: %d traces, %d back spans roots, spans_stitched +%d; want %d, %d, 0", len(traces), roots, stitched, requests+perBack*requests, perBack*requests)
		}
		return
	}
	checkRequestTraces(t, spans, requestTags(requests), func(tag string) spanTree {
		svc := "tag.R" + tag
		root := "front Server GET /work /work?req=" + tag
		tree := spanTree{root: ""}
		for _, m := range []string{"Handler", "Goroutine", "Deep", "Watch"} {
			call := "front Client " + svc + "/" + m
			served := "back Server " + svc + "/" + m
			tree[call] = root
			tree[served] = call
			if o.slow && m != "Watch" {
				inner := "back Client " + svc + "/" + m + "Inner"
				tree[inner] = served
				tree["back Server "+svc+"/"+m+"Inner"] = inner
			}
		}
		return tree
	})
	// Unstitched server spans: front's HTTP ones only (the test's requests
	// come from an untraced process).
	if stitched != int64(backServers*requests) || unstitchedClient != 0 || unstitchedServer != requests {
		t.Errorf("spans_stitched +%d, spans_unstitched{side=client} +%d, {side=server} +%d; want +%d, +0, +%d", stitched, unstitchedClient, unstitchedServer, backServers*requests, requests)
	}
	// Slow headers: the client's record comes after the server's lookup
	// (all of them unless the host delays handleStream by 30 ms).
	if o.slow && late == 0 {
		t.Errorf("spans_stitched_late +0 with the client's OutHeader delayed; the race was not exercised")
	}
}
