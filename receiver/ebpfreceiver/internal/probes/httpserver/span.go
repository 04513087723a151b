package httpserver

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// AppendServer adds the SERVER span for ev to ss; red redacts url.query
// (nil: the default sensitive keys).
func AppendServer(ss ptrace.ScopeSpans, ev *Event, clock httpspan.Clock, red *httpspan.Redactor) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	probes.SetIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindServer)
	s.SetStartTimestamp(clock.Time(ev.StartNs))
	s.SetEndTimestamp(clock.Time(ev.EndNs))
	attrs := s.Attributes()
	attrs.EnsureCapacity(serverAttrs)
	name := httpspan.SetMethod(attrs, ev.Method)
	if ev.Path != "" {
		attrs.PutStr(httpspan.AttrURLPath, ev.Path)
	}
	if route := httpspan.RouteFromPattern(ev.Pattern); route != "" {
		attrs.PutStr(httpspan.AttrRoute, route)
		name = spanName(name, route, ev.Pattern)
	}
	s.SetName(name)
	if ev.RawQuery != "" {
		attrs.PutStr(httpspan.AttrURLQuery, red.Query(ev.RawQuery))
	}
	status := int64(ev.Status)
	switch {
	case ev.Panicked:
		// net/http sends no response after a panic: it closes the
		// connection (HTTP/1) or resets the stream (HTTP/2).
		status = 0
	case ev.Status == StatusUnknown:
		status = 0
	case ev.Status == 0:
		// The handler wrote nothing; net/http answers 200 after ServeHTTP.
		status = 200
	}
	if status != 0 {
		attrs.PutInt(httpspan.AttrStatusCode, status)
	}
	scheme := serverScheme(ev)
	attrs.PutStr(httpspan.AttrURLScheme, scheme)
	if host, port, ok := httpspan.SplitHostPort(ev.Host); ok {
		attrs.PutStr(httpspan.AttrServerAddress, host)
		if port == 0 {
			port = httpspan.DefaultPort(scheme)
		}
		if port != 0 {
			attrs.PutInt(httpspan.AttrServerPort, int64(port))
		}
	}
	if v := httpspan.ProtocolVersion(ev.ProtoMajor, ev.ProtoMinor); v != "" {
		attrs.PutStr(httpspan.AttrProtoVersion, v)
	}
	if host, port, ok := httpspan.SplitHostPort(ev.RemoteAddr); ok {
		attrs.PutStr(httpspan.AttrClientAddress, host)
		if port != 0 {
			attrs.PutInt(httpspan.AttrClientPort, int64(port))
		}
	}
	switch {
	case ev.Panicked:
		s.Status().SetCode(ptrace.StatusCodeError)
		attrs.PutStr(httpspan.AttrErrorType, PanicErrorType(ev.PanicType, ev.PanicMessage))
		if ev.PanicMessage != "" {
			s.Status().SetMessage("panic: " + ev.PanicMessage)
		} else {
			s.Status().SetMessage("panic")
		}
	case status >= 500:
		// Only 5xx makes a server span an error (4xx is the client's fault).
		s.Status().SetCode(ptrace.StatusCodeError)
		attrs.PutStr(httpspan.AttrErrorType, strconv.FormatInt(status, 10))
	}
	return s
}

// serverAttrs is how many attributes a server span usually has (method,
// path, route, query, status, scheme, server address and port, protocol
// version, client address and port): the map is sized once.
const serverAttrs = 11

// spanName is "{method} {route}"; a ServeMux pattern written that way
// ("GET /items/{id}") is the name already, without a new string.
func spanName(method, route, pattern string) string {
	if len(pattern) == len(method)+1+len(route) && strings.HasPrefix(pattern, method) &&
		pattern[len(method)] == ' ' && strings.HasSuffix(pattern, route) {
		return pattern
	}
	return method + " " + route
}

// abortHandlerText is net/http.ErrAbortHandler's message.
const abortHandlerText = "net/http: abort Handler"

// PanicErrorType is error.type for a handler's panic: "http.ErrAbortHandler"
// for net/http's sentinel (the way handlers abort a response on purpose),
// else the panic value's Go type ("string", "*errors.errorString",
// "runtime.boundsError"), else "_OTHER" when the type could not be named.
func PanicErrorType(typeName, message string) string {
	switch {
	case typeName == "*errors.errorString" && message == abortHandlerText:
		return "http.ErrAbortHandler"
	case typeName != "":
		return typeName
	}
	return "_OTHER"
}

// serverScheme is url.scheme: from Request.TLS when its offset is known,
// else "https" for HTTP/2 (net/http serves it over TLS only unless the
// program opts into h2c) and "http" otherwise.
func serverScheme(ev *Event) string {
	switch {
	case ev.Scheme != "":
		return ev.Scheme
	case ev.ProtoMajor == 2:
		return "https"
	}
	return "http"
}
