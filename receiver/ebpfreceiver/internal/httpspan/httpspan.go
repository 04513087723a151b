// Package httpspan holds what the probes' event→span functions share: the
// clock conversion, the process resource, query redaction and the HTTP
// semantic conventions (attribute names, method, host and port rules).
// Pure functions: no kernel needed.
package httpspan

import (
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Attribute keys (OpenTelemetry semantic conventions).
const (
	AttrMethod         = "http.request.method"
	AttrMethodOriginal = "http.request.method_original"
	AttrRoute          = "http.route"
	AttrStatusCode     = "http.response.status_code"
	AttrURLPath        = "url.path"
	AttrURLFull        = "url.full"
	AttrURLScheme      = "url.scheme"
	AttrURLQuery       = "url.query"
	AttrServerAddress  = "server.address"
	AttrServerPort     = "server.port"
	AttrClientAddress  = "client.address"
	AttrClientPort     = "client.port"
	AttrProtoVersion   = "network.protocol.version"
	AttrErrorType      = "error.type"
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

// SetMethod records the method as semconv asks: unknown methods become
// _OTHER with the original kept.
func SetMethod(attrs pcommon.Map, m string) string {
	if knownMethods[m] {
		attrs.PutStr(AttrMethod, m)
		return m
	}
	attrs.PutStr(AttrMethod, "_OTHER")
	attrs.PutStr(AttrMethodOriginal, m)
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
	// One concatenation per case: one allocation.
	userInfo, sep := "", ""
	if hasUserInfo {
		userInfo = Redacted + ":" + Redacted + "@"
	}
	if query != "" {
		sep = "?"
	}
	return scheme + "://" + userInfo + host + path + sep + query
}

func DefaultPort(scheme string) uint16 {
	switch scheme {
	case "http", "":
		return 80
	case "https":
		return 443
	}
	return 0
}

// SplitHostPort splits "host:port", "[v6]:port" or a bare host; port 0
// means none was given.
func SplitHostPort(s string) (string, uint16, bool) {
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

func ProtocolVersion(major, minor uint8) string {
	switch {
	case major == 1 && minor == 1:
		return "1.1"
	case major == 1 && minor == 0:
		return "1.0"
	case major == 2:
		return "2"
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
