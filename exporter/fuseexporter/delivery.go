package fuseexporter // import "github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxErrorBody bounds how much of an error response ends up in an error.
const maxErrorBody = 512

// postJSON sends body to url and classifies the outcome for the exporter
// helper's retry sender: a 4xx other than 408 and 429 means the request itself
// is wrong and will not succeed later, so it is permanent; 408, 429, 5xx and
// transport errors are retried, honouring Retry-After.
//
// display is the endpoint as errors show it (see displayEndpoint).
func postJSON(ctx context.Context, client *http.Client, target, display string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("build request for %s: %w", display, err))
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		// url.Error repeats the full URL, query included; keep only the cause.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return fmt.Errorf("POST %s: %w", display, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	// Drain the rest so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	statusErr := fmt.Errorf("POST %s: %s: %s", display, resp.Status, bytes.TrimSpace(snippet))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if delay, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return exporterhelper.NewThrottleRetry(statusErr, delay)
		}
		return statusErr
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return statusErr
	default:
		return consumererror.NewPermanent(statusErr)
	}
}

// retryAfter parses a Retry-After header in seconds or as an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d, true
		}
	}
	return 0, false
}

// displayEndpoint is the endpoint without user info and query, which may carry
// credentials, for logs, errors and metric attributes.
func displayEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "<unparsable endpoint>"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// destinationAttrs are the attributes of the fuse metrics for one destination.
func destinationAttrs(kind, display string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(
		attribute.String("destination", kind),
		attribute.String("endpoint", display),
	))
}
