package httpclient

import (
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"

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

func TestAppendClient(t *testing.T) {
	tests := []struct {
		name       string
		ev         Event
		wantAttrs  map[string]any
		wantStatus ptrace.StatusCode
	}{
		{
			name: "ok with query and explicit port",
			ev: Event{IDs: ids, Method: "GET", Scheme: "http", Host: "127.0.0.1:9090", Path: "/stock",
				RawQuery: "sku=1", HasResponse: true, Status: 200},
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.full": "http://127.0.0.1:9090/stock?sku=1",
				"server.address": "127.0.0.1", "server.port": int64(9090), "http.response.status_code": int64(200),
			},
		},
		{
			name: "credentials and signed query redacted in url.full",
			ev: Event{IDs: ids, Method: "GET", Scheme: "https", Host: "bucket.s3.example", Path: "/obj",
				RawQuery: "AWSAccessKeyId=AKIA1&Expires=9&Signature=s%2Fg&api_key=k", HasUserInfo: true, HasResponse: true, Status: 200},
			wantAttrs: map[string]any{
				"http.request.method": "GET", "url.full": "https://REDACTED:REDACTED@bucket.s3.example/obj?AWSAccessKeyId=REDACTED&Expires=9&Signature=REDACTED&api_key=REDACTED",
				"server.address": "bucket.s3.example", "server.port": int64(443), "http.response.status_code": int64(200),
			},
		},
		{
			name: "4xx is an error on the client, default https port",
			ev:   Event{IDs: ids, Method: "DELETE", Scheme: "https", Host: "api.example", Path: "/a", HasResponse: true, Status: 404},
			wantAttrs: map[string]any{
				"http.request.method": "DELETE", "url.full": "https://api.example/a", "server.address": "api.example",
				"server.port": int64(443), "http.response.status_code": int64(404), "error.type": "404",
			},
			wantStatus: ptrace.StatusCodeError,
		},
		{
			name: "transport error",
			ev:   Event{IDs: ids, Method: "POST", Scheme: "http", Host: "down:1", Path: "/", HasError: true},
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
			s := AppendClient(ss, &tt.ev, httpspan.Clock{}, httpspan.NewRedactor([]string{"api_key"}))
			if s.Kind() != ptrace.SpanKindClient || s.Name() != tt.ev.Method {
				t.Errorf("kind %v name %q", s.Kind(), s.Name())
			}
			probetest.AssertAttrs(t, attrsOf(s), tt.wantAttrs)
			if s.Status().Code() != tt.wantStatus {
				t.Errorf("status %v, want %v", s.Status().Code(), tt.wantStatus)
			}
		})
	}
}
