#!/usr/bin/env bash
# `make run`: start the demo Go service, a canary instance of it that fails more requests,
# the pricing service both call (HTTP/1.1 and gRPC), and the collector (config/demo.yaml), drive some traffic to both, stop everything, and
# print what the collector captured, the canary's drift verdict included.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
  echo "make run loads eBPF programs: run it as root (or with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH)" >&2
  exit 1
fi
BIN=${OTELCOL_GOEBPF_BIN:-bin/otelcol-goebpf}
DEMO_PORT=${DEMO_PORT:-18080}
DEMO_CANARY_PORT=${DEMO_CANARY_PORT:-18081}
DEMO_PRICING_PORT=${DEMO_PRICING_PORT:-18090}
DEMO_PRICING_GRPC_PORT=${DEMO_PRICING_GRPC_PORT:-18091}
export DEMO_HEALTH_PORT=${DEMO_HEALTH_PORT:-18133}
export DEMO_OTLP_PORT=${DEMO_OTLP_PORT:-18317}
DEMO_DIR=$(mktemp -d /tmp/otelcol-goebpf-demo.XXXXXX)
export DEMO_DIR

# The service is a module of its own (config/demo/service/go.mod: its pure-Go SQLite
# driver stays out of the collector's module); its first build compiles the driver
# (about a minute on 2 cores), later ones come from the build cache.
(cd config/demo/service && go build -o "$DEMO_DIR/goebpf-demo" .)
# The traffic driver is the same program under another name, so that config/demo.yaml's
# exe_path glob (*/goebpf-demo) matches the service only.
cp "$DEMO_DIR/goebpf-demo" "$DEMO_DIR/goebpf-load"
# The pricing service is a second process, the same program run with -pricing under
# another name: its own exe_path in config/demo.yaml, its own service.name (the
# executable's name).
cp "$DEMO_DIR/goebpf-demo" "$DEMO_DIR/goebpf-pricing"
# The canary: the same service, run from canary/ (config/demo.yaml gives it its own
# service.version from that path), failing every 2nd order instead of every 10th.
mkdir "$DEMO_DIR/canary"
cp "$DEMO_DIR/goebpf-demo" "$DEMO_DIR/canary/goebpf-demo"
go build -o "$DEMO_DIR/demo-report" ./config/demo/report

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

"$DEMO_DIR/goebpf-pricing" -pricing -listen "127.0.0.1:$DEMO_PRICING_PORT" -grpc-listen "127.0.0.1:$DEMO_PRICING_GRPC_PORT" >"$DEMO_DIR/pricing.log" 2>&1 &
pids+=($!)
pricing=(-pricing-http "http://127.0.0.1:$DEMO_PRICING_PORT" -pricing-grpc "127.0.0.1:$DEMO_PRICING_GRPC_PORT")
"$DEMO_DIR/goebpf-demo" -listen "127.0.0.1:$DEMO_PORT" "${pricing[@]}" >"$DEMO_DIR/demo.log" 2>&1 &
pids+=($!)
"$DEMO_DIR/canary/goebpf-demo" -listen "127.0.0.1:$DEMO_CANARY_PORT" -fail-every 2 "${pricing[@]}" >"$DEMO_DIR/canary.log" 2>&1 &
pids+=($!)
"$BIN" --config config/demo.yaml >"$DEMO_DIR/collector.log" 2>&1 &
col=$!
pids+=($col)

echo "==> collector (pid $col) watching goebpf-demo on 127.0.0.1:$DEMO_PORT; logs in $DEMO_DIR"
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$DEMO_HEALTH_PORT/" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$col" 2>/dev/null; then echo "collector exited:" >&2; cat "$DEMO_DIR/collector.log" >&2; exit 1; fi
  sleep 0.2
done
# Wait until the receiver has attached its probes to the three demo processes.
# Attaching every probe set (HTTP, gRPC, SQL, stitching) can take a while on a
# loaded machine: wait up to 60 s, and say so if it never happens.
attached=0
for _ in $(seq 1 300); do
  attached=$(grep -c 'Instrumented process' "$DEMO_DIR/collector.log" || true)
  [ "$attached" -ge 3 ] && break
  sleep 0.2
done
if [ "$attached" -lt 3 ]; then
  echo "receiver instrumented $attached of 3 demo processes after 60 s; see $DEMO_DIR/collector.log" >&2
  exit 1
fi

echo "==> driving traffic (baseline 127.0.0.1:$DEMO_PORT, canary 127.0.0.1:$DEMO_CANARY_PORT)"
# Baseline and canary get their traffic at the same time, spread over 6 s (three drift
# intervals), as a canary rollout does: the drift test compares the two cohorts within
# each interval, so traffic sent to one and then to the other would never meet.
# 300 canary orders give it enough evidence for a verdict at the default significance
# (0.5 against 0.1 errors).
"$DEMO_DIR/goebpf-load" -load "http://127.0.0.1:$DEMO_PORT" -n 200 -over 6s >"$DEMO_DIR/load-baseline.out" &
lb=$!
"$DEMO_DIR/goebpf-load" -load "http://127.0.0.1:$DEMO_CANARY_PORT" -n 300 -over 6s >"$DEMO_DIR/load-canary.out" &
lc=$!
wait "$lb"; wait "$lc"
cat "$DEMO_DIR/load-baseline.out"
echo -n "canary: "; cat "$DEMO_DIR/load-canary.out"
sleep 7 # a metrics collection interval, drift verdicts (every 2 s) and the exporters' flush

kill -TERM "$col"; wait "$col" || true
echo
"$DEMO_DIR/demo-report" -dir "$DEMO_DIR"
