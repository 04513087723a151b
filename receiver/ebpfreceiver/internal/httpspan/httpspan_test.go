package httpspan

import (
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

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
	probetest.AssertAttrs(t, res.Attributes().AsRaw(), map[string]any{
		"service.name": "orders", "process.pid": int64(42), "process.executable.path": "/srv/orders",
		"process.runtime.name": "go", "process.runtime.version": "go1.26.8", "host.name": "h1",
		"telemetry.distro.name": "otelcol-goebpf",
	})
	if _, ok := res.Attributes().Get("container.id"); ok {
		t.Error("container.id set for a process outside containers")
	}
	res = pcommon.NewResource()
	Resource{ServiceName: "orders", PID: 42, ContainerID: "c0ffee", PodUID: "7d2f1c3e-5a4b-4c6d-9e8f-0a1b2c3d4e5f"}.Fill(res)
	probetest.AssertAttrs(t, res.Attributes().AsRaw(), map[string]any{
		"service.name": "orders", "process.pid": int64(42), "process.executable.path": "",
		"container.id": "c0ffee", "k8s.pod.uid": "7d2f1c3e-5a4b-4c6d-9e8f-0a1b2c3d4e5f",
		"telemetry.distro.name": "otelcol-goebpf",
	})
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
		{"a=1&b=2&sig=3&c=4&d", "a=1&b=2&sig=REDACTED&c=4&d"},
		{"&sig=1", "&sig=REDACTED"},
		{"a=1&sig=", "a=1&sig=REDACTED"},
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

func TestProtocolVersion(t *testing.T) {
	for _, tc := range []struct {
		major, minor uint8
		want         string
	}{{1, 0, "1.0"}, {1, 1, "1.1"}, {1, 2, "1.2"}, {2, 0, "2"}, {3, 0, "3"}, {0, 9, ""}} {
		if got := ProtocolVersion(tc.major, tc.minor); got != tc.want {
			t.Errorf("ProtocolVersion(%d, %d) = %q, want %q", tc.major, tc.minor, got, tc.want)
		}
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
