#!/usr/bin/env bash
# Every Airbyte check of source-ecommerce, from a fresh machine (Rust toolchain,
# Python 3.11 + pip, apt, a Docker engine with no images) or incrementally:
#
#   1. release binaries (cargo build --release --locked -p source-ecommerce -p ecommerce-sandbox)
#   2. the image (scripts/docker/build-image.sh -> source-ecommerce:dev)
#   3. the Python venv (scripts/airbyte/setup-venv.sh -> target/airbyte-venv)
#   4. the sandbox API on 127.0.0.1:8788 (seed 42, default sizes, --no-rate-limit),
#      stopped on exit
#   5. fixtures: integration_tests/ still equal what the connector emits
#      (regenerate-fixtures.sh --check, on a private sandbox)
#   6. image proof (image-proof.sh)
#   7. Airbyte's standard test suites (airbyte-cdk) + the CAT checks they do not
#      run (pytest scripts/airbyte/test_standard_suites.py test_cat_equivalents.py)
#   8. PyAirbyte into DuckDB, row counts = sandbox truth (test_pyairbyte.py)
#   9. the warehouse test: incremental PyAirbyte syncs into DuckDB against a
#      private sandbox with mixed offsets, writes and late events; the tables
#      equal the truth, timestamps as true instants (test_warehouse.py)
#
# Exits non-zero if any step fails; a summary lists every step with its time.
# Steps 5-9 all run even if one of them fails. Re-runs reuse the cargo target
# dir, Docker's layer cache and base images, and the venv.
# Env: SKIP_BUILD=1 (steps 1-2: use the existing binaries and image),
#      IMAGE_TAG, CARGO_TARGET_DIR, AIRBYTE_VENV, CARGO_BUILD_JOBS, PYTHON.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

export IMAGE_TAG=$IMAGE SOURCE_ECOMMERCE_BIN=$BIN
logs="$WORK/logs"
mkdir -p "$logs"
t_start=$(date +%s)
summary=()
failed=0
passed=0

trap 'stop_sandbox' EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# step NAME FATAL CMD...: run CMD, output to the console and $logs/NAME.log.
step() {
  local name=$1 fatal=$2
  shift 2
  local t0 status
  t0=$(date +%s)
  printf '\n===== %s =====\n' "$name"
  "$@" 2>&1 | tee "$logs/$name.log"
  status=${PIPESTATUS[0]}
  local secs=$(( $(date +%s) - t0 ))
  if [ "$status" -eq 0 ]; then
    summary+=("PASS  $(printf '%-16s %5ss' "$name" "$secs")")
    passed=$((passed + 1))
  else
    summary+=("FAIL  $(printf '%-16s %5ss' "$name" "$secs")  (exit $status, log $logs/$name.log)")
    failed=$((failed + 1))
    if [ "$fatal" = fatal ]; then finish; fi
  fi
  return 0
}

finish() {
  local total=$(( $(date +%s) - t_start ))
  printf '\n===== summary (%dm%02ds) =====\n' $((total / 60)) $((total % 60))
  printf '%s\n' "${summary[@]}"
  echo "run-all: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}

prerequisites() {
  local missing=0 tool
  for tool in cargo docker "${PYTHON:-python3.11}" python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool"; missing=1; }
  done
  docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer (docker info)"; missing=1; }
  [ "$missing" -eq 0 ] && echo "cargo, docker, python: present"
}

build_binaries() {
  (cd "$ROOT" && cargo build --release --locked -p source-ecommerce -p ecommerce-sandbox) &&
    ls -l "$BIN" "$SANDBOX_BIN"
}

build_image() { bash "$ROOT/scripts/docker/build-image.sh"; }

sandbox() {
  start_sandbox 127.0.0.1:8788 "$WORK/sandbox.log" &&
    curl -fsS "$SANDBOX_URL/v1/health" && echo
}

pytest_run() {
  (cd "$ROOT" && "$VENV/bin/pytest" -c scripts/airbyte/pytest.ini --junitxml="$logs/$1.xml" "${@:2}")
}

step prerequisites fatal prerequisites
if [ "${SKIP_BUILD:-0}" = 1 ]; then
  echo "SKIP_BUILD=1: using $BIN, $SANDBOX_BIN and $IMAGE as they are"
else
  step binaries fatal build_binaries
  step image fatal build_image
fi
step venv fatal bash "$here/setup-venv.sh"
# In the foreground (not through step's pipe), so that SANDBOX_PID is set here.
t0=$(date +%s)
printf '\n===== sandbox =====\n'
if sandbox 2>&1; then
  summary+=("PASS  $(printf '%-16s %5ss' sandbox "$(( $(date +%s) - t0 ))")  $SANDBOX_URL pid $SANDBOX_PID")
  passed=$((passed + 1))
else
  summary+=("FAIL  $(printf '%-16s %5ss' sandbox "$(( $(date +%s) - t0 ))")  (is 127.0.0.1:8788 taken? see $WORK/sandbox.log)")
  failed=$((failed + 1))
  finish
fi

step fixtures keep env SKIP_BUILD=1 bash "$here/regenerate-fixtures.sh" --check
step image-proof keep bash "$here/image-proof.sh"
step airbyte-suites keep pytest_run airbyte-suites scripts/airbyte/test_standard_suites.py scripts/airbyte/test_cat_equivalents.py -v
step pyairbyte keep pytest_run pyairbyte scripts/airbyte/test_pyairbyte.py -v
step warehouse keep pytest_run warehouse scripts/airbyte/test_warehouse.py -v
finish
