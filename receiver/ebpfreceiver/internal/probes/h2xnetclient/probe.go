// Package h2xnetclient is the client probe of golang.org/x/net/http2's own
// Transport, used directly (not through net/http's Transport, whose
// roundTrip the HTTP client probe traces, HTTP/2 included): one CLIENT span
// per request, with the status of the stream's response. The programs are
// in bpf/probes/http_client.c (xnet_client_*) and send the HTTP client
// probe's events (kind EVENT_HTTP_CLIENT, decoded by package httpclient).
// Its programs read only net/http's Request, URL and Response, but it is
// attached only where x/net's client layout is known (RequiredLayout: from
// DWARF, else the offsets table by x/net release): a stripped binary of an
// x/net release nobody checked gets no x/net probe.
package h2xnetclient

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Name is the probe's name in selections and errors.
const Name = "http_client_xnet"

// Probed functions: the implementation is roundTripOpt in recent x/net
// versions (RoundTripOpt, a wrapper, is inlined into its callers) and
// RoundTripOpt itself in older ones. Where both exist, the outer call's
// span is the one.
const (
	FuncRoundTripOpt       = "golang.org/x/net/http2.(*Transport).roundTripOpt"
	FuncRoundTripOptLegacy = "golang.org/x/net/http2.(*Transport).RoundTripOpt"
)

// BPF programs.
const (
	ProgEntry   = "uprobe_xnet_client_entry"
	ProgReturn  = "uprobe_xnet_client_return"
	requestsMap = "xnet_client_requests"
)

// RequiredLayout is x/net's client stream and connection (what the
// stitching probe reads): not read by this probe's programs, required so
// that it runs only on x/net releases whose layout is known.
var RequiredLayout = []fields.ID{fields.XNetClientStreamCc, fields.XNetClientStreamID, fields.XNetClientConnTconn}

// Probe describes the probe to the loader. A binary without x/net's
// client resolves no site: nothing is attached, nothing is reported.
//
// Hits per request: 2 (entry and one RET), 4 where RoundTripOpt calls
// roundTripOpt out of line.
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncRoundTripOpt, Entry: ProgEntry, Return: ProgReturn, Optional: "roundTripOpt"},
		{Symbol: FuncRoundTripOptLegacy, Entry: ProgEntry, Return: ProgReturn, Optional: "RoundTripOpt"},
	},
	Fields: append(append(append([]fields.ID{}, httpserver.RequestFields...),
		fields.URLScheme, fields.URLHost, fields.ClientResponseStatusCode),
		RequiredLayout...),
	OptionalFields: [][]fields.ID{
		{fields.URLRawQuery},
		httpserver.GoroutineFields,
		append(append([]fields.ID{}, httpserver.GoroutineFields...), fields.RuntimeGParentGoid),
		{fields.URLUser},
	},
	JoinsSpans:    true,
	GoroutineMaps: []string{requestsMap},
}
