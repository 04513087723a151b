package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// `make run` is the README's first command: the demo must show spans, their links,
// runtime metrics, SLO burn and the alert it raises.
func TestDemoRunShowsWhatWasCaptured(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	bin := collectorBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "config/demo/run.sh")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(),
		"OTELCOL_GOEBPF_BIN="+bin,
		fmt.Sprintf("DEMO_PORT=%d", freePort(t)),
		fmt.Sprintf("DEMO_HEALTH_PORT=%d", freePort(t)),
		fmt.Sprintf("DEMO_OTLP_PORT=%d", freePort(t)),
	)
	outB, err := cmd.CombinedOutput()
	out := string(outB)
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	// 200 orders (each a server span with a client child calling the inventory server)
	// and 5 requests for a missing page: 405 server spans and 200 client spans.
	wants := []string{
		"sent 205 requests: 180×200 5×404 20×500",
		"== Spans: 605 captured",
		"links: 200 spans are children of a captured span; 205 continue a caller's trace (traceparent)",
		"go.goroutine.count",
		"slo.burn_rate{service=goebpf-demo slo=demo-availability window=1h}",
		"demo-availability burning",
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("demo output lacks %q", w)
		}
	}
	rows := map[string]*regexp.Regexp{
		"orders server spans, 20 errors": regexp.MustCompile(`goebpf-demo\s+Server\s+GET /orders/\s+200\s+20\s`),
		"inventory server spans":         regexp.MustCompile(`goebpf-demo\s+Server\s+GET /inventory/\s+200\s+0\s`),
		"client spans":                   regexp.MustCompile(`goebpf-demo\s+Client\s+GET\s+200\s+0\s`),
		"404s are not errors":            regexp.MustCompile(`goebpf-demo\s+Server\s+GET\s+5\s+0\s`),
	}
	for what, re := range rows {
		if !re.MatchString(out) {
			t.Errorf("demo output lacks the row for %s (%s)", what, re)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}
