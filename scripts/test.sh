#!/usr/bin/env bash
# The project's test command: everything CI checks, from a fresh machine.
#   scripts/test.sh          formatting, lints, unit and integration tests,
#                            then the container image and Airbyte's own tests
#   scripts/test.sh --rust   only the Rust part (no Docker, no Python)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# One build from scratch: incremental caches would only cost disk.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# tests/hostile.rs measures the connector's peak memory with GNU time.
if [ ! -x /usr/bin/time ]; then
  step "installing GNU time (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit and integration tests against the sandbox)"
cargo test --workspace --locked

if [ "${1:-}" = "--rust" ]; then
  exit 0
fi

# The suites below run release builds only. On CI (FREE_DEBUG_BUILD=1, set
# by .ci/run) the debug build's gigabyte or more goes before the image and
# the virtualenvs need the disk; a developer's checkout keeps it.
if [ "${FREE_DEBUG_BUILD:-0}" = 1 ]; then
  step "freeing the debug build ($(du -sh target/debug 2>/dev/null | cut -f1))"
  rm -rf target/debug
fi
df -h . | tail -1

step "container image and Airbyte's tests"
bash scripts/airbyte/run-all.sh

step "Fivetran Connector SDK package (fivetran debug against the sandbox)"
bash scripts/fivetran/run-tests.sh

step "Meltano: tap-ecommerce under the real meltano CLI into PostgreSQL"
bash scripts/meltano/run-tests.sh
