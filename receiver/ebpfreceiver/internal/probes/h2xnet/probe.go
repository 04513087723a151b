// Package h2xnet is the server probe of the standalone
// golang.org/x/net/http2 server (its h2c package, http2.Server.ServeConn):
// one SERVER span per stream. That server runs each stream's handler
// itself, in (*serverConn).runHandler on a goroutine of its own, without
// net/http's serverHandler.ServeHTTP, so the HTTP server probe never sees
// its streams. The programs are the HTTP server probe's
// (bpf/probes/http_server.c, xnet_handler_*): they record the span in the
// same per-goroutine map and send the same events (kind EVENT_HTTP_SERVER,
// decoded by package httpserver), with the status read from x/net's
// response writer. Trace context comes from x/net's newWriterAndRequest,
// as for net/http's bundled server (bpf/probes/h2_server.c).
//
// x/net's layouts are read from DWARF, else from the offsets table by the
// x/net release in the binary's build info (every release from v0.1.0).
// The response writer's layout (StatusFields) is required: a stripped
// binary of a release the table does not list (newer than the table, a
// pseudo-version) gets no x/net probe rather than one whose reads nobody
// checked (the receiver says so once per binary). A binary without x/net's
// server resolves no site: nothing is attached, nothing is reported.
package h2xnet

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Name is the probe's name in selections and errors.
const Name = "h2_server_xnet"

// Probed functions.
const (
	FuncRunHandler          = "golang.org/x/net/http2.(*serverConn).runHandler"
	FuncNewWriterAndRequest = "golang.org/x/net/http2.(*serverConn).newWriterAndRequest"
)

// BPF programs.
const (
	ProgEntry   = "uprobe_xnet_handler_entry"
	ProgReturn  = "uprobe_xnet_handler_return"
	ProgHeaders = "uprobe_xnet_h2_server_headers"
	headers     = "headers"
	server      = "server"
	requestsMap = "server_requests"
)

// StatusFields lead from x/net's response writer to the stream's status.
var StatusFields = []fields.ID{fields.XNetResponseWriterRws, fields.XNetResponseWriterStateStatus, fields.XNetResponseWriterStateStream}

// Probe describes the probe to the loader.
//
// Hits per request: 3 (newWriterAndRequest entry, runHandler entry and one
// RET); 5 when x/net's server sits behind net/http's TLSNextProto
// (http2.ConfigureServer), whose handler goes through ServeHTTP too (the
// HTTP server probe then leaves the stream's span to this one).
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{
		{Symbol: FuncRunHandler, Entry: ProgEntry, Return: ProgReturn, Optional: server},
		{Symbol: FuncNewWriterAndRequest, Entry: ProgHeaders, Optional: headers},
	},
	Fields: append(append(append([]fields.ID{}, httpserver.RequestFields...),
		fields.RequestProtoMajor, fields.RequestProtoMinor, fields.RequestHost, fields.RequestRemoteAddr),
		// The response writer's state: status and panics.
		StatusFields...),
	OptionalFields: [][]fields.ID{
		{fields.URLRawQuery},
		{fields.RequestPattern},
		httpserver.GoroutineFields,
		{fields.RequestTLS},
		// The stream, where the trace context found in its headers waits.
		{fields.XNetResponseWriterRws, fields.XNetResponseWriterStateStream, fields.XNetStreamSc, fields.XNetStreamID},
		{fields.XNetMetaHeadersFrameFields, fields.XNetHpackHeaderFieldName, fields.XNetHpackHeaderFieldValue, fields.XNetHpackHeaderFieldSensitive},
		// The stream's connection: stitching (bpf/common/h2_stitch.h).
		{fields.XNetServerConnConn},
	},
	StartsSpans:   true,
	GoroutineMaps: []string{requestsMap},
}
