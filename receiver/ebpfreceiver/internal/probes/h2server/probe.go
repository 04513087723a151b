// Package h2server finds the incoming trace context of requests served by
// net/http's bundled HTTP/2 server (bpf/probes/h2_server.c). Their SERVER
// spans are the HTTP server probe's (serverHandler.ServeHTTP runs on each
// stream's handler goroutine); their headers, though, are decoded on the
// connection's goroutine into a list of header fields, not kept as text in
// a read buffer. This probe scans that list where the stream's request is
// made and records the parent it finds under the stream, where the server
// probe takes it. It sends no events.
package h2server

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Name is the probe's name in selections and errors.
const Name = "h2_server"

// FuncNewWriterAndRequest is the probed function: called on the
// connection's serve goroutine once per new stream (not for trailers), with
// the stream and its decoded HEADERS (and CONTINUATION) frames, before the
// stream's handler goroutine starts.
const FuncNewWriterAndRequest = "net/http.(*http2serverConn).newWriterAndRequest"

// ProgHeaders is the BPF program at its entry.
const ProgHeaders = "uprobe_h2_server_headers"

// parentsMap holds the parents found, by stream, until the handler starts.
const parentsMap = "h2_stream_parents"

// StreamFields lead from an HTTP/2 response writer to its stream: the
// server probe reads them to take the parent this probe recorded.
var StreamFields = []fields.ID{fields.H2ResponseWriterRws, fields.H2ResponseWriterStateStream, fields.H2StreamSc, fields.H2StreamID}

// Probe describes the probe to the loader.
//
// Hits per request: 1 per HTTP/2 request served (on top of the server
// probe's 2), none for HTTP/1.
var Probe = &probes.Probe{
	Name:    Name,
	Uprobes: []probes.Uprobe{{Symbol: FuncNewWriterAndRequest, Entry: ProgHeaders}},
	Fields: []fields.ID{
		fields.H2MetaHeadersFrameFields,
		fields.HpackHeaderFieldName, fields.HpackHeaderFieldValue, fields.HpackHeaderFieldSensitive,
		fields.H2StreamID,
	},
	OptionalFields: [][]fields.ID{
		// The stream's connection: stitching to the client span of this
		// host that sent the stream (bpf/common/h2_stitch.h).
		{fields.H2ServerConnConn},
	},
}
