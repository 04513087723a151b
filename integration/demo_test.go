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
// runtime metrics, SLO burn and the alert it raises, and the canary's drift: the
// verdict and the CanaryDrift record.
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
		fmt.Sprintf("DEMO_CANARY_PORT=%d", freePort(t)),
		fmt.Sprintf("DEMO_PRICING_PORT=%d", freePort(t)),
		fmt.Sprintf("DEMO_PRICING_GRPC_PORT=%d", freePort(t)),
		fmt.Sprintf("DEMO_HEALTH_PORT=%d", freePort(t)),
		fmt.Sprintf("DEMO_OTLP_PORT=%d", freePort(t)),
	)
	outB, err := cmd.CombinedOutput()
	out := string(outB)
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	// Baseline: 200 orders (each a server span with an HTTP client child calling the
	// inventory server, which queries SQLite: a database client span; a second HTTP
	// client child calling goebpf-pricing's GET /price/ server; a gRPC client child
	// calling goebpf-pricing's health service) and 5 requests for a missing page: 405
	// server spans, 400 HTTP, 200 database and 200 gRPC client spans in goebpf-demo.
	// Canary (every 2nd order fails): 300 orders and 5 missing pages, 605 server
	// spans, 600 HTTP, 300 database and 300 gRPC client spans; its error ratio on
	// /orders/ (0.5 against 0.1) makes tail_sampling_drift declare it drifting.
	// goebpf-pricing: 500 GET /price/ and 500 gRPC server spans. 4010 spans.
	// Links: the 1000 HTTP and 500 gRPC client spans are children of their orders
	// server spans; (stitching, issue 16) the 500 inventory and 500 pricing server
	// spans are children of their HTTP client spans; the 500 database spans are
	// children of the inventory server spans; (gRPC stitching, by connection and
	// HTTP/2 stream id) the 500 gRPC server spans are children of their gRPC client
	// spans: 3500.
	wants := []string{
		"sent 205 requests: 180×200 5×404 20×500",
		"canary: sent 305 requests: 150×200 5×404 150×500",
		"== Spans: 4010 captured",
		"links: 3500 spans are children of a captured span; 510 continue a caller's trace (traceparent)",
		"go.goroutine.count",
		"slo.burn_rate{service=goebpf-demo slo=demo-availability window=1h}",
		"demo-availability burning",
		"goebpf-demo /orders/: cohort 1.1.0-canary vs baseline 1.0.0 on errors: DRIFTING",
		"CanaryDrift record: alert.state=firing alertname=CanaryDrift service=goebpf-demo key=/orders/ cohort=1.1.0-canary baseline=1.0.0 signal=errors",
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("demo output lacks %q", w)
		}
	}
	rows := map[string]*regexp.Regexp{
		"orders server spans, 20 errors":         regexp.MustCompile(`goebpf-demo\s+1\.0\.0\s+Server\s+GET /orders/\s+200\s+20\s`),
		"inventory server spans":                 regexp.MustCompile(`goebpf-demo\s+1\.0\.0\s+Server\s+GET /inventory/\s+200\s+0\s`),
		"client spans":                           regexp.MustCompile(`goebpf-demo\s+1\.0\.0\s+Client\s+GET\s+400\s+0\s`),
		"canary client spans":                    regexp.MustCompile(`goebpf-demo\s+1\.1\.0-canary\s+Client\s+GET\s+600\s+0\s`),
		"404s are not errors":                    regexp.MustCompile(`goebpf-demo\s+1\.0\.0\s+Server\s+GET\s+5\s+0\s`),
		"canary orders server spans, 150 errors": regexp.MustCompile(`goebpf-demo\s+1\.1\.0-canary\s+Server\s+GET /orders/\s+300\s+150\s`),
		"canary inventory server spans":          regexp.MustCompile(`goebpf-demo\s+1\.1\.0-canary\s+Server\s+GET /inventory/\s+300\s+0\s`),
		"database client spans":                  regexp.MustCompile(`goebpf-demo\s+1\.0\.0\s+Client\s+SELECT stock\s+200\s+0\s`),
		"canary database client spans":           regexp.MustCompile(`goebpf-demo\s+1\.1\.0-canary\s+Client\s+SELECT stock\s+300\s+0\s`),
		"gRPC client spans":                      regexp.MustCompile(`goebpf-demo\s+1\.0\.0\s+Client\s+grpc\.health\.v1\.Health/Check\s+200\s+0\s`),
		"canary gRPC client spans":               regexp.MustCompile(`goebpf-demo\s+1\.1\.0-canary\s+Client\s+grpc\.health\.v1\.Health/Check\s+300\s+0\s`),
		"pricing HTTP server spans":              regexp.MustCompile(`goebpf-pricing\s+1\.0\.0\s+Server\s+GET /price/\s+500\s+0\s`),
		"pricing gRPC server spans":              regexp.MustCompile(`goebpf-pricing\s+1\.0\.0\s+Server\s+grpc\.health\.v1\.Health/Check\s+500\s+0\s`),
		// One order's whole trace: orders server → HTTP client → inventory server
		// (stitched) → database client, with the sanitized statement; → HTTP client →
		// pricing server in the other process (stitched); → gRPC client → pricing's
		// gRPC server span (stitched by connection and HTTP/2 stream id).
		"an order's trace as a tree": regexp.MustCompile(`example trace [0-9a-f]{32} \(the first order that reached the database; 8 spans\):\n` +
			`\s+Server GET /orders/ .*\[goebpf-demo .*\n.*\n` +
			`\s+├─ Client GET .*\[goebpf-demo .*\n.*url\.full=http://127\.0\.0\.1:\d+/inventory/\d+\n` +
			`\s+│  └─ Server GET /inventory/ .*\[goebpf-demo .*\n.*\n` +
			`\s+│     └─ Client SELECT stock .*\n` +
			`\s+│           db\.collection\.name=stock db\.operation\.name=SELECT db\.query\.text=SELECT quantity FROM stock WHERE item = \? db\.system\.name=sqlite\n` +
			`\s+├─ Client GET .*\[goebpf-demo .*\n.*url\.full=http://127\.0\.0\.1:\d+/price/\d+\n` +
			`\s+│  └─ Server GET /price/ .*\[goebpf-pricing 1\.0\.0 pid=\d+\]\n.*\n` +
			`\s+└─ Client grpc\.health\.v1\.Health/Check .*\[goebpf-demo .*\n` +
			`\s+│\s+rpc\.grpc\.status_code=0 rpc\.method=Check rpc\.service=grpc\.health\.v1\.Health rpc\.system=grpc server\.address=127\.0\.0\.1 server\.port=\d+\n` +
			`\s+└─ Server grpc\.health\.v1\.Health/Check .*\[goebpf-pricing 1\.0\.0 pid=\d+\]\n` +
			`\s+client\.address=127\.0\.0\.1 client\.port=\d+ rpc\.grpc\.status_code=0 rpc\.method=Check rpc\.service=grpc\.health\.v1\.Health rpc\.system=grpc server\.address=127\.0\.0\.1 server\.port=\d+\n` +
			`\s+its gRPC call grpc\.health\.v1\.Health/Check reached the server span in the tree above\n`),
		// An alert's example trace is named by its entry span: a failed order.
		"alert example traces are failed orders": regexp.MustCompile(`example trace [0-9a-f]{32}: GET /orders/ status=Error http\.response\.status_code=500\n`),
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
