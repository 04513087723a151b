package fuseexporter // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

// Webhook signature headers; see README.md for how a receiver verifies them.
const (
	headerTimestamp = "X-Fuse-Timestamp"
	headerSignature = "X-Fuse-Signature"
	signaturePrefix = "sha256="
	payloadVersion  = "1"
)

// webhookPayload is the JSON body of a webhook delivery (schema in README.md).
type webhookPayload struct {
	Version string         `json:"version"`
	Alerts  []webhookAlert `json:"alerts"`
}

type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	ChangedAt   string            `json:"changedAt,omitempty"`
	Fingerprint string            `json:"fingerprint"`
}

// webhookDestination posts every alert state change, signed, to one URL. It
// holds no state: a receiver that must act on "still firing" keeps its own.
type webhookDestination struct {
	cfg       *WebhookConfig
	display   string
	telemetry *metadata.TelemetryBuilder
	attrs     metric.MeasurementOption
	now       func() time.Time
	client    *http.Client
}

func newWebhookDestination(cfg *WebhookConfig, tb *metadata.TelemetryBuilder) *webhookDestination {
	display := displayEndpoint(cfg.ClientConfig.Endpoint)
	return &webhookDestination{
		cfg:       cfg,
		display:   display,
		telemetry: tb,
		attrs:     destinationAttrs("webhook", display),
		now:       time.Now,
	}
}

func (d *webhookDestination) kind() string     { return "webhook" }
func (d *webhookDestination) endpoint() string { return d.display }

func (d *webhookDestination) start(ctx context.Context, host component.Host, set component.TelemetrySettings) error {
	clientCfg := d.cfg.ClientConfig
	if clientCfg.Timeout == 0 {
		clientCfg.Timeout = defaultHTTPTimeout
	}
	client, err := clientCfg.ToClient(ctx, host.GetExtensions(), set)
	if err != nil {
		return fmt.Errorf("webhook client for %s: %w", d.display, err)
	}
	d.client = client
	return nil
}

func (d *webhookDestination) shutdown(context.Context) error {
	if d.client != nil {
		d.client.CloseIdleConnections()
	}
	return nil
}

// push posts the alerts of ld; each attempt, retries included, is signed with
// its own timestamp so a receiver can reject stale replays.
func (d *webhookDestination) push(ctx context.Context, ld plog.Logs) error {
	payload := webhookPayload{Version: payloadVersion}
	forEachRecord(ld, func(lr plog.LogRecord) {
		a, err := alertFromRecord(lr)
		if err != nil {
			return
		}
		w := webhookAlert{
			Status:      a.state(),
			Labels:      a.labels,
			Annotations: a.annotations,
			Fingerprint: fingerprint(a.labels),
		}
		if !a.changedAt.IsZero() {
			w.ChangedAt = formatTime(a.changedAt)
		}
		payload.Alerts = append(payload.Alerts, w)
	})
	if len(payload.Alerts) == 0 {
		return nil
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("encode webhook body for %s: %w", d.display, err))
	}
	if d.client == nil {
		return consumererror.NewPermanent(fmt.Errorf("webhook %s: exporter not started", d.display))
	}
	timestamp := strconv.FormatInt(d.now().Unix(), 10)
	header := http.Header{}
	header.Set(headerTimestamp, timestamp)
	header.Set(headerSignature, signaturePrefix+sign([]byte(d.cfg.Secret), timestamp, body))
	if err := postJSON(ctx, d.client, d.cfg.ClientConfig.Endpoint, d.display, body, header); err != nil {
		return err
	}
	d.telemetry.FuseAlertsDelivered.Add(ctx, int64(len(payload.Alerts)), d.attrs)
	return nil
}

// sign returns hex(HMAC-SHA256(secret, timestamp + "." + body)).
func sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
