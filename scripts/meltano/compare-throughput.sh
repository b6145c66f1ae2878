#!/usr/bin/env bash
# Records/s of the Singer tap and of the Airbyte binary on the same sandbox
# data: a full read of all four streams, stdout to /dev/null, release builds,
# runs alternated so that both see the same machine load. Prints the median
# wall time of each. Env: ORDERS (default 300000; customers, products and
# events scale as in the benchmark), RUNS (default 3), NO_BUILD=1 to use the
# release binaries as they are.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REL=${CARGO_TARGET_DIR:-$ROOT/target}/release
ORDERS=${ORDERS:-300000}
RUNS=${RUNS:-3}
WORK=$ROOT/target/meltano-throughput
mkdir -p "$WORK"
[ "${NO_BUILD:-}" = 1 ] || (cd "$ROOT" && cargo build --release --locked -p source-ecommerce -p ecommerce-sandbox)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$REL/ecommerce-sandbox" --listen "127.0.0.1:$port" --seed 42 --no-rate-limit --orders "$ORDERS" \
  --customers $((ORDERS / 10)) --products $((ORDERS / 100)) --order-events $((ORDERS * 2)) >"$WORK/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do grep -q "listening on" "$WORK/sandbox.log" && break; sleep 0.1; done
cat >"$WORK/config.json" <<JSON
{"base_url": "http://127.0.0.1:$port", "credentials": {"auth_type": "api_key", "api_key": "sk_test_sandbox_0123456789"}}
JSON
"$REL/tap-ecommerce" --config "$WORK/config.json" --discover >"$WORK/singer-catalog.json"
"$REL/source-ecommerce" discover --config "$WORK/config.json" |
  python3 -c 'import json,sys; c=[json.loads(l) for l in sys.stdin if "\"CATALOG\"" in l][0]["catalog"]; print(json.dumps({"streams": [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for s in c["streams"]]}))' \
  >"$WORK/airbyte-catalog.json"
records=$("$REL/tap-ecommerce" --config "$WORK/config.json" --catalog "$WORK/singer-catalog.json" 2>/dev/null | grep -c '"type":"RECORD"')
echo "records per full read: $records"
time_run() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
singer=() airbyte=()
for _ in $(seq 1 "$RUNS"); do
  airbyte+=("$(time_run "$REL/source-ecommerce" read --config "$WORK/config.json" --catalog "$WORK/airbyte-catalog.json")")
  singer+=("$(time_run "$REL/tap-ecommerce" --config "$WORK/config.json" --catalog "$WORK/singer-catalog.json")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
for name in airbyte singer; do
  declare -n runs=$name
  m=$(median "${runs[@]}")
  printf '%-8s median %6.2f s  %8.0f records/s  (runs: %s)\n' "$name" "$m" "$(echo "$records / $m" | bc -l)" "${runs[*]}"
done
