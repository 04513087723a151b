// Package httpclient is the net/http client probe (bpf/probes/http_client.c):
// one CLIENT span per request a Transport makes, a child of the span the
// calling goroutine works for.
package httpclient

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Name is the probe's name in selections and errors.
const Name = "http_client"

// FuncRoundTrip is the probed function.
const FuncRoundTrip = "net/http.(*Transport).roundTrip"

// BPF programs.
const (
	ProgEntry   = "uprobe_client_entry"
	ProgReturn  = "uprobe_client_return"
	requestsMap = "client_requests"
)

// Probe describes the probe to the loader.
//
// Hits per request: 2 ((*Transport).roundTrip entry and one RET).
var Probe = &probes.Probe{
	Name:    Name,
	Uprobes: []probes.Uprobe{{Symbol: FuncRoundTrip, Entry: ProgEntry, Return: ProgReturn}},
	Fields: append(append([]fields.ID{}, httpserver.RequestFields...),
		fields.URLScheme, fields.URLHost, fields.ClientResponseStatusCode),
	OptionalFields: [][]fields.ID{
		{fields.URLRawQuery},
		httpserver.GoroutineFields,
		// Go >= 1.21: a call in a goroutine the handler started finds its
		// parent without probing runtime.newproc1.
		append(append([]fields.ID{}, httpserver.GoroutineFields...), fields.RuntimeGParentGoid),
		{fields.URLUser},
	},
	Complete:      userBeforeHost,
	JoinsSpans:    true,
	GoroutineMaps: []string{requestsMap},
	Kind:          bpfprog.GoebpfEventKindEVENT_HTTP_CLIENT,
	Decode:        Decode,
}

// userBeforeHost: url.URL starts Scheme, Opaque string, User *Userinfo,
// Host in every Go version. Without DWARF (the offsets table does not list
// User), User is the word before Host.
func userBeforeHost(_ *goexe.Executable, off *probes.Offsets) {
	t := &off.Fields
	if !t.Known(fields.URLUser) && t.Known(fields.URLHost) && t[fields.URLHost] >= 8 {
		t[fields.URLUser] = t[fields.URLHost] - 8
	}
}
