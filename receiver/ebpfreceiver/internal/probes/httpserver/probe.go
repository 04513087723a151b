// Package httpserver is the net/http server probe (bpf/probes/http_server.c):
// one SERVER span per request served, ended by ServeHTTP's return or, when
// the handler panics and net/http recovers, by the recovery.
package httpserver

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Name is the probe's name in selections and errors.
const Name = "http_server"

// Probed functions.
const (
	FuncServeHTTP = "net/http.serverHandler.ServeHTTP"
	// FuncXNetServeConn serves a connection with golang.org/x/net/http2's
	// server (ServeConn, a wrapper, is inlined into its callers in recent
	// x/net versions; older ones have FuncXNetServeConnLegacy only).
	FuncXNetServeConn       = "golang.org/x/net/http2.(*Server).serveConn"
	FuncXNetServeConnLegacy = "golang.org/x/net/http2.(*Server).ServeConn"
	FuncGopanic             = "runtime.gopanic"
	FuncRecovery            = "runtime.recovery"
	funcGogo                = "runtime.gogo"
)

// BPF programs.
const (
	ProgEntry          = "uprobe_server_entry"
	ProgReturn         = "uprobe_server_return"
	ProgGopanic        = "uprobe_gopanic"
	ProgRecoveryResume = "uprobe_recovery_resume"
	// ProgXNetServeConn makes the HTTP/1 request whose handler hands its
	// connection to x/net's server (h2c by Upgrade) a counted handoff.
	ProgXNetServeConn = "uprobe_xnet_serve_conn"
	panicGroup        = "panic"
	requestsMap       = "server_requests"
)

// RequestFields are read by both HTTP probes: the request's method and path.
var RequestFields = []fields.ID{fields.RequestMethod, fields.RequestURL, fields.URLPath}

// GoroutineFields let span context follow goroutines started by a handler
// (and key span_by_goroutine by goroutine id).
var GoroutineFields = []fields.ID{fields.RuntimeGM, fields.RuntimeGGoid, fields.RuntimeMCurg}

// Probe describes the probe to the loader.
//
// Hits per request: 2 (ServeHTTP entry and one RET). runtime.gopanic
// (entry) and runtime.recovery's call of gogo run only when the program
// panics and recovers; x/net's serveConn once per connection x/net's
// HTTP/2 server serves (h2c).
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncServeHTTP, Entry: ProgEntry, Return: ProgReturn},
		{Symbol: FuncGopanic, Entry: ProgGopanic, Optional: panicGroup},
		{Symbol: FuncRecovery, Return: ProgRecoveryResume, CallsOf: funcGogo, Optional: panicGroup},
		{Symbol: FuncXNetServeConn, Entry: ProgXNetServeConn, Optional: "xnet serveConn"},
		{Symbol: FuncXNetServeConnLegacy, Entry: ProgXNetServeConn, Optional: "xnet ServeConn"},
	},
	Fields: append(append([]fields.ID{}, RequestFields...),
		fields.RequestProtoMajor, fields.RequestProtoMinor, fields.RequestHost, fields.RequestRemoteAddr, fields.ResponseStatus),
	OptionalFields: [][]fields.ID{
		{fields.URLRawQuery},
		{fields.RequestPattern},
		// The connection's read buffer: incoming trace context.
		{fields.ResponseConn, fields.ConnBufr, fields.BufioReaderBuf, fields.BufioReaderR},
		GoroutineFields,
		{fields.RequestTLS},
		// The connection's socket: stitching to a client span of this host.
		{fields.ResponseConn, fields.ConnRwc},
		// The bundled HTTP/2 server's response writer: HTTP/2 status.
		{fields.H2ResponseWriterRws, fields.H2ResponseWriterStateStatus},
		// Its stream: the parent the h2_server probe found in the
		// stream's headers (h2server.StreamFields).
		{fields.H2ResponseWriterRws, fields.H2ResponseWriterStateStream, fields.H2StreamSc, fields.H2StreamID},
	},
	Complete:      recordGopanic,
	Constants:     constants,
	StartsSpans:   true,
	GoroutineMaps: []string{requestsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_HTTP_SERVER,
	Decode:        Decode,
}

// recordGopanic gives the panic probe the unrelocated address of its site
// in runtime.gopanic, from which it computes the load bias of a PIE.
func recordGopanic(exe *goexe.Executable, off *probes.Offsets) {
	if f, err := exe.Func(FuncGopanic); err == nil {
		off.GopanicVaddr = f.ProbeAddr()
	}
}

// constants: capture_query switches the reading of url.RawQuery,
// stitch_enabled the lookup of the request's connection (stitch.h).
func constants(s probes.Settings) map[string]any {
	return map[string]any{"capture_query": flag(s.CaptureQuery), "stitch_enabled": flag(s.Stitch)}
}

func flag(on bool) uint32 {
	if on {
		return 1
	}
	return 0
}
