#!/usr/bin/env bash
# Regenerate integration_tests/{expected_records.jsonl,sample_state.json,abnormal_state.json}
# from the sandbox (seed 42, default sizes), with the current connector.
#
#   scripts/airbyte/regenerate-fixtures.sh           write the fixtures that changed
#   scripts/airbyte/regenerate-fixtures.sh --check   only verify they are current (exit 1 if not)
#
# Starts its own sandbox on a free loopback port (so it never depends on, or
# disturbs, one already on 127.0.0.1:8788) and stops it on exit. Builds the
# release binaries first unless SKIP_BUILD=1. expected_records.jsonl is rewritten
# only when a record changed (emitted_at alone differs on every read).
# The generator (airbyte_fixtures.py) also checks that the connector reads
# nothing from the future state and exactly the later records from the sample state.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release --locked -p source-ecommerce -p ecommerce-sandbox)
fi

trap stop_sandbox EXIT
start_sandbox 127.0.0.1:0 "$WORK/fixtures-sandbox.log"
python3 "$here/airbyte_fixtures.py" --binary "$BIN" --base-url "$SANDBOX_URL" "$@"
