#!/usr/bin/env bash
# Create (or reuse) the Python venv for the Airbyte checks: target/airbyte-venv
# with airbyte-cdk (standard test suites), airbyte (PyAirbyte) and pytest, as
# pinned in scripts/airbyte/requirements.txt. Reused as long as requirements.txt
# is unchanged (a stamp file holds its checksum); otherwise rebuilt from scratch.
# Env: AIRBYTE_VENV (venv path), PYTHON (interpreter, default python3.11).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

PYTHON=${PYTHON:-python3.11}
req="$here/requirements.txt"
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "venv $VENV is current ($(cd "$VENV" && bin/python -c 'import airbyte_cdk.test.standard_tests, airbyte' 2>&1 && echo ok))"
  exit 0
fi
command -v "$PYTHON" >/dev/null || { log "$PYTHON not found (set PYTHON)"; exit 1; }
log "creating $VENV with $("$PYTHON" --version) and installing $(grep -c '^[a-z]' "$req") pinned packages"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
"$VENV/bin/python" -c 'import airbyte_cdk.test.standard_tests, airbyte'
echo "$want" >"$stamp"
log "venv ready: $("$VENV/bin/pip" list 2>/dev/null | grep -E '^(airbyte|airbyte-cdk|pytest) ' | tr -s ' ' | paste -sd, -)"
