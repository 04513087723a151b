package grpcserver

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/rpcspan"
)

// AppendServer adds the SERVER span for ev to ss.
func AppendServer(ss ptrace.ScopeSpans, ev *Event, env probes.SpanEnv) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	probes.SetIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindServer)
	s.SetStartTimestamp(env.Clock.Time(ev.StartNs))
	s.SetEndTimestamp(env.Clock.Time(ev.EndNs))
	rpcspan.Start(s, ev.Method)
	attrs := s.Attributes()
	if ev.Local.IsValid() {
		attrs.PutStr(httpspan.AttrServerAddress, ev.Local.Addr().String())
		attrs.PutInt(httpspan.AttrServerPort, int64(ev.Local.Port()))
	}
	if ev.Peer.IsValid() {
		attrs.PutStr(httpspan.AttrClientAddress, ev.Peer.Addr().String())
		attrs.PutInt(httpspan.AttrClientPort, int64(ev.Peer.Port()))
	}
	rpcspan.SetStatus(s, ev.Code, rpcspan.ServerError)
	return s
}
