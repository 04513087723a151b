package fuseexporter // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

// destination is one place alerts go to.
type destination interface {
	kind() string
	endpoint() string
	start(ctx context.Context, host component.Host, set component.TelemetrySettings) error
	// push delivers the alert records of ld; the retry sender calls it again
	// on a retryable error, so it must be safe to repeat.
	push(ctx context.Context, ld plog.Logs) error
	shutdown(ctx context.Context) error
}

// route carries records to one destination through two exporter helpers:
//
//	queued (sending_queue, exporter telemetry) → deliver → retried (retry_on_failure) → push
//
// Splitting them lets deliver see the outcome after the last retry, which the
// helper does not report otherwise, to count it in otelcol_fuse_deliveries_failed.
// Each destination has its own queue, so a failing webhook neither delays
// Alertmanager nor makes it receive duplicates when the webhook is retried.
type route struct {
	dest    destination
	queued  exporter.Logs
	retried exporter.Logs
	attrs   metric.MeasurementOption
}

// fuseExporter fans alert records out to its routes.
type fuseExporter struct {
	set       exporter.Settings
	telemetry *metadata.TelemetryBuilder
	routes    []*route
	am        *alertmanagerDestination // nil without alertmanager; tests drive its clock

	// abortDeliveries cancels in-flight deliveries when Shutdown's context
	// ends, so the queues drain at once instead of waiting for HTTP timeouts.
	abortCtx        context.Context
	abortDeliveries context.CancelFunc
}

var ignoredNotAlert = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "not_alert")))
var ignoredMalformed = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "malformed")))

func newFuseExporter(ctx context.Context, set exporter.Settings, cfg *Config) (*fuseExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("fuse telemetry: %w", err)
	}
	e := &fuseExporter{set: set, telemetry: tb}
	e.abortCtx, e.abortDeliveries = context.WithCancel(context.Background())
	var dests []destination
	if am := cfg.Alertmanager.Get(); am != nil {
		var retryFor time.Duration
		if cfg.RetryConfig.Enabled {
			retryFor = cfg.RetryConfig.MaxElapsedTime
		}
		e.am = newAlertmanagerDestination(am, retryFor, set.Logger, tb)
		dests = append(dests, e.am)
	}
	for i := range cfg.Webhooks {
		dests = append(dests, newWebhookDestination(&cfg.Webhooks[i], tb))
	}
	if err := tb.RegisterFuseAlertsActiveCallback(func(_ context.Context, o metric.Int64Observer) error {
		if e.am != nil {
			o.Observe(e.am.activeAlerts())
		}
		return nil
	}); err != nil {
		tb.Shutdown()
		return nil, fmt.Errorf("fuse telemetry: %w", err)
	}
	for _, d := range dests {
		r, err := newRoute(ctx, set, cfg, d, tb, e.abortCtx)
		if err != nil {
			tb.Shutdown()
			return nil, err
		}
		e.routes = append(e.routes, r)
	}
	return e, nil
}

func newRoute(ctx context.Context, set exporter.Settings, cfg *Config, d destination, tb *metadata.TelemetryBuilder, abortCtx context.Context) (*route, error) {
	r := &route{dest: d, attrs: destinationAttrs(d.kind(), d.endpoint())}
	destAttrs := []attribute.KeyValue{attribute.String("destination", d.kind()), attribute.String("endpoint", d.endpoint())}

	// The inner helper only retries: its telemetry is silenced so the
	// exporter's sent/failed counts are recorded once, by the queued helper.
	retrySet := set
	// Its per-attempt retry logs are kept; its error log of the final failure
	// is dropped because the queued helper logs that same failure.
	retrySet.Logger = set.Logger.
		With(zap.String("destination", d.kind()), zap.String("endpoint", d.endpoint())).
		WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return belowErrorCore{c} }))
	retrySet.MeterProvider = metricnoop.NewMeterProvider()
	retrySet.TracerProvider = tracenoop.NewTracerProvider()
	retried, err := exporterhelper.NewLogs(ctx, retrySet, cfg, d.push,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}), // the HTTP client's timeout applies per attempt
		exporterhelper.WithRetry(cfg.RetryConfig),
	)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", d.kind(), d.endpoint(), err)
	}
	r.retried = retried

	deliver := func(ctx context.Context, ld plog.Logs) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(abortCtx, cancel)()
		err := r.retried.ConsumeLogs(ctx, ld)
		if err != nil {
			tb.FuseDeliveriesFailed.Add(ctx, 1, r.attrs)
			// The queued helper logs this error once ("Exporting failed.
			// Dropping data."), so it names the destination here.
			return fmt.Errorf("fuse %s delivery to %s failed: %w", d.kind(), d.endpoint(), err)
		}
		return nil
	}
	queued, err := exporterhelper.NewLogs(ctx, set, cfg, deliver,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithQueue(cfg.QueueConfig),
		exporterhelper.WithAttrs(destAttrs...),
	)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", d.kind(), d.endpoint(), err)
	}
	r.queued = queued
	return r, nil
}

func (e *fuseExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (e *fuseExporter) Start(ctx context.Context, host component.Host) error {
	for _, r := range e.routes {
		if err := r.dest.start(ctx, host, e.set.TelemetrySettings); err != nil {
			return err
		}
		if err := r.retried.Start(ctx, host); err != nil {
			return fmt.Errorf("%s %s: %w", r.dest.kind(), r.dest.endpoint(), err)
		}
		if err := r.queued.Start(ctx, host); err != nil {
			return fmt.Errorf("%s %s: %w", r.dest.kind(), r.dest.endpoint(), err)
		}
	}
	return nil
}

// Shutdown stops lease renewal, then retrying, so draining the queues gives
// every pending request one last attempt instead of a full backoff schedule.
// When ctx ends first, in-flight deliveries are aborted.
func (e *fuseExporter) Shutdown(ctx context.Context) error {
	defer context.AfterFunc(ctx, e.abortDeliveries)()
	var errs []error
	for _, r := range e.routes {
		errs = append(errs, r.dest.shutdown(ctx))
	}
	for _, r := range e.routes {
		errs = append(errs, r.retried.Shutdown(ctx))
	}
	for _, r := range e.routes {
		errs = append(errs, r.queued.Shutdown(ctx))
	}
	e.abortDeliveries()
	e.telemetry.Shutdown()
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("fuse exporter shutdown: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// ConsumeLogs counts the records that are not alerts once, then hands the
// alert records to every destination's queue.
func (e *fuseExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	total := int64(ld.LogRecordCount())
	e.telemetry.FuseRecordsReceived.Add(ctx, total)
	var notAlert, malformed int64
	forEachRecord(ld, func(lr plog.LogRecord) {
		if !e.isAlert(lr) {
			if lr.EventName() != alertEventName {
				notAlert++
			} else {
				malformed++
			}
		}
	})
	if notAlert > 0 {
		e.telemetry.FuseRecordsIgnored.Add(ctx, notAlert, ignoredNotAlert)
	}
	if malformed > 0 {
		e.telemetry.FuseRecordsIgnored.Add(ctx, malformed, ignoredMalformed)
	}
	if notAlert+malformed == total {
		return nil
	}
	if notAlert+malformed > 0 {
		// Only alerts enter the queues, so the exporter helper's sent and
		// failed counts are counts of alerts.
		ld = alertsOf(ld)
	}
	var errs []error
	for i, r := range e.routes {
		data := ld
		// A queue with batching moves records between requests; each
		// destination needs a batch of its own.
		if i < len(e.routes)-1 {
			data = plog.NewLogs()
			ld.CopyTo(data)
		}
		errs = append(errs, r.queued.ConsumeLogs(ctx, data))
	}
	return errors.Join(errs...)
}

// isAlert: lr is a well-formed alert record.
func (e *fuseExporter) isAlert(lr plog.LogRecord) bool {
	// Most records of a shared logs pipeline are not alerts: test the
	// event name before converting anything.
	if lr.EventName() != alertEventName {
		return false
	}
	if _, err := alertFromRecord(lr); err != nil {
		e.set.Logger.Debug("Ignoring malformed alert record", zap.Error(err))
		return false
	}
	return true
}

// alertsOf copies the well-formed alert records of ld, with their resources and
// scopes, into a batch of their own (ld is not ours to change).
func alertsOf(ld plog.Logs) plog.Logs {
	out := plog.NewLogs()
	for _, rl := range ld.ResourceLogs().All() {
		var dstRL plog.ResourceLogs
		haveRL := false
		for _, sl := range rl.ScopeLogs().All() {
			var dstSL plog.ScopeLogs
			haveSL := false
			for _, lr := range sl.LogRecords().All() {
				if lr.EventName() != alertEventName {
					continue
				}
				if _, err := alertFromRecord(lr); err != nil {
					continue
				}
				if !haveRL {
					dstRL, haveRL = out.ResourceLogs().AppendEmpty(), true
					rl.Resource().CopyTo(dstRL.Resource())
					dstRL.SetSchemaUrl(rl.SchemaUrl())
				}
				if !haveSL {
					dstSL, haveSL = dstRL.ScopeLogs().AppendEmpty(), true
					sl.Scope().CopyTo(dstSL.Scope())
					dstSL.SetSchemaUrl(sl.SchemaUrl())
				}
				lr.CopyTo(dstSL.LogRecords().AppendEmpty())
			}
		}
	}
	return out
}

// belowErrorCore passes log entries below error level only.
type belowErrorCore struct{ zapcore.Core }

func (c belowErrorCore) Enabled(l zapcore.Level) bool {
	return l < zapcore.ErrorLevel && c.Core.Enabled(l)
}

func (c belowErrorCore) With(fields []zapcore.Field) zapcore.Core {
	return belowErrorCore{c.Core.With(fields)}
}

func (c belowErrorCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level >= zapcore.ErrorLevel {
		return ce
	}
	return c.Core.Check(e, ce)
}
