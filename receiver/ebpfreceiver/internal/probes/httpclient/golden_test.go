package httpclient

import (
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
)

// TestClientSpansGolden: calls that got a response (2xx, 4xx, 5xx), one
// that failed without a response, one with credentials and a signed query
// in its URL, and one to a non-default port, as the receiver turns them into
// spans (Event.AppendSpan).
func TestClientSpansGolden(t *testing.T) {
	t.Parallel()
	child := probes.SpanIDs{HasParent: true}
	for i := range child.TraceID {
		child.TraceID[i] = 0x10 + byte(i)
	}
	for i := range child.SpanID {
		child.SpanID[i] = 0x70 + byte(i)
		child.ParentSpanID[i] = 0x20 + byte(i)
	}
	root := child
	root.HasParent, root.ParentSpanID = false, [8]byte{}
	root.SpanID[0] = 0x99
	events := []*Event{
		{PID: 4242, StartNs: 1_000, EndNs: 80_000, IDs: child, Method: "GET", Scheme: "http", Host: "stock:9090",
			Path: "/stock/42", HasResponse: true, Status: 200},
		{PID: 4242, StartNs: 2_000, EndNs: 3_000, IDs: root, Method: "DELETE", Scheme: "https", Host: "api.example",
			Path: "/v1/items/7", HasResponse: true, Status: 404},
		{PID: 4242, StartNs: 4_000, EndNs: 5_000, IDs: root, Method: "POST", Scheme: "http", Host: "payments:8443",
			Path: "/charge", HasResponse: true, Status: 502},
		{PID: 4242, StartNs: 6_000, EndNs: 7_000, IDs: root, Method: "GET", Scheme: "http", Host: "down:1",
			Path: "/", HasError: true},
		{PID: 4242, StartNs: 8_000, EndNs: 9_000, IDs: child, Method: "GET", Scheme: "https", Host: "bucket.s3.example",
			Path: "/obj", RawQuery: "X-Amz-Signature=abc&session=s1&part=2", HasUserInfo: true, HasResponse: true, Status: 200},
	}
	td, ss := probetest.NewScope()
	env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}, Redactor: httpspan.NewRedactor([]string{"session"})}
	for _, e := range events {
		e.AppendSpan(ss, env)
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "client_spans.json"), td)
}
