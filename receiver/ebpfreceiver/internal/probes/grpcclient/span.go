package grpcclient

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/rpcspan"
)

// AppendClient adds the CLIENT span for ev to ss.
func AppendClient(ss ptrace.ScopeSpans, ev *Event, env probes.SpanEnv) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	probes.SetIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindClient)
	s.SetStartTimestamp(env.Clock.Time(ev.StartNs))
	s.SetEndTimestamp(env.Clock.Time(ev.EndNs))
	rpcspan.Start(s, ev.Method)
	if host, port, ok := rpcspan.TargetAddress(ev.Target); ok {
		s.Attributes().PutStr(httpspan.AttrServerAddress, host)
		if port != 0 {
			s.Attributes().PutInt(httpspan.AttrServerPort, int64(port))
		}
	}
	rpcspan.SetStatus(s, ev.Code, rpcspan.ClientError)
	return s
}
