package rpcspan

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestSplitMethod(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, svc, m string
		ok         bool
	}{
		{"/grpc.health.v1.Health/Check", "grpc.health.v1.Health", "Check", true},
		{"/a/b/c", "a/b", "c", true},
		{"grpc.health.v1.Health/Check", "", "", false},
		{"/nomethod", "", "", false},
		{"/svc/", "", "", false},
		{"//m", "", "", false},
		{"", "", "", false},
	} {
		svc, m, ok := SplitMethod(tc.in)
		if svc != tc.svc || m != tc.m || ok != tc.ok {
			t.Errorf("SplitMethod(%q) = %q, %q, %t; want %q, %q, %t", tc.in, svc, m, ok, tc.svc, tc.m, tc.ok)
		}
	}
}

// Every code: which ones make a span an error on each side.
func TestStatusRules(t *testing.T) {
	t.Parallel()
	serverErrors := map[uint32]bool{2: true, 4: true, 12: true, 13: true, 14: true, 15: true}
	for code := uint32(0); code <= 16; code++ {
		for _, side := range []struct {
			name string
			rule func(uint32) bool
			want bool
		}{{"server", ServerError, serverErrors[code]}, {"client", ClientError, code != 0}} {
			s := ptrace.NewSpan()
			SetStatus(s, code, side.rule)
			got := s.Status().Code() == ptrace.StatusCodeError
			if got != side.want {
				t.Errorf("%s %s: error %t, want %t", side.name, CodeName(code), got, side.want)
			}
			if v, ok := s.Attributes().Get(AttrGRPCStatusCode); !ok || v.Int() != int64(code) {
				t.Errorf("%s %d: %s = %v", side.name, code, AttrGRPCStatusCode, v.AsRaw())
			}
		}
	}
	s := ptrace.NewSpan()
	SetStatus(s, CodeUnread, ClientError)
	if s.Attributes().Len() != 0 || s.Status().Code() != ptrace.StatusCodeUnset {
		t.Errorf("unread code: attrs %v, status %v", s.Attributes().AsRaw(), s.Status().Code())
	}
	if CodeName(16) != "UNAUTHENTICATED" || CodeName(99) != "99" {
		t.Errorf("CodeName(16)=%s CodeName(99)=%s", CodeName(16), CodeName(99))
	}
}

func TestTargetAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		host string
		port uint16
		ok   bool
	}{
		{"127.0.0.1:50051", "127.0.0.1", 50051, true},
		{"dns:///orders.svc:443", "orders.svc", 443, true},
		{"dns://8.8.8.8/orders.svc:443", "orders.svc", 443, true},
		{"passthrough:///[::1]:9000", "::1", 9000, true},
		{"orders.svc", "orders.svc", 0, true},
		{"unix:///run/x.sock", "", 0, false},
		{"unix:/run/x.sock", "", 0, false},
		{"", "", 0, false},
	} {
		host, port, ok := TargetAddress(tc.in)
		if host != tc.host || port != tc.port || ok != tc.ok {
			t.Errorf("TargetAddress(%q) = %q, %d, %t; want %q, %d, %t", tc.in, host, port, ok, tc.host, tc.port, tc.ok)
		}
	}
}
