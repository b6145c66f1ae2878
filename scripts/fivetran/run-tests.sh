#!/usr/bin/env bash
# Every Fivetran check of source-ecommerce, from a fresh machine (Rust toolchain, Python 3.11 + pip) or incrementally:
#   1. the venv target/fivetran-venv (setup-venv.sh: fivetran-connector-sdk 3.0, duckdb, pytest), reused while
#      scripts/fivetran/requirements.txt is unchanged
#   2. release binaries of the connector and the sandbox, the connector packaged into fivetran/bin (package.sh)
#   3. pytest: the translation's unit tests, then `fivetran debug` against the sandbox (syncs during writes equal the
#      truth, failures without secrets, memory of 100,000 orders)
# Exits non-zero if any step fails; bounded by TIMEOUT_SECONDS (default 480) for the tests.
# Env: FIVETRAN_VENV, PYTHON, CARGO_TARGET_DIR, SKIP_BUILD=1 (use the binaries as they are), TIMEOUT_SECONDS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${FIVETRAN_VENV:-$root/target/fivetran-venv}
target_dir=${CARGO_TARGET_DIR:-$root/target}
export DO_NOT_TRACK=1
# no __pycache__ left in the repository by the test modules
export PYTHONDONTWRITEBYTECODE=1
export ECOMMERCE_SANDBOX_BIN=${ECOMMERCE_SANDBOX_BIN:-$target_dir/release/ecommerce-sandbox}

step() { printf '\n==> %s\n' "$*"; }

step "venv"
FIVETRAN_VENV=$venv bash "$here/setup-venv.sh"

if [ "${SKIP_BUILD:-0}" = 1 ]; then
  step "SKIP_BUILD=1: using the binaries in $target_dir/release as they are"
else
  step "release binaries"
  # One cargo run for both, as scripts/airbyte builds them: the same features, so no second build of the connector.
  (cd "$root" && cargo build --release --locked -p source-ecommerce -p ecommerce-sandbox)
fi
step "package"
bash "$root/fivetran/package.sh" --no-build

step "pytest (fivetran debug against the sandbox)"
cd "$here"
# `fivetran` and `pipreqs` must be found on PATH by the SDK itself.
PATH="$venv/bin:$PATH" timeout --kill-after=30 "${TIMEOUT_SECONDS:-480}" \
  "$venv/bin/python" -m pytest -c "$here/pytest.ini" -v "$here"
