package httpspan

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

var ids = tracer.SpanIDs{
	TraceID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	SpanID:  [8]byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2},
}

func attrsOf(s ptrace.Span) map[string]any { return s.Attributes().AsRaw() }

func TestAppendServer(t *testing.T) {
	withParent := ids
	withParent.HasParent = true
	withParent.ParentSpanID = [8]byte{9, 9, 9, 9, 9, 9, 9, 9}
	tests := []struct {
		name       string
		ev         tracer.ServerEvent
		wantName   string
		wantAttrs  map[string]any
		wantStatus ptrace.StatusCode
		wantParent bool
		// wantMessage is the span status message.
		wantMessage string
	}{
		{
			name: "route and status",
			ev: tracer.ServerEvent{IDs: ids, Method: "GET", Path: "/items/42", Pattern: "GET /items/{id}",
				Host: "shop.local:8080", RemoteAddr: "10.0.0.7:51234", ProtoMajor: 1, ProtoMinor: 1, Status: 201, Scheme: "http"},
			wantName: "GET /items/{id}",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/items/42", "http.route": "/items/{id}", "url.scheme": "http",
				"http.response.status_code": int64(201), "server.address": "shop.local", "server.port": int64(8080),
				"network.protocol.version": "1.1", "client.address": "10.0.0.7", "client.port": int64(51234),
			},
		},
		{
			name:     "no pattern, implicit 200, host without port, ipv6 peer",
			ev:       tracer.ServerEvent{IDs: ids, Method: "POST", Path: "/x", Host: "example.com", RemoteAddr: "[::1]:4000", ProtoMajor: 1, ProtoMinor: 0},
			wantName: "POST",
			wantAttrs: map[string]any{
				"http.request.method": "POST", "url.path": "/x", "http.response.status_code": int64(200), "url.scheme": "http",
				"server.address": "example.com", "server.port": int64(80), "network.protocol.version": "1.0", "client.address": "::1", "client.port": int64(4000),
			},
		},
		{
			name:     "TLS: scheme https and its default port",
			ev:       tracer.ServerEvent{IDs: ids, Method: "GET", Path: "/s", Host: "secure.example", Scheme: "https", ProtoMajor: 1, ProtoMinor: 1, Status: 200},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/s", "url.scheme": "https", "http.response.status_code": int64(200),
				"server.address": "secure.example", "server.port": int64(443), "network.protocol.version": "1.1",
			},
		},
		{
			name:     "5xx is an error and keeps the parent",
			ev:       tracer.ServerEvent{IDs: withParent, Method: "GET", Path: "/fail", Pattern: "/fail", ProtoMajor: 1, ProtoMinor: 1, Status: 503},
			wantName: "GET /fail",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/fail", "http.route": "/fail", "url.scheme": "http",
				"http.response.status_code": int64(503), "network.protocol.version": "1.1", "error.type": "503",
			},
			wantStatus: ptrace.StatusCodeError,
			wantParent: true,
		},
		{
			name:     "4xx is not an error on the server",
			ev:       tracer.ServerEvent{IDs: ids, Method: "GET", Path: "/missing", ProtoMajor: 1, ProtoMinor: 1, Status: 404},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/missing", "http.response.status_code": int64(404), "network.protocol.version": "1.1",
				"url.scheme": "http",
			},
		},
		{
			name: "query: sensitive values redacted, the rest kept",
			ev: tracer.ServerEvent{IDs: ids, Method: "GET", Path: "/dl", RawQuery: "file=a.txt&X-Goog-Signature=abc123&sig=zz&token=t1",
				ProtoMajor: 1, ProtoMinor: 1, Status: 200, Scheme: "http"},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/dl", "url.scheme": "http", "http.response.status_code": int64(200),
				"network.protocol.version": "1.1", "url.query": "file=a.txt&X-Goog-Signature=REDACTED&sig=REDACTED&token=t1",
			},
		},
		{
			name: "panic(\"boom\"): error named by the value's type, no status code",
			ev: tracer.ServerEvent{IDs: ids, Method: "GET", Path: "/panic", ProtoMajor: 1, ProtoMinor: 1, Status: 0, Scheme: "http",
				Panicked: true, PanicType: "string", PanicMessage: "boom"},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/panic", "url.scheme": "http", "network.protocol.version": "1.1",
				"error.type": "string",
			},
			wantStatus:  ptrace.StatusCodeError,
			wantMessage: "panic: boom",
		},
		{
			name: "panic(http.ErrAbortHandler) after WriteHeader(200)",
			ev: tracer.ServerEvent{IDs: ids, Method: "GET", Path: "/abort", ProtoMajor: 1, ProtoMinor: 1, Status: 200, Scheme: "http",
				Panicked: true, PanicType: "*errors.errorString", PanicMessage: "net/http: abort Handler"},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/abort", "url.scheme": "http", "network.protocol.version": "1.1",
				"error.type": "http.ErrAbortHandler",
			},
			wantStatus:  ptrace.StatusCodeError,
			wantMessage: "panic: net/http: abort Handler",
		},
		{
			name:     "panic with a value whose type could not be named",
			ev:       tracer.ServerEvent{IDs: ids, Method: "GET", Path: "/p", ProtoMajor: 2, Status: tracer.StatusUnknown, Panicked: true},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/p", "url.scheme": "https", "network.protocol.version": "2",
				"error.type": "_OTHER",
			},
			wantStatus:  ptrace.StatusCodeError,
			wantMessage: "panic",
		},
		{
			name:     "unknown method, status unknown",
			ev:       tracer.ServerEvent{IDs: ids, Method: "PURGE", Path: "/", ProtoMajor: 2, Status: tracer.StatusUnknown},
			wantName: "HTTP",
			wantAttrs: map[string]any{
				"http.request.method": "_OTHER", "http.request.method_original": "PURGE", "url.path": "/", "network.protocol.version": "2",
				"url.scheme": "https",
			},
		},
	}
	clock := Clock{Offset: 1_000_000_000}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.StartNs, tt.ev.EndNs = 500, 1500
			ss := ptrace.NewScopeSpans()
			s := AppendServer(ss, &tt.ev, clock, nil)
			if s.Name() != tt.wantName {
				t.Errorf("name %q, want %q", s.Name(), tt.wantName)
			}
			if s.Kind() != ptrace.SpanKindServer {
				t.Errorf("kind %v", s.Kind())
			}
			assertAttrs(t, attrsOf(s), tt.wantAttrs)
			if s.Status().Code() != tt.wantStatus || s.Status().Message() != tt.wantMessage {
				t.Errorf("status %v %q, want %v %q", s.Status().Code(), s.Status().Message(), tt.wantStatus, tt.wantMessage)
			}
			if s.TraceID() != pcommon.TraceID(ids.TraceID) || s.SpanID() != pcommon.SpanID(ids.SpanID) {
				t.Errorf("ids %v %v", s.TraceID(), s.SpanID())
			}
			if got := !s.ParentSpanID().IsEmpty(); got != tt.wantParent {
				t.Errorf("has parent %t, want %t", got, tt.wantParent)
			}
			if s.StartTimestamp() != 1_000_000_500 || s.EndTimestamp() != 1_000_001_500 {
				t.Errorf("timestamps %d %d", s.StartTimestamp(), s.EndTimestamp())
			}
		})
	}
}

func TestAppendClient(t *testing.T) {
	tests := []struct {
		name       string
		ev         tracer.ClientEvent
		wantAttrs  map[string]any
		wantStatus ptrace.StatusCode
	}{
		{
			name: "ok with query and explicit port",
			ev: tracer.ClientEvent{IDs: ids, Method: "GET", Scheme: "http", Host: "127.0.0.1:9090", Path: "/stock",
				RawQuery: "sku=1", HasResponse: true, Status: 200},
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.full": "http://127.0.0.1:9090/stock?sku=1",
				"server.address": "127.0.0.1", "server.port": int64(9090), "http.response.status_code": int64(200),
			},
		},
		{
			name: "credentials and signed query redacted in url.full",
			ev: tracer.ClientEvent{IDs: ids, Method: "GET", Scheme: "https", Host: "bucket.s3.example", Path: "/obj",
				RawQuery: "AWSAccessKeyId=AKIA1&Expires=9&Signature=s%2Fg&api_key=k", HasUserInfo: true, HasResponse: true, Status: 200},
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.full": "https://REDACTED:REDACTED@bucket.s3.example/obj?AWSAccessKeyId=REDACTED&Expires=9&Signature=REDACTED&api_key=REDACTED",
				"server.address": "bucket.s3.example", "server.port": int64(443), "http.response.status_code": int64(200),
			},
		},
		{
			name: "4xx is an error on the client, default https port",
			ev:   tracer.ClientEvent{IDs: ids, Method: "DELETE", Scheme: "https", Host: "api.example", Path: "/a", HasResponse: true, Status: 404},
			wantAttrs: map[string]any{
				"http.request.method": "DELETE", "url.full": "https://api.example/a", "server.address": "api.example",
				"server.port": int64(443), "http.response.status_code": int64(404), "error.type": "404",
			},
			wantStatus: ptrace.StatusCodeError,
		},
		{
			name: "transport error",
			ev:   tracer.ClientEvent{IDs: ids, Method: "POST", Scheme: "http", Host: "down:1", Path: "/", HasError: true},
			wantAttrs: map[string]any{
				"http.request.method": "POST", "url.full": "http://down:1/", "server.address": "down",
				"server.port": int64(1), "error.type": "_OTHER",
			},
			wantStatus: ptrace.StatusCodeError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := ptrace.NewScopeSpans()
			s := AppendClient(ss, &tt.ev, Clock{}, NewRedactor([]string{"api_key"}))
			if s.Kind() != ptrace.SpanKindClient || s.Name() != tt.ev.Method {
				t.Errorf("kind %v name %q", s.Kind(), s.Name())
			}
			assertAttrs(t, attrsOf(s), tt.wantAttrs)
			if s.Status().Code() != tt.wantStatus {
				t.Errorf("status %v, want %v", s.Status().Code(), tt.wantStatus)
			}
		})
	}
}

func TestRouteFromPattern(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"/":                         "/",
		"GET /items/{id}":           "/items/{id}",
		"example.com/a/":            "/a/",
		"POST example.com/b/{x...}": "/b/{x...}",
	} {
		if got := RouteFromPattern(in); got != want {
			t.Errorf("RouteFromPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClockAndResource(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	c := NewClock(wall, 5_000_000_000)
	if got := c.Time(6_000_000_000).AsTime(); !got.Equal(wall.Add(time.Second)) {
		t.Errorf("clock: %v, want %v", got, wall.Add(time.Second))
	}
	res := pcommon.NewResource()
	Resource{ServiceName: "orders", PID: 42, ExePath: "/srv/orders", RuntimeVersion: "go1.26.8", HostName: "h1"}.Fill(res)
	assertAttrs(t, res.Attributes().AsRaw(), map[string]any{
		"service.name": "orders", "process.pid": int64(42), "process.executable.path": "/srv/orders",
		"process.runtime.name": "go", "process.runtime.version": "go1.26.8", "host.name": "h1",
		"telemetry.distro.name": "otelcol-goebpf",
	})
	if _, ok := res.Attributes().Get("container.id"); ok {
		t.Error("container.id set for a process outside containers")
	}
	res = pcommon.NewResource()
	Resource{ServiceName: "orders", PID: 42, ContainerID: "c0ffee", PodUID: "7d2f1c3e-5a4b-4c6d-9e8f-0a1b2c3d4e5f"}.Fill(res)
	assertAttrs(t, res.Attributes().AsRaw(), map[string]any{
		"service.name": "orders", "process.pid": int64(42), "process.executable.path": "",
		"container.id": "c0ffee", "k8s.pod.uid": "7d2f1c3e-5a4b-4c6d-9e8f-0a1b2c3d4e5f",
		"telemetry.distro.name": "otelcol-goebpf",
	})
}

func assertAttrs(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attr %s = %v (%T), want %v (%T)", k, got[k], got[k], v, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected attr %s = %v", k, got[k])
		}
	}
}

func TestRedactorQuery(t *testing.T) {
	r := NewRedactor([]string{"session", "X-Api-Key"})
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"sig=abc", "sig=REDACTED"},
		{"SIG=abc&Sig=def", "SIG=REDACTED&Sig=REDACTED"}, // keys match case-insensitively
		{"AWSAccessKeyId=AKIA&Signature=xyz&Expires=1", "AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1"},
		{"X-Goog-Signature=00ff&X-Goog-Date=2024", "X-Goog-Signature=REDACTED&X-Goog-Date=2024"},
		{"X%2DGoog%2DSignature=00ff", "X%2DGoog%2DSignature=REDACTED"}, // percent-encoded key
		{"session=s1&x-api-key=k&sessions=keep", "session=REDACTED&x-api-key=REDACTED&sessions=keep"},
		{"sig", "sig"},           // no value
		{"sig=", "sig=REDACTED"}, // empty value: still marked
		{"a=1&&sig=x&", "a=1&&sig=REDACTED&"},
		{"q=a%ZZ&sig=1", "q=a%ZZ&sig=REDACTED"}, // malformed escapes elsewhere are kept
		{"X-Goog-Signatu", "X-Goog-Signatu"},    // cut by truncation before its '=': nothing to leak
	} {
		if got := r.Query(tc.in); got != tc.want {
			t.Errorf("Query(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var none *Redactor // the default keys only
	if got := none.Query("session=1&sig=2"); got != "session=1&sig=REDACTED" {
		t.Errorf("nil Redactor: %q", got)
	}
}

func TestURLFull(t *testing.T) {
	for _, tc := range []struct {
		scheme      string
		user        bool
		host, path  string
		query, want string
	}{
		{"", false, "h:1", "/p", "", "http://h:1/p"},
		{"https", true, "h", "/", "a=1", "https://REDACTED:REDACTED@h/?a=1"},
		{"http", false, "", "/p", "", ""},
	} {
		if got := URLFull(tc.scheme, tc.user, tc.host, tc.path, tc.query); got != tc.want {
			t.Errorf("URLFull(%q, %t, %q, %q, %q) = %q, want %q", tc.scheme, tc.user, tc.host, tc.path, tc.query, got, tc.want)
		}
	}
}
