// Package webhooktest is a webhook receiver for tests of the fuse exporter: an
// HTTP server that verifies each request's signature the way the README tells
// receivers to, independently of the exporter's code, and records what came.
// End-to-end tests of the built collector use it as the webhook endpoint.
package webhooktest // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/webhooktest"

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Payload is the documented webhook body (schema version 1).
type Payload struct {
	Version string  `json:"version"`
	Alerts  []Alert `json:"alerts"`
}

// Alert is one entry of Payload.Alerts.
type Alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	ChangedAt   time.Time         `json:"changedAt"`
	Fingerprint string            `json:"fingerprint"`
}

// Delivery is one request the receiver got.
type Delivery struct {
	Header http.Header
	Body   []byte
	// Payload is the decoded body; zero when VerifyErr is set.
	Payload Payload
	// VerifyErr is why the signature or the body was rejected (the receiver
	// answered 401 or 400); nil for a valid delivery.
	VerifyErr error
}

// Receiver is a running webhook receiver, closed at test cleanup.
type Receiver struct {
	// URL is the endpoint to configure in webhooks[].endpoint.
	URL string

	secret []byte
	server *httptest.Server
	mu     sync.Mutex
	got    []Delivery
	status int
}

// NewReceiver starts a receiver that verifies signatures with secret and
// answers 204 to valid deliveries.
func NewReceiver(t testing.TB, secret string) *Receiver {
	t.Helper()
	r := &Receiver{secret: []byte(secret), status: http.StatusNoContent}
	r.server = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.server.URL
	t.Cleanup(r.server.Close)
	return r
}

// SetStatus makes the receiver answer valid deliveries with status, e.g. 503
// to exercise retries.
func (r *Receiver) SetStatus(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	d := Delivery{Header: req.Header.Clone(), Body: body}
	status := http.StatusBadRequest
	switch {
	case err != nil:
		d.VerifyErr = fmt.Errorf("read body: %w", err)
	case req.Method != http.MethodPost:
		d.VerifyErr = fmt.Errorf("method %s, want POST", req.Method)
	default:
		if d.VerifyErr = Verify(r.secret, req.Header, body, time.Now(), 5*time.Minute); d.VerifyErr != nil {
			status = http.StatusUnauthorized
		} else if d.VerifyErr = json.Unmarshal(body, &d.Payload); d.VerifyErr != nil {
			d.Payload = Payload{}
		}
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	if d.VerifyErr == nil {
		status = r.status
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

// Deliveries returns every request received so far, valid or not.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

// WaitFor polls Deliveries until match returns true, failing the test after
// timeout.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, match func([]Delivery) bool) []Delivery {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := r.Deliveries()
		if match(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook receiver %s: condition not met after %s; %d deliveries", r.URL, timeout, len(got))
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Verify checks the X-Fuse-Timestamp and X-Fuse-Signature headers of a
// delivery: the signature must be sha256= followed by the hex HMAC-SHA256 of
// "<timestamp>.<body>" under secret, and the timestamp within tolerance of now.
func Verify(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := header.Get("X-Fuse-Timestamp")
	if ts == "" {
		return errors.New("missing X-Fuse-Timestamp")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad X-Fuse-Timestamp %q", ts)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("X-Fuse-Timestamp %s is %s away from now", ts, age)
	}
	sig, ok := strings.CutPrefix(header.Get("X-Fuse-Signature"), "sha256=")
	if !ok {
		return errors.New("X-Fuse-Signature missing or without sha256= prefix")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("X-Fuse-Signature is not hex: %w", err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("signature mismatch")
	}
	return nil
}
