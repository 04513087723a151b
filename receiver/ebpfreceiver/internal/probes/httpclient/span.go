package httpclient

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// AppendClient adds the CLIENT span for ev to ss; red redacts the query
// in url.full (nil: the default sensitive keys).
func AppendClient(ss ptrace.ScopeSpans, ev *Event, clock httpspan.Clock, red *httpspan.Redactor) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	probes.SetIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindClient)
	s.SetStartTimestamp(clock.Time(ev.StartNs))
	s.SetEndTimestamp(clock.Time(ev.EndNs))
	attrs := s.Attributes()
	// method, url.full, server address and port, status: sized once.
	attrs.EnsureCapacity(5)
	s.SetName(httpspan.SetMethod(attrs, ev.Method))
	if full := httpspan.URLFull(ev.Scheme, ev.HasUserInfo, ev.Host, ev.Path, red.Query(ev.RawQuery)); full != "" {
		attrs.PutStr(httpspan.AttrURLFull, full)
	}
	if host, port, ok := httpspan.SplitHostPort(ev.Host); ok {
		attrs.PutStr(httpspan.AttrServerAddress, host)
		if port == 0 {
			port = httpspan.DefaultPort(ev.Scheme)
		}
		if port != 0 {
			attrs.PutInt(httpspan.AttrServerPort, int64(port))
		}
	}
	if ev.HasResponse && ev.Status != 0 {
		attrs.PutInt(httpspan.AttrStatusCode, int64(ev.Status))
	}
	switch {
	case ev.HasError || !ev.HasResponse:
		s.Status().SetCode(ptrace.StatusCodeError)
		// The probe does not read the error's type.
		attrs.PutStr(httpspan.AttrErrorType, "_OTHER")
	case ev.Status >= 400:
		s.Status().SetCode(ptrace.StatusCodeError)
		attrs.PutStr(httpspan.AttrErrorType, strconv.Itoa(int(ev.Status)))
	}
	return s
}
