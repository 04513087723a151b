package httpclient

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Event is one request made by net/http's Transport.
type Event struct {
	PID         uint32
	StartNs     uint64
	EndNs       uint64
	IDs         probes.SpanIDs
	Method      string
	Scheme      string
	Host        string
	Path        string
	RawQuery    string
	HasResponse bool
	HasError    bool
	Status      uint16
	// HasUserInfo: the URL carries credentials (user[:password]@), which
	// are never read.
	HasUserInfo bool
	// Stitch: whether a server span of this host joined this span.
	Stitch probes.Stitch
}

// Decode turns one ring buffer record of kind EVENT_HTTP_CLIENT into an
// *Event. Malformed records return an error, never a panic.
func Decode(raw []byte) (probes.Event, error) {
	var e bpfprog.GoebpfHttpClientEvent
	if err := probes.DecodeRecord(raw, &e, "client event"); err != nil {
		return nil, err
	}
	h := probes.HeaderOf(e.Hdr)
	ev := &Event{
		PID:         h.PID,
		StartNs:     h.StartNs,
		EndNs:       h.EndNs,
		IDs:         h.IDs,
		Method:      probes.CStringOf(e.Method[:], e.MethodLen, probes.HTTPMethods),
		Scheme:      probes.CStringOf(e.Scheme[:], e.SchemeLen, probes.URLSchemes),
		HasResponse: e.HasResponse != 0,
		HasError:    e.HasError != 0,
		Status:      e.Status,
		HasUserInfo: e.HasUser != 0,
		Stitch:      probes.Stitch(e.Stitch),
	}
	// One allocation for the record's strings rather than one each.
	probes.CStrings([]*string{&ev.Host, &ev.Path, &ev.RawQuery}, []probes.CField{
		{B: e.Host[:], N: e.HostLen}, {B: e.Path[:], N: e.PathLen}, {B: e.Query[:], N: e.QueryLen},
	})
	return ev, nil
}

// StitchResult is what stitching found for the client span.
func (e *Event) StitchResult() (probes.Side, probes.Stitch) { return probes.SideClient, e.Stitch }

// Process is the pid of the calling process.
func (e *Event) Process() uint32 { return e.PID }

// AppendSpan adds the span.
func (e *Event) AppendSpan(ss ptrace.ScopeSpans, env probes.SpanEnv) {
	AppendClient(ss, e, env.Clock, env.Redactor)
}
