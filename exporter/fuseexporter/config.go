package fuseexporter // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

const (
	defaultResendInterval  = time.Minute
	defaultMaxActiveAlerts = 10000
	defaultHTTPTimeout     = 10 * time.Second
)

// Config is the configuration of the fuse exporter.
type Config struct {
	// QueueConfig is the exporter helper's sending queue. Each destination gets
	// its own queue with these settings, so a slow webhook never delays
	// Alertmanager. num_consumers defaults to 1 so alert state changes reach a
	// destination in the order they happened.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	// RetryConfig is the exporter helper's retry policy, applied per destination
	// to retryable failures (network errors, 408, 429, 5xx).
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Alertmanager delivers alerts to a Prometheus Alertmanager's v2 API.
	Alertmanager configoptional.Optional[AlertmanagerConfig] `mapstructure:"alertmanager"`

	// Webhooks receive every alert record as a signed JSON document.
	Webhooks []WebhookConfig `mapstructure:"webhooks"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// AlertmanagerConfig is one Alertmanager destination.
type AlertmanagerConfig struct {
	// ClientConfig is the HTTP client: endpoint (the base URL, e.g.
	// http://127.0.0.1:9093; /api/v2/alerts is appended), TLS, auth, headers,
	// timeout (default 10s).
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`

	// ResendInterval is how often the exporter re-sends every firing alert to
	// renew its lease (default 1m).
	ResendInterval time.Duration `mapstructure:"resend_interval"`

	// Lease is how far in the future endsAt is set on each send of a firing
	// alert; Alertmanager resolves the alert by itself when the lease runs out
	// (the collector stopped, or lost its state). Default 4 × resend_interval.
	Lease time.Duration `mapstructure:"lease"`

	// SharedAlerts is for several collectors that send the same alerts, such as
	// gateways that each compute an SLO on their share of the traffic. A resolve
	// then only stops this collector's lease renewals instead of resolving the
	// alert in Alertmanager, which would end it for every collector (Alertmanager
	// merges alerts with the same labels and takes a resolve as final). The alert
	// stays firing while any collector renews it and resolves once the last lease
	// runs out: up to lease after the last collector stopped firing.
	SharedAlerts bool `mapstructure:"shared_alerts"`

	// MaxActiveAlerts bounds the firing alerts held for lease renewal (default
	// 10000). A firing alert beyond the bound is still sent once, counted in
	// otelcol_fuse_alerts_untracked, and expires at the end of its first lease.
	MaxActiveAlerts int `mapstructure:"max_active_alerts"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// WebhookConfig is one webhook destination.
type WebhookConfig struct {
	// ClientConfig is the HTTP client: endpoint (the full URL that receives the
	// POST), TLS, auth, headers, timeout (default 10s when 0).
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`

	// Secret is the HMAC-SHA256 key of the X-Fuse-Signature header. Required;
	// never logged. Use ${env:FUSE_SECRET} to keep it out of the config file.
	Secret configopaque.String `mapstructure:"secret"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// leaseDuration returns the effective lease.
func (c *AlertmanagerConfig) leaseDuration() time.Duration {
	if c.Lease > 0 {
		return c.Lease
	}
	return 4 * c.ResendInterval
}

// Validate checks the configuration; errors name the field and the bad value.
func (cfg *Config) Validate() error {
	var errs []error
	am := cfg.Alertmanager.Get()
	if am == nil && len(cfg.Webhooks) == 0 {
		errs = append(errs, errors.New("no destination: set alertmanager.endpoint or at least one entry in webhooks"))
	}
	if am != nil {
		if err := validateEndpoint(am.ClientConfig.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("alertmanager.endpoint: %w", err))
		}
		if am.ResendInterval <= 0 {
			errs = append(errs, fmt.Errorf("alertmanager.resend_interval must be positive, got %s", am.ResendInterval))
		}
		if am.Lease < 0 {
			errs = append(errs, fmt.Errorf("alertmanager.lease must not be negative, got %s", am.Lease))
		} else if am.Lease > 0 && am.Lease <= am.ResendInterval {
			errs = append(errs, fmt.Errorf("alertmanager.lease (%s) must be longer than alertmanager.resend_interval (%s), or a firing alert resolves between renewals", am.Lease, am.ResendInterval))
		}
		if am.MaxActiveAlerts <= 0 {
			errs = append(errs, fmt.Errorf("alertmanager.max_active_alerts must be positive, got %d", am.MaxActiveAlerts))
		}
	}
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		if err := validateEndpoint(w.ClientConfig.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d].endpoint: %w", i, err))
		}
		if w.Secret == "" {
			errs = append(errs, fmt.Errorf("webhooks[%d].secret is empty: every webhook is signed (an unset ${env:...} variable yields an empty secret)", i))
		}
	}
	if q := cfg.QueueConfig.Get(); q != nil && q.StorageID != nil && destinationCount(cfg) > 1 {
		errs = append(errs, fmt.Errorf("sending_queue.storage (%s) supports a single destination, got %d: use one fuse exporter per destination", q.StorageID, destinationCount(cfg)))
	}
	return errors.Join(errs...)
}

func destinationCount(cfg *Config) int {
	n := len(cfg.Webhooks)
	if cfg.Alertmanager.HasValue() {
		n++
	}
	return n
}

func validateEndpoint(endpoint string) error {
	if endpoint == "" {
		return errors.New("is empty")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%q does not parse: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", endpoint)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", endpoint)
	}
	return nil
}
