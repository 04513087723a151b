package alertmanager

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStartPostAndRead checks the helper against the real binary: an alert
// posted with the v2 API is listed, and is gone once resolved.
func TestStartPostAndRead(t *testing.T) {
	am := Start(t, Options{})
	now := time.Now().UTC()
	post := func(endsAt time.Time) {
		t.Helper()
		body := `[{"labels":{"alertname":"HelperTest","slo":"x"},"annotations":{"summary":"s"},"startsAt":"` +
			now.Format(time.RFC3339Nano) + `","endsAt":"` + endsAt.Format(time.RFC3339Nano) + `"}]`
		resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST alerts: %s", resp.Status)
		}
	}
	post(now.Add(time.Hour))
	alerts := am.WaitForAlerts(t, 10*time.Second, func(a []Alert) bool { _, ok := Find(a, map[string]string{"alertname": "HelperTest"}); return ok })
	a, _ := Find(alerts, map[string]string{"alertname": "HelperTest"})
	if a.Labels["slo"] != "x" || a.Annotations["summary"] != "s" || a.Status.State != "active" {
		t.Fatalf("unexpected alert %+v", a)
	}
	post(time.Now().UTC())
	am.WaitForAlerts(t, 10*time.Second, func(a []Alert) bool { _, ok := Find(a, map[string]string{"alertname": "HelperTest"}); return !ok })

	if err := am.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := am.Alerts(context.Background()); err == nil {
		t.Fatal("alertmanager still answers after Stop")
	}
}
