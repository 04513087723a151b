// Package httpclienth2 is the client side of stitching over HTTP/2
// (bpf/probes/http_client_h2.c): it records the span of each request of
// net/http's bundled HTTP/2 client (Probe) or of golang.org/x/net/http2's
// own (XNetProbe) under the TCP 4-tuple of its connection
// and its stream's id, so that the HTTP/2 server of a process on the same
// host, reading that stream, makes the client span its parent and joins
// its trace (bpf/common/h2_stitch.h). The bundled client writes each
// request on a goroutine of its own: the probe finds the request's span
// through that goroutine's creator. It sends no events: the client and
// server probes report the outcome on their spans' events.
package httpclienth2

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Name is the probe's name in selections and errors.
const Name = "http_client_h2"

// FuncEncodeAndWriteHeaders is the probed function: called once per
// request (not for trailers) on the goroutine that writes the request,
// once the stream has its id and before its HEADERS frame is written.
const FuncEncodeAndWriteHeaders = "net/http.(*http2clientStream).encodeAndWriteHeaders"

// FuncXNetEncodeAndWriteHeaders is the same function in x/net's client.
const FuncXNetEncodeAndWriteHeaders = "golang.org/x/net/http2.(*clientStream).encodeAndWriteHeaders"

// XNetName is the x/net probe's name.
const XNetName = "http_client_h2_xnet"

// BPF programs at their entries.
const (
	ProgStream     = "uprobe_h2_client_stream"
	ProgXNetStream = "uprobe_xnet_h2_client_stream"
)

// Probe describes the probe to the loader.
//
// Hits per request: 1 per HTTP/2 request sent (on top of the client
// probe's 2); none for HTTP/1.
var Probe = &probes.Probe{
	Name:    Name,
	Uprobes: []probes.Uprobe{{Symbol: FuncEncodeAndWriteHeaders, Entry: ProgStream}},
	Fields:  []fields.ID{fields.H2ClientStreamCc, fields.H2ClientStreamID, fields.H2ClientConnTconn},
	OptionalFields: [][]fields.ID{
		// The request's span is found by goroutine id: the writing
		// goroutine's creator (Go >= 1.21), else the one the goroutines
		// probe noted when the writer was created (Go < 1.21).
		httpserver.GoroutineFields,
		append(append([]fields.ID{}, httpserver.GoroutineFields...), fields.RuntimeGParentGoid),
	},
	GoroutineMaps: []string{creatorsMap},
}

// creatorsMap holds, on Go < 1.21, the goroutines started by one with a
// client request in flight (bpf/common/client_requests.h).
const creatorsMap = "client_goroutine_creators"

// XNetProbe describes the x/net probe: x/net's layouts come from DWARF,
// else from the offsets table by x/net release; a stripped binary of a
// release the table does not list is not stitched. A binary without
// x/net's client resolves no site: nothing is attached.
//
// Hits per request: 1 per HTTP/2 request x/net's client sends.
var XNetProbe = &probes.Probe{
	Name:    XNetName,
	Uprobes: []probes.Uprobe{{Symbol: FuncXNetEncodeAndWriteHeaders, Entry: ProgXNetStream}},
	Fields:  []fields.ID{fields.XNetClientStreamCc, fields.XNetClientStreamID, fields.XNetClientConnTconn},
	OptionalFields: [][]fields.ID{
		httpserver.GoroutineFields,
		append(append([]fields.ID{}, httpserver.GoroutineFields...), fields.RuntimeGParentGoid),
	},
}
