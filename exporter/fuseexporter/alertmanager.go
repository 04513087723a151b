package fuseexporter // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

const alertsPath = "/api/v2/alerts"

// postableAlert is Alertmanager's v2 postableAlert.
type postableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    string            `json:"startsAt,omitempty"`
	EndsAt      string            `json:"endsAt"`
}

// activeAlert is a firing alert held for lease renewal.
type activeAlert struct {
	labels      map[string]string
	annotations map[string]string
	startsAt    time.Time
}

// resolution remembers a resolve for one lease, so a firing record that was
// older than the resolve but arrives after it (a retried or reordered request)
// cannot reopen the alert.
type resolution struct {
	changedAt  time.Time // the resolved record's timestamp
	recordedAt time.Time // when the exporter saw it, for expiry
}

// alertmanagerDestination posts alerts to Alertmanager and keeps the firing
// ones alive: Alertmanager resolves an alert by itself when its endsAt passes,
// so every firing alert is re-sent each resend_interval with endsAt pushed one
// lease ahead. A collector that dies therefore never leaves an alert stuck.
type alertmanagerDestination struct {
	cfg     *AlertmanagerConfig
	url     string
	display string // endpoint without credentials or query, for logs and metrics
	lease   time.Duration
	// resolveMemory is how long a resolve is remembered: a lease, plus the
	// time a retried firing request may still be on its way.
	resolveMemory time.Duration
	logger        *zap.Logger
	telemetry     *metadata.TelemetryBuilder
	attrs         metric.MeasurementOption

	// now and newTicker are replaced by tests to drive lease renewal.
	now       func() time.Time
	newTicker func(time.Duration) (<-chan time.Time, func())

	client *http.Client

	// sendMu serializes every POST with the state change it carries, so a
	// renewal can never overtake a resolve and re-open the alert.
	sendMu        sync.Mutex
	active        map[string]*activeAlert
	resolved      map[string]resolution
	renewFailing  bool
	activeCount   atomic.Int64 // mirrors len(active) for the gauge
	stopRenewal   context.CancelFunc
	renewalExited chan struct{}
}

func newAlertmanagerDestination(cfg *AlertmanagerConfig, retryFor time.Duration, logger *zap.Logger, tb *metadata.TelemetryBuilder) *alertmanagerDestination {
	display := displayEndpoint(cfg.ClientConfig.Endpoint)
	return &alertmanagerDestination{
		cfg:           cfg,
		url:           alertsURL(cfg.ClientConfig.Endpoint),
		display:       display,
		lease:         cfg.leaseDuration(),
		resolveMemory: cfg.leaseDuration() + retryFor,
		logger:        logger,
		telemetry:     tb,
		attrs:         destinationAttrs("alertmanager", display),
		now:           time.Now,
		newTicker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
		active:   map[string]*activeAlert{},
		resolved: map[string]resolution{},
	}
}

func (d *alertmanagerDestination) kind() string     { return "alertmanager" }
func (d *alertmanagerDestination) endpoint() string { return d.display }

func (d *alertmanagerDestination) start(ctx context.Context, host component.Host, set component.TelemetrySettings) error {
	clientCfg := d.cfg.ClientConfig
	if clientCfg.Timeout == 0 {
		clientCfg.Timeout = defaultHTTPTimeout
	}
	client, err := clientCfg.ToClient(ctx, host.GetExtensions(), set)
	if err != nil {
		return fmt.Errorf("alertmanager client for %s: %w", d.display, err)
	}
	d.client = client
	renewCtx, cancel := context.WithCancel(context.Background())
	d.stopRenewal = cancel
	d.renewalExited = make(chan struct{})
	ticks, stopTicker := d.newTicker(d.cfg.ResendInterval)
	go func() {
		defer close(d.renewalExited)
		defer stopTicker()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-ticks:
				d.renew(renewCtx)
			}
		}
	}()
	return nil
}

func (d *alertmanagerDestination) shutdown(ctx context.Context) error {
	if d.stopRenewal == nil {
		return nil
	}
	d.stopRenewal()
	select {
	case <-d.renewalExited:
	case <-ctx.Done():
		return fmt.Errorf("alertmanager %s: lease renewal did not stop: %w", d.display, ctx.Err())
	}
	if d.client != nil {
		d.client.CloseIdleConnections()
	}
	return nil
}

// push applies the state changes in ld to the active set and posts them. It is
// called again by the retry sender on a retryable failure; applying the same
// changes twice yields the same state.
func (d *alertmanagerDestination) push(ctx context.Context, ld plog.Logs) error {
	var changes []alert
	forEachRecord(ld, func(lr plog.LogRecord) {
		if a, err := alertFromRecord(lr); err == nil {
			changes = append(changes, a)
		}
	})
	if len(changes) == 0 {
		return nil
	}

	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	now := d.now().UTC()
	var out []postableAlert
	position := map[string]int{}
	untracked := 0
	for i := range changes {
		a := &changes[i]
		labels := alertmanagerLabels(a.labels)
		annotations := alertmanagerAnnotations(a.annotations)
		key := labelKey(labels)
		entry := d.active[key]
		var p postableAlert
		if a.firing {
			if r, ok := d.resolved[key]; ok && !a.changedAt.IsZero() && !a.changedAt.After(r.changedAt) {
				continue // stale: this alert was resolved after this record was written
			}
			delete(d.resolved, key)
			startsAt := a.changedAt
			if startsAt.IsZero() || startsAt.After(now) {
				startsAt = now
			}
			switch {
			case entry != nil:
				// A repeated firing record keeps the original start.
				if entry.startsAt.Before(startsAt) {
					startsAt = entry.startsAt
				}
				entry.startsAt = startsAt
				entry.annotations = annotations
			case len(d.active) < d.cfg.MaxActiveAlerts:
				d.active[key] = &activeAlert{labels: labels, annotations: annotations, startsAt: startsAt}
			default:
				untracked++
			}
			p = postableAlert{Labels: labels, Annotations: annotations, StartsAt: formatTime(startsAt), EndsAt: formatTime(now.Add(d.lease))}
		} else {
			if d.cfg.SharedAlerts {
				// Stop renewing; the lease ends this collector's share of the alert.
				delete(d.active, key)
				if !a.changedAt.IsZero() && len(d.resolved) < d.cfg.MaxActiveAlerts {
					d.resolved[key] = resolution{changedAt: a.changedAt, recordedAt: now}
				}
				continue
			}
			p = postableAlert{Labels: labels, Annotations: annotations, EndsAt: formatTime(now)}
			if entry != nil {
				p.StartsAt = formatTime(entry.startsAt)
				if len(annotations) == 0 {
					p.Annotations = entry.annotations
				}
				delete(d.active, key)
			}
			if !a.changedAt.IsZero() && len(d.resolved) < d.cfg.MaxActiveAlerts {
				d.resolved[key] = resolution{changedAt: a.changedAt, recordedAt: now}
			}
		}
		// Within one batch the last change of an alert wins.
		if at, ok := position[key]; ok {
			out[at] = p
		} else {
			position[key] = len(out)
			out = append(out, p)
		}
	}
	d.setActiveCount(len(d.active))
	if len(out) == 0 {
		return nil
	}
	if untracked > 0 {
		d.telemetry.FuseAlertsUntracked.Add(ctx, int64(untracked), d.attrs)
	}
	if err := d.post(ctx, out); err != nil {
		return err
	}
	d.telemetry.FuseAlertsDelivered.Add(ctx, int64(len(out)), d.attrs)
	return nil
}

// renew re-sends every firing alert with a fresh lease. A failed renewal is not
// retried here: the next tick is the retry, and the lease (4 ticks by
// default) outlives a few failures.
func (d *alertmanagerDestination) renew(ctx context.Context) {
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	now := d.now().UTC()
	for key, r := range d.resolved {
		if now.Sub(r.recordedAt) > d.resolveMemory {
			delete(d.resolved, key)
		}
	}
	if len(d.active) == 0 {
		return
	}
	endsAt := formatTime(now.Add(d.lease))
	out := make([]postableAlert, 0, len(d.active))
	for _, a := range d.active {
		out = append(out, postableAlert{Labels: a.labels, Annotations: a.annotations, StartsAt: formatTime(a.startsAt), EndsAt: endsAt})
	}
	if err := d.post(ctx, out); err != nil {
		if ctx.Err() != nil {
			return // shutting down
		}
		d.telemetry.FuseDeliveriesFailed.Add(ctx, 1, d.attrs)
		// Log the change from healthy to failing once, not every tick.
		if !d.renewFailing {
			d.logger.Warn("Lease renewal to Alertmanager failed; firing alerts resolve by themselves if it keeps failing for a lease",
				zap.String("endpoint", d.display), zap.Int("alerts", len(out)), zap.Duration("lease", d.lease), zap.Error(err))
		}
		d.renewFailing = true
		return
	}
	if d.renewFailing {
		d.logger.Info("Lease renewal to Alertmanager recovered", zap.String("endpoint", d.display))
		d.renewFailing = false
	}
	d.telemetry.FuseAlertsDelivered.Add(ctx, int64(len(out)), d.attrs)
}

func (d *alertmanagerDestination) post(ctx context.Context, alerts []postableAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("encode alerts for %s: %w", d.display, err))
	}
	if d.client == nil {
		return consumererror.NewPermanent(fmt.Errorf("alertmanager %s: exporter not started", d.display))
	}
	return postJSON(ctx, d.client, d.url, d.display, body, nil)
}

func (d *alertmanagerDestination) setActiveCount(n int) { d.activeCount.Store(int64(n)) }

func (d *alertmanagerDestination) activeAlerts() int64 { return d.activeCount.Load() }

// alertmanagerLabels makes label names valid for Alertmanager, which rejects a
// whole POST over one bad name, and drops empty values, which Alertmanager
// treats as absent anyway.
func alertmanagerLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		if v == "" {
			continue
		}
		out[sanitizeLabelName(k)] = v
	}
	return out
}

func alertmanagerAnnotations(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[sanitizeLabelName(k)] = v
	}
	return out
}

// sanitizeLabelName maps a name onto [a-zA-Z_][a-zA-Z0-9_]*, the label names
// Alertmanager accepts, the way Prometheus remote write does.
func sanitizeLabelName(name string) string {
	valid := name != ""
	for i := 0; i < len(name) && valid; i++ {
		c := name[i]
		valid = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
	}
	if valid {
		return name
	}
	var b strings.Builder
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		b.WriteByte('_')
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// alertsURL appends the v2 alerts path to the configured base URL, keeping a
// path prefix (Alertmanager behind a reverse proxy) and the query.
func alertsURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint // rejected by Validate; the request fails with a clear error
	}
	u.Path = strings.TrimRight(u.Path, "/") + alertsPath
	u.RawPath = ""
	return u.String()
}
