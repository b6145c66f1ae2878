#!/usr/bin/env bash
# The Meltano test: the real meltano CLI runs tap-ecommerce into a real
# PostgreSQL through meltanolabs-target-postgres, against the sandbox under
# concurrent writes, several times with Meltano's own state backend carrying
# the state; then writes stop, one more run, and every loaded table must equal
# the sandbox's truth (nothing lost, nothing stale). Also checks that Meltano
# accepts the tap's --discover output (select --list shows every field).
#
# Sets up, all under target/ (never committed):
#   target/meltano-venvs/{meltano,loader}   one venv per line of requirements.txt,
#                                           rebuilt only when its checksum changes
#   target/meltano-work/                    PostgreSQL data dir, Meltano project copy, logs
# PostgreSQL is installed with apt if no initdb is found, and started on
# 127.0.0.1 on a free port with a private data dir. Exits non-zero on failure;
# every step is bounded in time. Env: PYTHON (default python3.11),
# MELTANO_RUNS (runs under writes, default 3), CARGO_PROFILE (release, the
# default, as shipped; dev reuses a debug build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VENVS=$ROOT/target/meltano-venvs
WORK=$ROOT/target/meltano-work
PYTHON=${PYTHON:-python3.11}
RUNS=${MELTANO_RUNS:-3}
PROFILE=${CARGO_PROFILE:-release}
BIN_DIR=$TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
log() { printf '[%s] meltano-test: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

SANDBOX_PID=
PG_CTL=
# PostgreSQL runs as the postgres user, who may not enter the checkout (a
# clone in a `mktemp -d` folder is 0700 root): its files live in a folder
# of their own.
PG_HOME=
PGDATA_DIR=
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  if [ -n "$SANDBOX_PID" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
  if [ -n "$PG_CTL" ]; then as_pg "$PG_CTL" -D "$PGDATA_DIR" -m fast -w -t 30 stop >/dev/null 2>&1 || true; fi
  if [ -n "$PG_HOME" ]; then rm -rf "$PG_HOME"; fi
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- 1. venvs --------------------------------------------------------------
req=$here/requirements.txt
want=$(sha256sum "$req" | cut -d' ' -f1)
setup_venv() { # name package
  local venv=$VENVS/$1
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
    log "venv $venv is current"; return 0
  fi
  log "creating $venv with $2"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  timeout 600 "$venv/bin/pip" install --quiet --disable-pip-version-check "$2"
  echo "$want" >"$venv/.requirements.sha256"
}
setup_venv meltano "$(grep '^meltano==' "$req")"
setup_venv loader "$(grep '^meltanolabs-target-postgres==' "$req")"
MELTANO=$VENVS/meltano/bin/meltano
[ -x "$VENVS/loader/bin/target-postgres" ] || fail "no target-postgres in $VENVS/loader"

# --- 2. PostgreSQL ---------------------------------------------------------
pg_bin() {
  local dir
  dir=$(dirname "$(command -v initdb 2>/dev/null || true)")
  [ -x "$dir/initdb" ] && { readlink -f "$dir"/initdb | xargs dirname; return; }
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}
PG_BIN=$(pg_bin)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  log "no PostgreSQL server found: installing it with apt"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq postgresql >/dev/null
  PG_BIN=$(pg_bin)
fi
[ -x "$PG_BIN/initdb" ] || fail "no initdb after installing postgresql"
PG_PORT=$(free_port)
rm -rf "$WORK"
mkdir -p "$WORK"
PG_HOME=$(mktemp -d "${TMPDIR:-/tmp}/meltano-pg.XXXXXX")
PGDATA_DIR=$PG_HOME/data
mkdir -p "$PGDATA_DIR"
[ "$(id -u)" = 0 ] && chown -R postgres "$PG_HOME"
as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --encoding=UTF8 >"$WORK/initdb.log" 2>&1 ||
  { cat "$WORK/initdb.log" >&2; fail "initdb"; }
PG_CTL=$PG_BIN/pg_ctl
as_pg "$PG_CTL" -D "$PGDATA_DIR" -w -t 60 -l "$PG_HOME/postgres.log" \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGDATA_DIR -c timezone=UTC" start >/dev/null ||
  { cat "$PG_HOME/postgres.log" >&2; fail "PostgreSQL did not start"; }
export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres PGTZ=UTC
psql -q -d postgres -c 'CREATE DATABASE ecommerce' || fail "create database"
log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"

# --- 3. binaries and sandbox -----------------------------------------------
log "building the $PROFILE binaries"
(cd "$ROOT" && timeout 1800 cargo build --profile "$PROFILE" --locked -p source-ecommerce --bin tap-ecommerce -p ecommerce-sandbox --bin ecommerce-sandbox) ||
  fail "cargo build"
API_PORT=$(free_port)
CONTROL_PORT=$(free_port)
"$BIN_DIR/ecommerce-sandbox" --listen "127.0.0.1:$API_PORT" --control-listen "127.0.0.1:$CONTROL_PORT" \
  --seed 7 --no-rate-limit --customers 1000 --products 200 --orders 10000 --order-events 20000 \
  --writes-per-second 40 --late-events --mixed-offsets >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 1 300); do grep -q "listening on" "$WORK/sandbox.log" && break; sleep 0.1; done
grep -q "listening on" "$WORK/sandbox.log" || { cat "$WORK/sandbox.log" >&2; fail "sandbox did not start"; }
CONTROL=http://127.0.0.1:$CONTROL_PORT
log "sandbox on 127.0.0.1:$API_PORT (writes on), control on $CONTROL"

# --- 4. the Meltano project --------------------------------------------------
PROJECT=$WORK/project
mkdir -p "$PROJECT"
cp "$ROOT/meltano/meltano.yml" "$PROJECT/"
export PATH="$BIN_DIR:$VENVS/loader/bin:$PATH"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export TAP_ECOMMERCE_BASE_URL=http://127.0.0.1:$API_PORT
export TAP_ECOMMERCE_CREDENTIALS_API_KEY=sk_test_sandbox_0123456789
export TAP_ECOMMERCE_CHECKPOINT_INTERVAL=2000
export TARGET_POSTGRES_PORT=$PG_PORT
export TARGET_POSTGRES_PASSWORD=unused-with-trust-auth
cd "$PROJECT"
STATE_ID=dev:tap-ecommerce-to-target-postgres

log "meltano select --list: every discovered stream and field"
timeout 120 "$MELTANO" select tap-ecommerce --list --all >"$WORK/select.txt" 2>"$WORK/select.log" ||
  { cat "$WORK/select.log" >&2; fail "meltano select --list"; }
tap-ecommerce --config <("$PYTHON" -c 'import json,os; print(json.dumps({"base_url": os.environ["TAP_ECOMMERCE_BASE_URL"], "credentials": {"auth_type": "api_key", "api_key": os.environ["TAP_ECOMMERCE_CREDENTIALS_API_KEY"]}}))') \
  --discover >"$WORK/catalog.json" 2>"$WORK/discover.log" || fail "tap-ecommerce --discover"
"$PYTHON" - "$WORK/catalog.json" "$WORK/select.txt" <<'PY' || fail "meltano select --list misses streams or fields"
import json, re, sys
catalog = json.load(open(sys.argv[1]))
# Lines such as "\t[selected   ] customers.email" or "[automatic  ] customers.id".
listed = set(re.findall(r"^\s*\[(?:selected|automatic)\s*\] (\S+)$", open(sys.argv[2]).read(), re.M))
missing = [f"{s['tap_stream_id']}.{field}" for s in catalog["streams"]
           for field in s["schema"]["properties"]
           if f"{s['tap_stream_id']}.{field}" not in listed]
fields = sum(len(s["schema"]["properties"]) for s in catalog["streams"])
print(f"meltano select --list shows {len(catalog['streams'])} streams, {fields} fields; missing: {missing}", file=sys.stderr)
sys.exit(1 if missing or len(catalog["streams"]) != 4 else 0)
PY

run_meltano() { # label
  log "meltano run ($1)"
  if ! timeout 300 "$MELTANO" run tap-ecommerce target-postgres >"$WORK/run-$1.log" 2>&1; then
    tail -n 40 "$WORK/run-$1.log" >&2; fail "meltano run ($1)"
  fi
  timeout 60 "$MELTANO" state get "$STATE_ID" >"$WORK/state-$1.json" 2>/dev/null || fail "meltano state get after $1"
  "$PYTHON" - "$WORK/state-$1.json" "$1" "$WORK/catalog.json" <<'PY' || fail "stored state after $1"
import json, sys
state = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
bookmarks = state["singer_state"]["bookmarks"]
streams = sorted(bookmarks)
declared = sorted(s["tap_stream_id"] for s in json.load(open(sys.argv[3]))["streams"])
print(f"state after {sys.argv[2]}: bookmarks of {streams}", file=sys.stderr)
sys.exit(0 if streams == declared else 1)
PY
}

for i in $(seq 1 "$RUNS"); do
  run_meltano "writes-$i"
  sleep 2
done
curl -fsS -X POST "$CONTROL/writes/stop" || fail "stop writes"
sleep 2
run_meltano final
curl -fsS "$CONTROL/truth" -o "$WORK/truth.json" || fail "GET /truth"
"$PYTHON" "$here/compare_truth.py" "$WORK/truth.json" ecommerce "$WORK/catalog.json" || fail "loaded tables differ from the truth"
log "PASS: $RUNS runs under writes and a final one; PostgreSQL equals the sandbox's truth"
