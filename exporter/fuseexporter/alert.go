package fuseexporter // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// The names of docs/alerts.md, the contract with the processors.
const (
	alertEventName      = "otelcol_goebpf.alert"
	attrAlertState      = "alert.state"
	attrAlertName       = "alertname"
	annotationPrefix    = "annotation."
	stateFiring         = "firing"
	stateResolved       = "resolved"
	annotationSummary   = "summary"
	maxAnnotationLength = 4096
)

var errNotAlert = errors.New("not an alert record")

// alert is one alert state change taken from a log record.
type alert struct {
	// firing is true for alert.state=firing, false for resolved.
	firing bool
	// labels identify the alert; they include alertname.
	labels map[string]string
	// annotations are the annotation.* attributes, stringified, plus the
	// record body as "summary" unless annotation.summary is set.
	annotations map[string]string
	// changedAt is when the state changed (the record timestamp; the observed
	// timestamp when the processor left it unset).
	changedAt time.Time
}

// alertFromRecord converts one log record. It returns errNotAlert for records
// of another event, and a descriptive error for a malformed alert record.
func alertFromRecord(lr plog.LogRecord) (alert, error) {
	if lr.EventName() != alertEventName {
		return alert{}, errNotAlert
	}
	a := alert{labels: map[string]string{}, annotations: map[string]string{}}
	stateSeen := false
	var err error
	lr.Attributes().Range(func(k string, v pcommon.Value) bool {
		switch {
		case k == attrAlertState:
			stateSeen = true
			switch v.AsString() {
			case stateFiring:
				a.firing = true
			case stateResolved:
				a.firing = false
			default:
				err = fmt.Errorf("alert.state is %q, want firing or resolved", v.AsString())
				return false
			}
		case strings.HasPrefix(k, annotationPrefix):
			name := k[len(annotationPrefix):]
			if name != "" {
				a.annotations[name] = truncate(v.AsString(), maxAnnotationLength)
			}
		case !strings.Contains(k, "."):
			// The contract promises string values here; a processor that breaks
			// it still yields a usable label rather than a lost alert.
			a.labels[k] = v.AsString()
		}
		return true
	})
	if err != nil {
		return alert{}, err
	}
	if !stateSeen {
		return alert{}, errors.New("alert record without alert.state")
	}
	if a.labels[attrAlertName] == "" {
		return alert{}, errors.New("alert record without alertname")
	}
	if _, ok := a.annotations[annotationSummary]; !ok {
		if body := lr.Body().AsString(); body != "" {
			a.annotations[annotationSummary] = truncate(body, maxAnnotationLength)
		}
	}
	switch {
	case lr.Timestamp() != 0:
		a.changedAt = lr.Timestamp().AsTime()
	case lr.ObservedTimestamp() != 0:
		a.changedAt = lr.ObservedTimestamp().AsTime()
	}
	return a, nil
}

// state returns the alert.state value of the contract.
func (a *alert) state() string {
	if a.firing {
		return stateFiring
	}
	return stateResolved
}

// labelKey identifies an alert by its label set, independent of map order.
func labelKey(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	n := 0
	for k, v := range labels {
		names = append(names, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(names)
	var b strings.Builder
	b.Grow(n)
	for _, k := range names {
		// 0xff never occurs in UTF-8, so the encoding is unambiguous.
		b.WriteString(k)
		b.WriteByte(0xfe)
		b.WriteString(labels[k])
		b.WriteByte(0xff)
	}
	return b.String()
}

// fingerprint is a short stable hash of the label set, for receivers to
// deduplicate and correlate firing and resolved deliveries.
func fingerprint(labels map[string]string) string {
	sum := sha256.Sum256([]byte(labelKey(labels)))
	return hex.EncodeToString(sum[:8])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// forEachRecord calls fn for every log record of ld.
func forEachRecord(ld plog.Logs, fn func(plog.LogRecord)) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				fn(lrs.At(k))
			}
		}
	}
}
