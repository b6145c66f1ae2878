#!/usr/bin/env bash
# The demo: starts the sandbox API on 127.0.0.1:8788, runs a full sync of
# every stream with integration_tests/sample_config.json, and prints a
# summary per stream. Output goes to target/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

ORDERS="${DEMO_ORDERS:-100000}"
out=target/demo
mkdir -p "$out"

echo "Building (release)..." >&2
cargo build --release --locked --quiet -p source-ecommerce -p ecommerce-sandbox

target/release/ecommerce-sandbox --listen 127.0.0.1:8788 --seed 42 \
  --customers 10000 --products 2000 --orders "$ORDERS" --order-events $((ORDERS * 2)) \
  --no-rate-limit 2>"$out/sandbox.log" &
sandbox=$!
trap 'kill "$sandbox" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "listening on" "$out/sandbox.log" && break
  kill -0 "$sandbox" 2>/dev/null || { cat "$out/sandbox.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "listening on" "$out/sandbox.log" || { echo "the sandbox did not start" >&2; exit 1; }

echo "Sandbox up with $ORDERS orders. Reading every stream..." >&2
start=$(date +%s.%N)
set +e
target/release/source-ecommerce read \
  --config integration_tests/sample_config.json \
  --catalog integration_tests/configured_catalog_full_refresh.json \
  >"$out/messages.jsonl"
status=$?
set -e
end=$(date +%s.%N)
python3 scripts/summarize.py "$out/messages.jsonl" "$start" "$end"
echo "Messages: $out/messages.jsonl (exit status $status)" >&2
exit "$status"
