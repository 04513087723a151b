package bench

// benchTraceparent is the traceparent the benchmarks' callers send.
const benchTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// realisticHeaders is a request head's worth of headers as a browser-facing
// API gateway forwards them to a service (all values fake): a bearer token,
// client and proxy headers, request ids, W3C baggage and tracestate, and a
// traceparent; about 1 KiB as an HTTP/1.1 head (name: value CRLF each).
// gRPC leaves out what grpc-go reserves for itself (user-agent).
func realisticHeaders(grpc bool) [][2]string {
	h := [][2]string{
		{"authorization", "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." +
			"eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuY29tLyIsInN1YiI6InVzZXItNDI0MiIsImV4cCI6MTg5MzQ1NjAwMH0." +
			"ZmFrZS1zaWduYXR1cmUtYmVuY2htYXJrLW9ubHktMDEyMzQ1Njc4OWFiY2RlZg"},
		{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
		{"accept", "application/json, text/plain, */*"},
		{"accept-language", "en-US,en;q=0.9,de;q=0.8"},
		{"cache-control", "no-cache"},
		{"x-request-id", "5b0e6d3a-8c1f-4e7b-9a2d-3f6c1e8b7a90"},
		{"x-correlation-id", "c0ffee00-1234-4abc-8def-0123456789ab"},
		{"x-forwarded-for", "203.0.113.7, 198.51.100.23"},
		{"x-forwarded-proto", "https"},
		{"x-forwarded-host", "shop.example.com"},
		{"x-real-ip", "203.0.113.7"},
		{"x-tenant-id", "acme-eu-west"},
		{"x-client-version", "web/4.18.2 (build 20261201.3)"},
		{"x-device-id", "d-9f8e7d6c5b4a39281706f5e4d3c2b1a0"},
		{"baggage", "userId=user-4242,tenant=acme-eu-west,sessionId=6f1c2e1a-9a3b-4a0e-8e44-2f7d1c0b9e55,feature=checkout-v2"},
		{"tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
		{"traceparent", benchTraceparent},
	}
	if grpc {
		out := h[:0:0]
		for _, kv := range h {
			if kv[0] != "user-agent" {
				out = append(out, kv)
			}
		}
		return out
	}
	return h
}

// headBytes is the size of headers as HTTP/1.1 header lines.
func headBytes(h [][2]string) int {
	n := 0
	for _, kv := range h {
		n += len(kv[0]) + len(": ") + len(kv[1]) + len("\r\n")
	}
	return n
}
