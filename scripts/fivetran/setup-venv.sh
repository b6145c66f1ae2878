#!/usr/bin/env bash
# Create (or reuse) the Python venv for the Fivetran checks: target/fivetran-venv with fivetran-connector-sdk (which
# brings the `fivetran` and `pipreqs` commands), duckdb and pytest, as pinned in scripts/fivetran/requirements.txt.
# Reused as long as requirements.txt is unchanged (a stamp file holds its checksum); otherwise rebuilt from scratch.
# Env: FIVETRAN_VENV (venv path), PYTHON (interpreter, default python3.11).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
VENV=${FIVETRAN_VENV:-$root/target/fivetran-venv}
PYTHON=${PYTHON:-python3.11}
req="$here/requirements.txt"
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
export DO_NOT_TRACK=1

if [ -x "$VENV/bin/fivetran" ] && [ -x "$VENV/bin/pipreqs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "venv $VENV is current"
  exit 0
fi
command -v "$PYTHON" >/dev/null || { echo "$PYTHON not found (set PYTHON)" >&2; exit 1; }
echo "creating $VENV with $("$PYTHON" --version)"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
"$VENV/bin/python" -c 'import fivetran_connector_sdk, duckdb, pytz'
[ -x "$VENV/bin/pipreqs" ] || { echo "pipreqs is missing from $VENV (fivetran debug runs it)" >&2; exit 1; }
echo "$want" >"$stamp"
echo "venv ready: $("$VENV/bin/pip" list 2>/dev/null | grep -E '^(fivetran.connector.sdk|duckdb|pytest) ' | tr -s ' ' | paste -sd, -)"
