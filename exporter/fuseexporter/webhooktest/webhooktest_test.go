package webhooktest

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The signature below was computed with
//
//	printf '%s' '1700000000.{"version":"1","alerts":[]}' | openssl dgst -sha256 -hmac key -r
const (
	knownBody = `{"version":"1","alerts":[]}`
	knownTS   = "1700000000"
	knownSig  = "sha256=1f0012a901ddd5692cf048283ed6ad54dac276725247d382ca78e8d947f8afc9"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1700000000, 0).Add(time.Minute)
	h := http.Header{}
	h.Set("X-Fuse-Timestamp", knownTS)
	h.Set("X-Fuse-Signature", knownSig)
	tests := []struct {
		name   string
		secret string
		header func() http.Header
		body   string
		now    time.Time
		ok     bool
	}{
		{"valid", "key", func() http.Header { return h }, knownBody, now, true},
		{"wrong secret", "other", func() http.Header { return h }, knownBody, now, false},
		{"changed body", "key", func() http.Header { return h }, knownBody + " ", now, false},
		{"stale", "key", func() http.Header { return h }, knownBody, now.Add(time.Hour), false},
		{"no prefix", "key", func() http.Header { c := h.Clone(); c.Set("X-Fuse-Signature", knownSig[7:]); return c }, knownBody, now, false},
		{"no timestamp", "key", func() http.Header { c := h.Clone(); c.Del("X-Fuse-Timestamp"); return c }, knownBody, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify([]byte(tt.secret), tt.header(), []byte(tt.body), tt.now, 5*time.Minute)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestReceiver(t *testing.T) {
	r := NewReceiver(t, "key")
	req, _ := http.NewRequest(http.MethodPost, r.URL, bytes.NewBufferString(knownBody))
	req.Header.Set("X-Fuse-Timestamp", knownTS) // stale: rejected with 401
	req.Header.Set("X-Fuse-Signature", knownSig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	got := r.Deliveries()
	if len(got) != 1 || got[0].VerifyErr == nil {
		t.Fatalf("deliveries %+v", got)
	}
}
