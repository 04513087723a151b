package httpserver

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// StatusUnknown is Event.Status when the probe could not read it: bpf2go's
// constant of http_server.c's STATUS_UNKNOWN.
const StatusUnknown = uint16(bpfprog.GoebpfHttpStatusSTATUS_UNKNOWN)

// Event is one request served by net/http.
type Event struct {
	PID        uint32
	StartNs    uint64 // CLOCK_BOOTTIME
	EndNs      uint64
	IDs        probes.SpanIDs
	Method     string
	Path       string
	Pattern    string
	Host       string
	RemoteAddr string
	ProtoMajor uint8
	ProtoMinor uint8
	// Scheme is "https" when the request came over TLS, "http" when not,
	// "" when the binary's Request.TLS offset is unknown.
	Scheme string
	// Status is 0 when the handler wrote no header (net/http then sends
	// 200), StatusUnknown when it could not be read.
	Status uint16
	// RawQuery is the request's query string, unredacted, truncated to 64
	// bytes; empty when query capture is off.
	RawQuery string
	// Panicked: the handler panicked and net/http recovered (the
	// connection or stream was closed without a normal end).
	Panicked bool
	// PanicTypeAddr is the unrelocated address of the panic value's type
	// descriptor (goexe.Executable.TypeName names it); 0 when unknown.
	PanicTypeAddr uint64
	// PanicMessage is the panic value's text when it is a string or a
	// pointer to a struct starting with one (errors.New), truncated to 64 bytes.
	PanicMessage string
	// PanicType is PanicTypeAddr's name, filled by AppendSpan.
	PanicType string
	// Stitch: whether IDs took a client span of this host as parent.
	Stitch probes.Stitch
	// Handoff: not a request, the HTTP/2 connection preface ("PRI *")
	// read as one and handed to a handler that serves the connection as
	// h2c (golang.org/x/net/http2/h2c). It gives no span.
	Handoff bool
}

// Decode turns one ring buffer record of kind EVENT_HTTP_SERVER into an
// *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfHttpServerEvent
	if err := probes.DecodeRecord(raw, &e, "server event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	ev := &Event{
		PID:           h.PID,
		StartNs:       h.StartNs,
		EndNs:         h.EndNs,
		IDs:           h.IDs,
		Method:        probes.CStringOf(e.Method[:], e.MethodLen, probes.HTTPMethods),
		ProtoMajor:    e.ProtoMajor,
		ProtoMinor:    e.ProtoMinor,
		Scheme:        [...]string{0: "", 1: "http", 2: "https", 3: ""}[e.Tls&3],
		Status:        e.Status,
		Panicked:      e.Panicked != 0,
		PanicTypeAddr: e.PanicType,
		Stitch:        probes.Stitch(e.Stitch),
		Handoff:       e.H2cHandoff != 0,
	}
	// One allocation for the record's strings rather than one each.
	probes.CStrings(
		[]*string{&ev.Path, &ev.Pattern, &ev.Host, &ev.RemoteAddr, &ev.RawQuery, &ev.PanicMessage},
		[]probes.CField{
			{B: e.Path[:], N: e.PathLen}, {B: e.Pattern[:], N: e.PatternLen}, {B: e.Host[:], N: e.HostLen},
			{B: e.Remote[:], N: e.RemoteLen}, {B: e.Query[:], N: e.QueryLen}, {B: e.PanicMsg[:], N: e.PanicMsgLen},
		})
	return ev, nil
}

// StitchResult is what stitching found for the server span.
func (e *Event) StitchResult() (probes.Side, probes.Stitch) { return probes.SideServer, e.Stitch }

// Process is the pid of the serving process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan names a panic value's type through env, then adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	if e.Handoff {
		return
	}
	if e.Panicked && env.TypeName != nil {
		e.PanicType = env.TypeName(e.PID, e.PanicTypeAddr)
	}
	AppendServer(ss, e, env.Clock, env.Redactor)
}

// H2CHandoff says the event is an h2c connection handoff, not a request.
func (e *Event) H2CHandoff() bool { return e.Handoff }
