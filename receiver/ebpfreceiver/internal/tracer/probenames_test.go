package tracer

import (
	"unsafe"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// The HTTP probes the loader's tests attach, under the names the tests
// used before the probes had packages of their own.
type (
	ServerEvent = httpserver.Event
	ClientEvent = httpclient.Event
	SpanIDs     = probes.SpanIDs
)

const (
	KindHTTPServer = uint8(bpfprog.GoebpfEventKindEVENT_HTTP_SERVER)
	KindHTTPClient = uint8(bpfprog.GoebpfEventKindEVENT_HTTP_CLIENT)

	HitServerEntry  = httpserver.ProgEntry
	HitServerReturn = httpserver.ProgReturn
	HitPanic        = httpserver.ProgGopanic
	HitRecovery     = httpserver.ProgRecoveryResume
)

var serverEventSize = int(unsafe.Sizeof(bpfprog.GoebpfHttpServerEvent{}))
