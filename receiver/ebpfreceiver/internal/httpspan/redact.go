package httpspan

import (
	"net/url"
	"strings"
)

// Redacted replaces what a span must not carry (semantic conventions, url.*).
const Redacted = "REDACTED"

// DefaultSensitiveQueryKeys are the query parameters whose values the HTTP
// semantic conventions ask to redact by default: signed-URL credentials.
var DefaultSensitiveQueryKeys = []string{"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"}

// Redactor replaces the values of sensitive query parameters with
// REDACTED. Keys match case-insensitively, after percent-decoding.
type Redactor struct {
	keys map[string]struct{}
}

// NewRedactor redacts DefaultSensitiveQueryKeys and extra.
func NewRedactor(extra []string) *Redactor {
	r := &Redactor{keys: map[string]struct{}{}}
	for _, k := range append(append([]string(nil), DefaultSensitiveQueryKeys...), extra...) {
		r.keys[strings.ToLower(k)] = struct{}{}
	}
	return r
}

var defaultRedactor = NewRedactor(nil)

func (r *Redactor) sensitive(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	_, ok := r.keys[strings.ToLower(key)]
	return ok
}

// Query returns the raw query with the value of every sensitive parameter
// replaced by REDACTED; everything else is kept byte for byte. A parameter
// cut off by the probe's truncation before its '=' has no value to leak.
func (r *Redactor) Query(q string) string {
	if r == nil {
		r = defaultRedactor
	}
	if q == "" {
		return ""
	}
	// Most queries hold no sensitive key: nothing is built until one is found.
	var b strings.Builder
	changed := false
	for rest, pos := q, 0; ; {
		part, after, more := strings.Cut(rest, "&")
		if key, _, ok := strings.Cut(part, "="); ok && r.sensitive(key) {
			if !changed {
				b.Grow(len(q) + len(Redacted))
				b.WriteString(q[:pos])
				changed = true
			}
			b.WriteString(key)
			b.WriteString("=" + Redacted)
		} else if changed {
			b.WriteString(part)
		}
		if !more {
			break
		}
		if changed {
			b.WriteByte('&')
		}
		pos += len(part) + 1
		rest = after
	}
	if !changed {
		return q
	}
	return b.String()
}
