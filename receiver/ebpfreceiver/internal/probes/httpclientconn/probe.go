// Package httpclientconn is the client side of stitching
// (bpf/probes/http_client_conn.c): it records the span of each HTTP/1
// client request under the TCP 4-tuple of the connection it goes out on, so
// that the server probe of a process on the same host, reading a request
// from the other end of that connection, makes the client span its parent
// and joins its trace (bpf/common/stitch.h). It sends no events: the client
// and server probes report the outcome on their spans' events.
package httpclientconn

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Name is the probe's name in selections and errors.
const Name = "http_client_conn"

// FuncPersistConnRoundTrip is the probed function: net/http's HTTP/1 client
// path, on the caller's goroutine, once the connection is chosen and before
// the request is written.
const FuncPersistConnRoundTrip = "net/http.(*persistConn).roundTrip"

// ProgConn is the BPF program at its entry.
const ProgConn = "uprobe_client_conn"

// Probe describes the probe to the loader.
//
// Hits per request: 1 per HTTP/1 request sent (a retried request on a new
// connection: one per attempt); none for HTTP/2.
var Probe = &probes.Probe{
	Name:    Name,
	Uprobes: []probes.Uprobe{{Symbol: FuncPersistConnRoundTrip, Entry: ProgConn}},
	Fields:  []fields.ID{fields.PersistConnConn},
}
