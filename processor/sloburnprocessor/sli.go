package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"strconv"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Attribute keys of the HTTP and RPC semantic conventions (current and legacy names).
const (
	attrHTTPResponseStatus = "http.response.status_code"
	attrHTTPStatusLegacy   = "http.status_code"
	attrHTTPRoute          = "http.route"
	attrGRPCStatus         = "rpc.grpc.status_code"
	attrRPCResponseStatus  = "rpc.response.status_code"
)

// gRPC status codes (google.golang.org/grpc/codes) that the RPC semantic conventions
// count as a server error; the others (NOT_FOUND, INVALID_ARGUMENT, ...) are the caller's fault.
var grpcServerErrors = [17]bool{2: true, 4: true, 12: true, 13: true, 14: true, 15: true}

var grpcCodeByName = map[string]int64{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
	"NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
	"FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
	"INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

// spanFacts are the status attributes the availability SLI needs.
type spanFacts struct {
	httpCode, grpcCode int64
	hasHTTP, hasGRPC   bool
}

// scanStatusAttrs reads the HTTP and gRPC status codes, preferring the current semantic
// convention keys over the legacy ones. Targeted lookups are cheaper here than one pass
// with the map iterator.
func scanStatusAttrs(attrs pcommon.Map) (f spanFacts) {
	if v, ok := attrs.Get(attrHTTPResponseStatus); ok {
		f.httpCode, f.hasHTTP = intValue(v)
	}
	if !f.hasHTTP {
		if v, ok := attrs.Get(attrHTTPStatusLegacy); ok {
			f.httpCode, f.hasHTTP = intValue(v)
		}
	}
	if f.hasHTTP {
		return f
	}
	if v, ok := attrs.Get(attrGRPCStatus); ok {
		f.grpcCode, f.hasGRPC = intValue(v)
	}
	if !f.hasGRPC {
		if v, ok := attrs.Get(attrRPCResponseStatus); ok {
			if v.Type() == pcommon.ValueTypeInt {
				f.grpcCode, f.hasGRPC = v.Int(), true
			} else if n, ok := grpcCodeByName[strings.ToUpper(v.Str())]; ok {
				f.grpcCode, f.hasGRPC = n, true
			}
		}
	}
	return f
}

// spanFailed applies the semantic conventions' error rules to one span:
//   - HTTP server: a 5xx is an error, a 4xx never is (the conventions forbid an Error
//     status for a server 4xx, so an Error status there is treated as instrumentation noise);
//   - HTTP client: a 4xx or 5xx is an error;
//   - gRPC server: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
//     DATA_LOSS are errors, the caller-fault codes are not; gRPC client: any non-OK code;
//   - otherwise, and in addition where no rule above clears the span: status Error.
func spanFailed(span ptrace.Span) bool {
	return failed(span.Kind(), span.Status().Code() == ptrace.StatusCodeError, scanStatusAttrs(span.Attributes()))
}

func failed(kind ptrace.SpanKind, statusErr bool, f spanFacts) bool {
	if f.hasHTTP {
		switch kind {
		case ptrace.SpanKindServer:
			if f.httpCode >= 400 && f.httpCode < 500 {
				return false
			}
			return f.httpCode >= 500 || statusErr
		case ptrace.SpanKindClient:
			return f.httpCode >= 400 || statusErr
		}
	}
	if f.hasGRPC {
		code := f.grpcCode
		switch kind {
		case ptrace.SpanKindServer:
			if code >= 0 && code < int64(len(grpcServerErrors)) {
				if grpcServerErrors[code] {
					return true
				}
				if code != 0 {
					return false // a caller-fault code
				}
			}
		case ptrace.SpanKindClient:
			return code != 0 || statusErr
		}
	}
	return statusErr
}

// intValue reads an integer attribute that some instrumentations send as a string.
func intValue(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(v.Str(), 10, 64)
		return n, err == nil
	case pcommon.ValueTypeDouble:
		return int64(v.Double()), true
	}
	return 0, false
}

// adjustedCounter turns a span's W3C tracestate into the number of spans it stands for:
// 1/p for a span sampled with probability p as recorded in `ot=th:`, 1 otherwise. Spans of
// one trace share their tracestate, so the last parse is remembered; and since the count
// depends only on th, a tracestate of the usual form `ot=th:<th>;rv:<14 hex digits>`
// whose th was the last one parsed is counted without parsing, though its rv differs
// from trace to trace.
type adjustedCounter struct {
	lastRaw   string
	lastCount float64
	// lastTh is the th of the last fully parsed tracestate of the usual form, "" if it
	// was of another form or invalid.
	lastTh string
}

func (a *adjustedCounter) count(raw string) float64 {
	if raw == "" {
		return 1
	}
	if raw == a.lastRaw {
		return a.lastCount
	}
	th, usual := usualOTelThreshold(raw)
	if usual && a.lastTh != "" && th == a.lastTh {
		a.lastRaw = raw
		return a.lastCount
	}
	a.lastTh = ""
	c := 1.0
	if strings.Contains(raw, "ot=") {
		if w3c, err := sampling.NewW3CTraceState(raw); err == nil {
			if n := w3c.OTelValue().AdjustedCount(); n > 0 {
				c = n
			}
			if usual {
				a.lastTh = th
			}
		}
	}
	a.lastRaw, a.lastCount = raw, c
	return c
}

// usualOTelThreshold recognises a tracestate that is exactly `ot=th:<th>;rv:<rv>` or
// `ot=rv:<rv>;th:<th>` with rv of 14 lowercase hex digits, and returns its th.
func usualOTelThreshold(raw string) (string, bool) {
	rest, ok := strings.CutPrefix(raw, "ot=")
	if !ok {
		return "", false
	}
	first, second, ok := strings.Cut(rest, ";")
	if !ok {
		return "", false
	}
	if strings.HasPrefix(first, "rv:") {
		first, second = second, first
	}
	th, okTh := strings.CutPrefix(first, "th:")
	rv, okRv := strings.CutPrefix(second, "rv:")
	if !okTh || !okRv || len(rv) != 14 || th == "" {
		return "", false
	}
	for i := 0; i < len(rv); i++ {
		if c := rv[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return th, true
}
