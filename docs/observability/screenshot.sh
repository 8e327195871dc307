#!/usr/bin/env bash
# Reproduces docs/observability-prometheus.png, a documentation step (not CI): two remote HelloEnclave enclaves under
# load-demo.cs's load, their proxies scraped by a real Prometheus, its graph page shot by headless Chromium.
# Loopback only, and bounded: the load stops after LOAD_SECONDS (default 70), everything started here is stopped on exit.
# Needs: apt-get install -y prometheus chromium
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${LOAD_SECONDS:-70}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

dotnet build src/Cloister.Cli -c Release -v quiet -nologo   # HelloEnclave's build output, next to the tool
prometheus --config.file=docs/observability/prometheus.yml --web.listen-address=127.0.0.1:9090 \
  --storage.tsdb.path="$work/tsdb" > "$work/prometheus.log" 2>&1 &
pids+=($!)
dotnet run docs/observability/load-demo.cs -- --seconds "$seconds" | tee "$work/load.log"

# The graph page, two panels: calls/s and p99 latency per enclave, over the last two minutes.
sel='cloister_call_side="proxy",cloister_call_direction="entry"'
q0="sum by (cloister_enclave_name) (rate(cloister_calls_completed_total{$sel}[10s]))"
q1="histogram_quantile(0.99, sum by (le, cloister_enclave_name) (rate(cloister_call_duration_seconds_bucket{$sel}[10s])))"
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
url="http://127.0.0.1:9090/graph?g0.expr=$(enc "$q0")&g0.tab=0&g0.stacked=0&g0.range_input=2m&g1.expr=$(enc "$q1")&g1.tab=0&g1.stacked=0&g1.range_input=2m"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$work/chromium" --hide-scrollbars \
  --window-size=1400,1500 --virtual-time-budget=20000 --screenshot="$PWD/docs/observability-prometheus.png" "$url"
echo "wrote docs/observability-prometheus.png"
