package integration

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// spanTree is the exact span set of one request's trace: each span's key
// (spanKey) mapped to the key of its parent, "" for the root.
type spanTree map[string]string

// spanKey names a span well enough to tell the calls of one request apart:
// service, kind, name, and the URL with its query (url.full on the client,
// url.path and url.query on the server), e.g.
// "back Server GET /api /api?req=3&from=handler" or
// "front Client tag.R3/Deep".
func spanKey(s span) string {
	k := serviceOf(s) + " " + s.Kind().String() + " " + s.Name()
	if u := strAttr(s, "url.full"); u != "" {
		return k + " " + u
	}
	if p := strAttr(s, "url.path"); p != "" {
		k += " " + p
		if q := strAttr(s, "url.query"); q != "" {
			k += "?" + q
		}
	}
	return k
}

// reqTag is the request tag of front's server span: its url.query's req.
func reqTag(s span) string {
	q, _ := url.ParseQuery(strAttr(s, "url.query"))
	return q.Get("req")
}

// checkRequestTraces groups spans by trace id and checks that the traces
// are exactly one per tag in tags, each holding want(tag): exactly one
// root, whose reqTag is the trace's tag, exactly the spans of the tree (no
// span missing, none extra, none twice), each the child of the span of the
// same trace the tree names as its parent. A call attached to the wrong
// request, or to the wrong call of the right one, fails it.
func checkRequestTraces(t *testing.T, spans []span, tags []string, want func(tag string) spanTree) {
	t.Helper()
	byTrace := map[pcommon.TraceID][]span{}
	for _, s := range spans {
		byTrace[s.TraceID()] = append(byTrace[s.TraceID()], s)
	}
	failures := 0
	errorf := func(format string, args ...any) {
		t.Helper()
		if failures++; failures <= 30 {
			t.Errorf(format, args...)
		}
	}
	seen := map[string]int{}
	for id, trace := range byTrace {
		byID := map[pcommon.SpanID]span{}
		var roots []string
		var root span
		for _, s := range trace {
			byID[s.SpanID()] = s
			if s.ParentSpanID().IsEmpty() {
				roots = append(roots, spanKey(s))
				root = s
			}
		}
		if len(roots) != 1 {
			sort.Strings(roots)
			errorf("trace %v: %d roots, want 1: %q", id, len(roots), roots)
			continue
		}
		tag := reqTag(root)
		seen[tag]++
		tree := want(tag)
		got := map[string]int{}
		for _, s := range trace {
			k := spanKey(s)
			got[k]++
			wantParent, ok := tree[k]
			if !ok {
				errorf("trace of req=%s: span %q is not part of the request", tag, k)
				continue
			}
			parent := ""
			if !s.ParentSpanID().IsEmpty() {
				if p, ok := byID[s.ParentSpanID()]; ok {
					parent = spanKey(p)
				} else {
					parent = fmt.Sprintf("span %v, not in this trace", s.ParentSpanID())
				}
			}
			if parent != wantParent {
				errorf("trace of req=%s: %q is the child of %q, want %q", tag, k, parent, wantParent)
			}
		}
		for k := range tree {
			if got[k] != 1 {
				errorf("trace of req=%s: %d spans %q, want 1", tag, got[k], k)
			}
		}
	}
	for _, tag := range tags {
		if seen[tag] != 1 {
			errorf("req=%s is the root of %d traces, want 1", tag, seen[tag])
		}
	}
	if len(byTrace) != len(tags) {
		errorf("%d traces for %d requests", len(byTrace), len(tags))
	}
	if failures > 30 {
		t.Errorf("... %d failures in all", failures)
	}
	if failures > 0 {
		keys := make([]string, 0, len(spans))
		for _, s := range spans {
			keys = append(keys, s.TraceID().String()[:8]+" "+spanKey(s))
		}
		sort.Strings(keys)
		t.Logf("spans by trace:\n%s", strings.Join(keys, "\n"))
	}
}

// requestTags are the tags of n requests: "0" to "n-1".
func requestTags(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprint(i)
	}
	return tags
}
