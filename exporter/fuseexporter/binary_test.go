package fuseexporter

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/webhooktest"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/alertmanager"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// TestBuiltCollectorDeliversAlerts runs the built distribution (make build;
// OTELCOL_GOEBPF_BIN) with an OTLP/HTTP logs receiver and the fuse exporter,
// posts a firing then a resolved alert record to it, and checks both in a real
// Alertmanager and in a webhook receiver that verifies the signature, with the
// secret passed through ${env:FUSE_SECRET}. Under CI=true a missing binary or
// alertmanager fails the test.
func TestBuiltCollectorDeliversAlerts(t *testing.T) {
	bin := os.Getenv("OTELCOL_GOEBPF_BIN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", "bin", "otelcol-goebpf"))
	}
	if _, err := os.Stat(bin); err != nil {
		prereq.Missing(t, "no collector binary at %s (make build, or set OTELCOL_GOEBPF_BIN): %v", bin, err)
	}
	am := alertmanager.Start(t, alertmanager.Options{})
	const secret = "e2e-secret"
	hook := webhooktest.NewReceiver(t, secret)

	port := freeTCPPort(t)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:%d" }
exporters:
  fuse:
    alertmanager: { endpoint: %q, resend_interval: 1s }
    webhooks:
      - endpoint: %q
        secret: ${env:FUSE_SECRET}
service:
  telemetry:
    metrics: { level: none }
  pipelines:
    logs: { receivers: [otlp], exporters: [fuse] }
`, port, am.URL, hook.URL)
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))

	var out lockedOutput
	cmd := exec.Command(bin, "--config=file:"+cfgPath)
	cmd.Env = append(os.Environ(), "FUSE_SECRET="+secret)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", out.String())
		}
	})

	logsURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/v1/logs"
	post := func(ld plog.Logs) {
		t.Helper()
		body, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		deadline := time.Now().Add(30 * time.Second)
		for {
			select {
			case <-exited:
				t.Fatalf("collector exited:\n%s", out.String())
			default:
			}
			resp, err := http.Post(logsURL, "application/json", bytes.NewReader(body))
			if err == nil {
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("OTLP receiver at %s not reachable: %v\n%s", logsURL, err, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	labels := sloLabels("e2e-availability")
	post(alertLogs(alertRecord{state: stateFiring, labels: labels, at: time.Now(), body: "e2e burning", attrs: map[string]any{"annotation.burn_rate_long": 14.5}}))
	active := am.WaitForAlerts(t, 30*time.Second, func(a []alertmanager.Alert) bool { _, ok := alertmanager.Find(a, labels); return ok })
	got, _ := alertmanager.Find(active, labels)
	assert.Equal(t, labels, got.Labels)
	assert.Equal(t, "14.5", got.Annotations["burn_rate_long"])
	assert.Equal(t, "e2e burning", got.Annotations["summary"])
	hasStatus := func(status string) func([]webhooktest.Delivery) bool {
		return func(ds []webhooktest.Delivery) bool {
			for _, d := range ds {
				for _, a := range d.Payload.Alerts {
					if d.VerifyErr == nil && a.Status == status && a.Labels["slo"] == "e2e-availability" {
						return true
					}
				}
			}
			return false
		}
	}
	hook.WaitFor(t, 30*time.Second, hasStatus("firing"))

	post(alertLogs(alertRecord{state: stateResolved, labels: labels, at: time.Now()}))
	am.WaitForAlerts(t, 30*time.Second, func(a []alertmanager.Alert) bool { _, ok := alertmanager.Find(a, labels); return !ok })
	deliveries := hook.WaitFor(t, 30*time.Second, hasStatus("resolved"))
	for _, d := range deliveries {
		assert.NoError(t, d.VerifyErr, "every webhook delivery is signed with the secret from the environment")
	}
	assert.NotContains(t, out.String(), secret, "the secret never reaches the collector's logs")
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type lockedOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *lockedOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *lockedOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
