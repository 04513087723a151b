package fuseexporter

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

// alertRecord describes one record in the shape of docs/alerts.md.
type alertRecord struct {
	state  string
	labels map[string]string
	attrs  map[string]any // annotation.* and anything else
	body   string
	at     time.Time
}

func sloLabels(slo string) map[string]string {
	return map[string]string{"alertname": "SLOBurnRate", "slo": slo, "service": "checkout", "severity": "page", "tier": "1h/5m"}
}

func alertLogs(records ...alertRecord) plog.Logs {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for _, r := range records {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName(alertEventName)
		if !r.at.IsZero() {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(r.at))
		}
		if r.state == stateFiring {
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
		} else {
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
		}
		if r.body != "" {
			lr.Body().SetStr(r.body)
		}
		lr.Attributes().PutStr(attrAlertState, r.state)
		for k, v := range r.labels {
			lr.Attributes().PutStr(k, v)
		}
		if err := lr.Attributes().FromRaw(mergeRaw(lr.Attributes().AsRaw(), r.attrs)); err != nil {
			panic(err)
		}
	}
	return ld
}

func mergeRaw(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

// recordingServer answers each request with the next status of statuses (the
// last one repeats) and keeps what it received.
type recordingServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	requests []recordedRequest
}

type recordedRequest struct {
	path   string
	header http.Header
	body   []byte
}

func newRecordingServer(t *testing.T, statuses ...int) *recordingServer {
	t.Helper()
	if len(statuses) == 0 {
		statuses = []int{http.StatusOK}
	}
	s := &recordingServer{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.requests)
		s.requests = append(s.requests, recordedRequest{path: r.URL.Path, header: r.Header.Clone(), body: body})
		status := s.statuses[min(n, len(s.statuses)-1)]
		s.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte("status from test server"))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *recordingServer) received() []recordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recordedRequest(nil), s.requests...)
}

// alertmanagerPosts decodes every request as an Alertmanager POST.
func (s *recordingServer) alertmanagerPosts(t *testing.T) [][]postableAlert {
	t.Helper()
	var out [][]postableAlert
	for _, r := range s.received() {
		var alerts []postableAlert
		if err := json.Unmarshal(r.body, &alerts); err != nil {
			t.Fatalf("body is not a list of postable alerts: %v: %s", err, r.body)
		}
		out = append(out, alerts)
	}
	return out
}

// manualTicker replaces the resend timer: a test sends on C to make one tick.
type manualTicker struct{ C chan time.Time }

func (m *manualTicker) newTicker(time.Duration) (<-chan time.Time, func()) { return m.C, func() {} }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncConfig is a config whose ConsumeLogs returns the final delivery outcome
// (no queue) and whose retries are fast.
func syncConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 2 * time.Second
	cfg.RetryConfig.RandomizationFactor = 0
	return cfg
}

func withAlertmanager(cfg *Config, endpoint string) *Config {
	am := cfg.Alertmanager.GetOrInsertDefault()
	am.ClientConfig.Endpoint = endpoint
	return cfg
}

// startExporter creates and starts the exporter with telemetry captured by tt,
// and shuts it down at the end of the test. prepare runs before Start.
func startExporter(t *testing.T, cfg *Config, tt *componenttest.Telemetry, prepare func(*fuseExporter)) *fuseExporter {
	t.Helper()
	set := exportertest.NewNopSettings(metadata.Type)
	if tt != nil {
		set.TelemetrySettings = tt.NewTelemetrySettings()
	}
	e, err := newFuseExporter(t.Context(), set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(e)
	}
	if err := e.Start(t.Context(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return e
}
