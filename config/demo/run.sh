#!/usr/bin/env bash
# `make run`: start the demo Go service and the collector (config/demo.yaml), drive some
# traffic, stop both, and print what the collector captured.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
  echo "make run loads eBPF programs: run it as root (or with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH)" >&2
  exit 1
fi
BIN=${OTELCOL_GOEBPF_BIN:-bin/otelcol-goebpf}
DEMO_PORT=${DEMO_PORT:-18080}
export DEMO_HEALTH_PORT=${DEMO_HEALTH_PORT:-18133}
export DEMO_OTLP_PORT=${DEMO_OTLP_PORT:-18317}
DEMO_DIR=$(mktemp -d /tmp/otelcol-goebpf-demo.XXXXXX)
export DEMO_DIR

go build -o "$DEMO_DIR/goebpf-demo" ./config/demo/service
# The traffic driver is the same program under another name, so that config/demo.yaml's
# exe_path glob (*/goebpf-demo) matches the service only.
cp "$DEMO_DIR/goebpf-demo" "$DEMO_DIR/goebpf-load"
go build -o "$DEMO_DIR/demo-report" ./config/demo/report

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

"$DEMO_DIR/goebpf-demo" -listen "127.0.0.1:$DEMO_PORT" >"$DEMO_DIR/demo.log" 2>&1 &
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
# Wait until the receiver has attached its probes to the demo process.
for _ in $(seq 1 50); do
  grep -q 'Instrumented process' "$DEMO_DIR/collector.log" && break
  sleep 0.2
done

echo "==> driving traffic"
"$DEMO_DIR/goebpf-load" -load "http://127.0.0.1:$DEMO_PORT" -n 200
sleep 5 # one metrics collection interval and the exporters' flush

kill -TERM "$col"; wait "$col" || true
echo
"$DEMO_DIR/demo-report" -dir "$DEMO_DIR"
