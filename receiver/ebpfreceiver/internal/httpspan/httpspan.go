// Package httpspan turns HTTP probe events into OpenTelemetry spans that
// follow the HTTP semantic conventions. Pure functions: no kernel needed.
package httpspan

import (
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// Attribute keys (OpenTelemetry semantic conventions).
const (
	attrMethod         = "http.request.method"
	attrMethodOriginal = "http.request.method_original"
	attrRoute          = "http.route"
	attrStatusCode     = "http.response.status_code"
	attrURLPath        = "url.path"
	attrURLFull        = "url.full"
	attrURLScheme      = "url.scheme"
	attrURLQuery       = "url.query"
	attrServerAddress  = "server.address"
	attrServerPort     = "server.port"
	attrClientAddress  = "client.address"
	attrClientPort     = "client.port"
	attrProtoVersion   = "network.protocol.version"
	attrErrorType      = "error.type"
)

// Clock converts the probes' CLOCK_BOOTTIME nanoseconds to wall-clock time.
type Clock struct {
	// Offset is wall-clock minus boot time, in nanoseconds.
	Offset int64
}

// Time converts a boot-time timestamp.
func (c Clock) Time(bootNs uint64) pcommon.Timestamp {
	return pcommon.Timestamp(uint64(int64(bootNs) + c.Offset))
}

// NewClock measures the offset from a pair of readings taken together.
func NewClock(wall time.Time, bootNs int64) Clock {
	return Clock{Offset: wall.UnixNano() - bootNs}
}

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true,
}

// setMethod records the method as semconv asks: unknown methods become
// _OTHER with the original kept.
func setMethod(attrs pcommon.Map, m string) string {
	if knownMethods[m] {
		attrs.PutStr(attrMethod, m)
		return m
	}
	attrs.PutStr(attrMethod, "_OTHER")
	attrs.PutStr(attrMethodOriginal, m)
	return "HTTP"
}

// RouteFromPattern extracts the path template from a net/http ServeMux
// pattern "[METHOD ][HOST]/[PATH]".
func RouteFromPattern(p string) string {
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = strings.TrimLeft(p[i+1:], " \t")
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[i:]
	}
	return ""
}

func setIDs(s ptrace.Span, ids tracer.SpanIDs) {
	s.SetTraceID(pcommon.TraceID(ids.TraceID))
	s.SetSpanID(pcommon.SpanID(ids.SpanID))
	if ids.HasParent {
		s.SetParentSpanID(pcommon.SpanID(ids.ParentSpanID))
	}
}

// AppendServer adds the SERVER span for ev to ss; red redacts url.query
// (nil: the default sensitive keys).
func AppendServer(ss ptrace.ScopeSpans, ev *tracer.ServerEvent, clock Clock, red *Redactor) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	setIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindServer)
	s.SetStartTimestamp(clock.Time(ev.StartNs))
	s.SetEndTimestamp(clock.Time(ev.EndNs))
	attrs := s.Attributes()
	name := setMethod(attrs, ev.Method)
	if ev.Path != "" {
		attrs.PutStr(attrURLPath, ev.Path)
	}
	if route := RouteFromPattern(ev.Pattern); route != "" {
		attrs.PutStr(attrRoute, route)
		name += " " + route
	}
	s.SetName(name)
	if ev.RawQuery != "" {
		attrs.PutStr(attrURLQuery, red.Query(ev.RawQuery))
	}
	status := int64(ev.Status)
	switch {
	case ev.Panicked:
		// net/http sends no response after a panic: it closes the
		// connection (HTTP/1) or resets the stream (HTTP/2).
		status = 0
	case ev.Status == tracer.StatusUnknown:
		status = 0
	case ev.Status == 0:
		// The handler wrote nothing; net/http answers 200 after ServeHTTP.
		status = 200
	}
	if status != 0 {
		attrs.PutInt(attrStatusCode, status)
	}
	scheme := serverScheme(ev)
	attrs.PutStr(attrURLScheme, scheme)
	if host, port, ok := splitHostPort(ev.Host); ok {
		attrs.PutStr(attrServerAddress, host)
		if port == 0 {
			port = defaultPort(scheme)
		}
		if port != 0 {
			attrs.PutInt(attrServerPort, int64(port))
		}
	}
	if v := protocolVersion(ev.ProtoMajor, ev.ProtoMinor); v != "" {
		attrs.PutStr(attrProtoVersion, v)
	}
	if host, port, ok := splitHostPort(ev.RemoteAddr); ok {
		attrs.PutStr(attrClientAddress, host)
		if port != 0 {
			attrs.PutInt(attrClientPort, int64(port))
		}
	}
	switch {
	case ev.Panicked:
		s.Status().SetCode(ptrace.StatusCodeError)
		attrs.PutStr(attrErrorType, PanicErrorType(ev.PanicType, ev.PanicMessage))
		if ev.PanicMessage != "" {
			s.Status().SetMessage("panic: " + ev.PanicMessage)
		} else {
			s.Status().SetMessage("panic")
		}
	case status >= 500:
		// Only 5xx makes a server span an error (4xx is the client's fault).
		s.Status().SetCode(ptrace.StatusCodeError)
		attrs.PutStr(attrErrorType, strconv.FormatInt(status, 10))
	}
	return s
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
func serverScheme(ev *tracer.ServerEvent) string {
	switch {
	case ev.Scheme != "":
		return ev.Scheme
	case ev.ProtoMajor == 2:
		return "https"
	}
	return "http"
}

// AppendClient adds the CLIENT span for ev to ss; red redacts the query
// in url.full (nil: the default sensitive keys).
func AppendClient(ss ptrace.ScopeSpans, ev *tracer.ClientEvent, clock Clock, red *Redactor) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	setIDs(s, ev.IDs)
	s.SetKind(ptrace.SpanKindClient)
	s.SetStartTimestamp(clock.Time(ev.StartNs))
	s.SetEndTimestamp(clock.Time(ev.EndNs))
	attrs := s.Attributes()
	s.SetName(setMethod(attrs, ev.Method))
	if full := URLFull(ev.Scheme, ev.HasUserInfo, ev.Host, ev.Path, red.Query(ev.RawQuery)); full != "" {
		attrs.PutStr(attrURLFull, full)
	}
	if host, port, ok := splitHostPort(ev.Host); ok {
		attrs.PutStr(attrServerAddress, host)
		if port == 0 {
			port = defaultPort(ev.Scheme)
		}
		if port != 0 {
			attrs.PutInt(attrServerPort, int64(port))
		}
	}
	if ev.HasResponse && ev.Status != 0 {
		attrs.PutInt(attrStatusCode, int64(ev.Status))
	}
	switch {
	case ev.HasError || !ev.HasResponse:
		s.Status().SetCode(ptrace.StatusCodeError)
		// The probe does not read the error's type.
		attrs.PutStr(attrErrorType, "_OTHER")
	case ev.Status >= 400:
		s.Status().SetCode(ptrace.StatusCodeError)
		attrs.PutStr(attrErrorType, strconv.Itoa(int(ev.Status)))
	}
	return s
}

// URLFull rebuilds the request URL. Credentials are never read (url.URL
// keeps them in User); when the URL has some, REDACTED:REDACTED stands in
// their place as the semantic conventions ask. query must be redacted already.
func URLFull(scheme string, hasUserInfo bool, host, path, query string) string {
	if host == "" {
		return ""
	}
	if scheme == "" {
		scheme = "http"
	}
	u := scheme + "://"
	if hasUserInfo {
		u += Redacted + ":" + Redacted + "@"
	}
	u += host + path
	if query != "" {
		u += "?" + query
	}
	return u
}

func defaultPort(scheme string) uint16 {
	switch scheme {
	case "http", "":
		return 80
	case "https":
		return 443
	}
	return 0
}

// splitHostPort splits "host:port", "[v6]:port" or a bare host; port 0
// means none was given.
func splitHostPort(s string) (string, uint16, bool) {
	if s == "" {
		return "", 0, false
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return strings.Trim(s, "[]"), 0, true
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return host, 0, true
	}
	return host, uint16(port), true
}

func protocolVersion(major, minor uint8) string {
	switch {
	case major == 1:
		return "1." + strconv.Itoa(int(minor))
	case major >= 2:
		return strconv.Itoa(int(major))
	}
	return ""
}

// Resource describes the instrumented process.
type Resource struct {
	ServiceName    string
	PID            int
	ExePath        string
	RuntimeVersion string
	HostName       string
	// ContainerID and PodUID come from the process's cgroup path (empty
	// outside containers / Kubernetes): the keys the k8sattributes
	// processor associates pods by.
	ContainerID string
	PodUID      string
}

// Fill writes r as resource attributes.
func (r Resource) Fill(res pcommon.Resource) {
	a := res.Attributes()
	a.PutStr("service.name", r.ServiceName)
	a.PutInt("process.pid", int64(r.PID))
	a.PutStr("process.executable.path", r.ExePath)
	if r.RuntimeVersion != "" {
		a.PutStr("process.runtime.name", "go")
		a.PutStr("process.runtime.version", r.RuntimeVersion)
	}
	if r.HostName != "" {
		a.PutStr("host.name", r.HostName)
	}
	if r.ContainerID != "" {
		a.PutStr("container.id", r.ContainerID)
	}
	if r.PodUID != "" {
		a.PutStr("k8s.pod.uid", r.PodUID)
	}
	a.PutStr("telemetry.distro.name", "otelcol-goebpf")
}
