package fuseexporter

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

var validLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// recordFromFuzz builds a log record from arbitrary bytes: an event name
// choice, then (kind, key, value) triples; keys are biased towards the
// contract's names so the interesting paths are reached.
func recordFromFuzz(data []byte) plog.Logs {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	if len(data) == 0 {
		return ld
	}
	if data[0]%4 != 0 {
		lr.SetEventName(alertEventName)
	} else {
		lr.SetEventName(string(data[:min(len(data), 8)]))
	}
	if data[0]&0x10 != 0 {
		buf := make([]byte, 8)
		copy(buf, data)
		lr.SetTimestamp(pcommon.Timestamp(binary.LittleEndian.Uint64(buf)))
	}
	keys := []string{attrAlertState, attrAlertName, "slo", "service", "annotation.", "annotation.summary", "annotation.x.y", "1bad-name", "", "a.b"}
	rest := data[1:]
	attrs := lr.Attributes()
	for len(rest) >= 3 {
		kind, keySel, n := rest[0], rest[1], int(rest[2])
		rest = rest[3:]
		n = min(n, len(rest))
		raw := rest[:n]
		rest = rest[n:]
		key := keys[int(keySel)%len(keys)]
		if keySel >= 128 {
			key += string(raw)
		}
		switch kind % 8 {
		case 0:
			attrs.PutStr(key, string(raw))
		case 1:
			if len(raw) > 0 && raw[0]%2 == 0 {
				attrs.PutStr(key, stateFiring)
			} else {
				attrs.PutStr(key, stateResolved)
			}
		case 2:
			attrs.PutInt(key, int64(len(raw))-128)
		case 3:
			attrs.PutDouble(key, float64(len(raw))/3)
		case 4:
			attrs.PutBool(key, len(raw)%2 == 0)
		case 5:
			attrs.PutEmptyBytes(key).FromRaw(raw)
		case 6:
			m := attrs.PutEmptyMap(key)
			m.PutStr(string(raw), string(raw))
			m.PutEmptySlice("s").AppendEmpty().SetStr(string(raw))
		case 7:
			attrs.PutEmpty(key)
		}
	}
	if len(data)%2 == 0 {
		lr.Body().SetStr(string(data))
	} else {
		lr.Body().SetEmptyMap().PutStr("k", string(data))
	}
	return ld
}

type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// FuzzAlertConversion sends random attribute maps through the record → alert
// conversion and both destinations' encoders: nothing panics, every accepted
// alert has an alertname, and Alertmanager only ever sees valid label names.
func FuzzAlertConversion(f *testing.F) {
	f.Add([]byte{1, 1, 1, 0, 0, 0, 5, 'f', 'i', 'r', 'e', 'd'})
	f.Add([]byte{0x11, 1, 0, 1, 0, 1, 11, 'S', 'L', 'O', 'B', 'u', 'r', 'n', 'R', 'a', 't', 'e', 3, 6, 2, 'x', 'y'})
	f.Add([]byte{2, 0, 200, 4, 'a', '-', 'b', 'c', 6, 4, 1, 'z'})
	f.Add([]byte("random bytes that are not an alert at all"))

	tb, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	if err != nil {
		f.Fatal(err)
	}
	amCfg := createDefaultConfig().(*Config).Alertmanager.GetOrInsertDefault()
	amCfg.ClientConfig.Endpoint = "http://fuzz.invalid"
	amCfg.MaxActiveAlerts = 64
	am := newAlertmanagerDestination(amCfg, 0, zap.NewNop(), tb)
	am.client = &http.Client{Transport: okTransport{}}
	hook := newWebhookDestination(&WebhookConfig{Secret: "k"}, tb)
	hook.client = &http.Client{Transport: okTransport{}}

	f.Fuzz(func(t *testing.T, data []byte) {
		ld := recordFromFuzz(data)
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		a, err := alertFromRecord(lr)
		if err == nil {
			if a.labels[attrAlertName] == "" {
				t.Fatalf("accepted alert without alertname: %+v", a)
			}
			for k := range a.labels {
				if strings.Contains(k, ".") {
					t.Fatalf("dotted key %q became a label", k)
				}
			}
			for k := range alertmanagerLabels(a.labels) {
				if !validLabelName.MatchString(k) {
					t.Fatalf("invalid Alertmanager label name %q", k)
				}
			}
			for k := range alertmanagerAnnotations(a.annotations) {
				if !validLabelName.MatchString(k) {
					t.Fatalf("invalid Alertmanager annotation name %q", k)
				}
			}
			if _, err := json.Marshal(a.labels); err != nil {
				t.Fatal(err)
			}
		}
		ctx := context.Background()
		if err := am.push(ctx, ld); err != nil {
			t.Fatalf("alertmanager push: %v", err)
		}
		if err := hook.push(ctx, ld); err != nil {
			t.Fatalf("webhook push: %v", err)
		}
	})
}
