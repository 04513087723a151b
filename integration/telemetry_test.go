package integration

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// telemetryConfig is the service.telemetry block of a collector whose own metrics are
// served in the Prometheus text format on 127.0.0.1:port.
func telemetryConfig(port int) string {
	return fmt.Sprintf(`  telemetry:
    metrics:
      level: detailed
      readers:
        - pull: { exporter: { prometheus: { host: 127.0.0.1, port: %d } } }
`, port)
}

// selfMetric sums the samples of a collector's own metric name (with or without the
// _total suffix Prometheus gives counters) whose labels include every label="value"
// in want. A metric not (yet) exported sums to 0.
func selfMetric(t *testing.T, port int, name string, want ...string) float64 {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatalf("scrape collector metrics on port %d: %v", port, err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metric, labels, _ := strings.Cut(series, "{")
		if metric != name && metric != name+"_total" {
			continue
		}
		matched := true
		for _, w := range want {
			if !strings.Contains(labels, w) {
				matched = false
			}
		}
		if !matched {
			continue
		}
		// Past the value may come a timestamp.
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read collector metrics: %v", err)
	}
	return sum
}
