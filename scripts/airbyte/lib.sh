# Shared helpers for scripts/airbyte/*.sh (sourced, not run).
#
# Paths:   ROOT (repo root), BIN (connector binary), SANDBOX_BIN, WORK (scratch
#          dir under target/, never committed), VENV (Python venv with
#          airbyte-cdk, airbyte (PyAirbyte) and pytest).
# Sandbox: start_sandbox LISTEN LOG [extra flags...] starts ecommerce-sandbox
#          with seed 42, the default sizes and no rate limit, waits until it
#          listens, and sets SANDBOX_PID and SANDBOX_URL (the address it really
#          listens on, so LISTEN may use port 0). stop_sandbox ends that process
#          (by its pid only).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${SOURCE_ECOMMERCE_BIN:-$TARGET_DIR/release/source-ecommerce}
SANDBOX_BIN=${ECOMMERCE_SANDBOX_BIN:-$TARGET_DIR/release/ecommerce-sandbox}
WORK=${AIRBYTE_WORK_DIR:-$ROOT/target/airbyte-work}
VENV=${AIRBYTE_VENV:-$ROOT/target/airbyte-venv}
IMAGE=${IMAGE_TAG:-source-ecommerce:dev}
mkdir -p "$WORK"

SANDBOX_PID=
SANDBOX_URL=

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

start_sandbox() {
  local listen=$1 logfile=$2
  shift 2
  [ -x "$SANDBOX_BIN" ] || { log "no sandbox binary at $SANDBOX_BIN (build it first)"; return 1; }
  "$SANDBOX_BIN" --listen "$listen" --seed 42 --no-rate-limit "$@" >"$logfile" 2>&1 &
  SANDBOX_PID=$!
  local i
  for i in $(seq 1 300); do
    if grep -q "listening on" "$logfile" 2>/dev/null; then
      SANDBOX_URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$logfile" | head -n1)
      log "sandbox pid $SANDBOX_PID listening on $SANDBOX_URL (seed 42${*:+ $*})"
      return 0
    fi
    if ! kill -0 "$SANDBOX_PID" 2>/dev/null; then
      log "the sandbox exited before listening:"; cat "$logfile" >&2
      SANDBOX_PID=
      return 1
    fi
    sleep 0.1
  done
  log "the sandbox did not start listening within 30 s"
  stop_sandbox
  return 1
}

stop_sandbox() {
  if [ -n "${SANDBOX_PID:-}" ]; then
    kill "$SANDBOX_PID" 2>/dev/null || true
    wait "$SANDBOX_PID" 2>/dev/null || true
    SANDBOX_PID=
  fi
}
