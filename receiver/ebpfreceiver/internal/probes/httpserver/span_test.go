package httpserver

import (
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Moved with AppendServer and AppendClient from package httpspan.

var ids = probes.SpanIDs{
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
		ev         Event
		wantName   string
		wantAttrs  map[string]any
		wantStatus ptrace.StatusCode
		wantParent bool
		// wantMessage is the span status message.
		wantMessage string
	}{
		{
			name: "route and status",
			ev: Event{IDs: ids, Method: "GET", Path: "/items/42", Pattern: "GET /items/{id}",
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
			ev:       Event{IDs: ids, Method: "POST", Path: "/x", Host: "example.com", RemoteAddr: "[::1]:4000", ProtoMajor: 1, ProtoMinor: 0},
			wantName: "POST",
			wantAttrs: map[string]any{
				"http.request.method": "POST", "url.path": "/x", "http.response.status_code": int64(200), "url.scheme": "http",
				"server.address": "example.com", "server.port": int64(80), "network.protocol.version": "1.0", "client.address": "::1", "client.port": int64(4000),
			},
		},
		{
			name:     "TLS: scheme https and its default port",
			ev:       Event{IDs: ids, Method: "GET", Path: "/s", Host: "secure.example", Scheme: "https", ProtoMajor: 1, ProtoMinor: 1, Status: 200},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/s", "url.scheme": "https", "http.response.status_code": int64(200),
				"server.address": "secure.example", "server.port": int64(443), "network.protocol.version": "1.1",
			},
		},
		{
			name:     "5xx is an error and keeps the parent",
			ev:       Event{IDs: withParent, Method: "GET", Path: "/fail", Pattern: "/fail", ProtoMajor: 1, ProtoMinor: 1, Status: 503},
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
			ev:       Event{IDs: ids, Method: "GET", Path: "/missing", ProtoMajor: 1, ProtoMinor: 1, Status: 404},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/missing", "http.response.status_code": int64(404), "network.protocol.version": "1.1",
				"url.scheme": "http",
			},
		},
		{
			name: "query: sensitive values redacted, the rest kept",
			ev: Event{IDs: ids, Method: "GET", Path: "/dl", RawQuery: "file=a.txt&X-Goog-Signature=abc123&sig=zz&token=t1",
				ProtoMajor: 1, ProtoMinor: 1, Status: 200, Scheme: "http"},
			wantName: "GET",
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.path": "/dl", "url.scheme": "http", "http.response.status_code": int64(200),
				"network.protocol.version": "1.1", "url.query": "file=a.txt&X-Goog-Signature=REDACTED&sig=REDACTED&token=t1",
			},
		},
		{
			name: "panic(\"boom\"): error named by the value's type, no status code",
			ev: Event{IDs: ids, Method: "GET", Path: "/panic", ProtoMajor: 1, ProtoMinor: 1, Status: 0, Scheme: "http",
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
			ev: Event{IDs: ids, Method: "GET", Path: "/abort", ProtoMajor: 1, ProtoMinor: 1, Status: 200, Scheme: "http",
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
			ev:       Event{IDs: ids, Method: "GET", Path: "/p", ProtoMajor: 2, Status: StatusUnknown, Panicked: true},
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
			ev:       Event{IDs: ids, Method: "PURGE", Path: "/", ProtoMajor: 2, Status: StatusUnknown},
			wantName: "HTTP",
			wantAttrs: map[string]any{
				"http.request.method": "_OTHER", "http.request.method_original": "PURGE", "url.path": "/", "network.protocol.version": "2",
				"url.scheme": "https",
			},
		},
	}
	clock := httpspan.Clock{Offset: 1_000_000_000}
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
			probetest.AssertAttrs(t, attrsOf(s), tt.wantAttrs)
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
