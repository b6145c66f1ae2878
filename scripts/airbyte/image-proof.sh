#!/usr/bin/env bash
# Proof that the image behaves as Airbyte runs it, and exactly like the binary.
#
#   scripts/airbyte/image-proof.sh        (needs: the image, the release binary,
#                                          a sandbox with seed 42 on 127.0.0.1:8788)
#
# 1. labels / env / user of the image match metadata.yaml (io.airbyte.name =
#    dockerRepository, io.airbyte.version = dockerImageTag, AIRBYTE_ENTRYPOINT =
#    the ENTRYPOINT, USER 1000:1000);
# 2. `docker run --rm IMAGE spec` prints exactly the binary's SPEC message;
# 3. `read` over --network host with config, catalog and state mounted as files
#    (-v ...:ro) emits the same records as the binary given the same files
#    (incremental catalog + sample_state.json; full-refresh catalog, no state);
# 4. the image run the way Airbyte's launcher runs it on Kubernetes: entrypoint
#    replaced by `sh -c`, `eval "$AIRBYTE_ENTRYPOINT read --config ... --catalog ..."`,
#    inputs mounted as files, stdout and stderr into named pipes read by the host
#    (the orchestrator's side), a heartbeat loop with sleep, `wait`, an exit
#    trap that touches a file, as uid 1000 (--user 1000:1000): same records
#    as the binary, exit status 0.
# Env: IMAGE_TAG (default source-ecommerce:dev), SOURCE_ECOMMERCE_BIN.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

out="$WORK/image-proof"
rm -rf "$out"
mkdir -p "$out"
chmod 0755 "$out"
failures=0
pass() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }

it="$ROOT/integration_tests"
config="$it/sample_config.json"
catalog_inc="$it/configured_catalog.json"
catalog_full="$it/configured_catalog_full_refresh.json"
state="$it/sample_state.json"

docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "no image $IMAGE: run scripts/docker/build-image.sh" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no binary $BIN" >&2; exit 1; }

# -- 1. labels, env, user vs metadata.yaml ---------------------------------------
meta() { sed -n "s/^  $1: *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" "$ROOT/metadata.yaml" | head -n1; }
repo=$(meta dockerRepository)
tag=$(meta dockerImageTag)
label_name=$(docker image inspect -f '{{index .Config.Labels "io.airbyte.name"}}' "$IMAGE")
label_version=$(docker image inspect -f '{{index .Config.Labels "io.airbyte.version"}}' "$IMAGE")
entrypoint=$(docker image inspect -f '{{join .Config.Entrypoint " "}}' "$IMAGE")
env_entrypoint=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | sed -n 's/^AIRBYTE_ENTRYPOINT=//p')
user=$(docker image inspect -f '{{.Config.User}}' "$IMAGE")
if [ -n "$repo" ] && [ "$label_name" = "$repo" ]; then pass "label io.airbyte.name=$label_name = metadata dockerRepository"
else fail "label io.airbyte.name='$label_name' but metadata dockerRepository='$repo'"; fi
if [ -n "$tag" ] && [ "$label_version" = "$tag" ]; then pass "label io.airbyte.version=$label_version = metadata dockerImageTag"
else fail "label io.airbyte.version='$label_version' but metadata dockerImageTag='$tag'"; fi
if [ -n "$env_entrypoint" ] && [ "$env_entrypoint" = "$entrypoint" ]; then pass "AIRBYTE_ENTRYPOINT='$env_entrypoint' = ENTRYPOINT"
else fail "AIRBYTE_ENTRYPOINT='$env_entrypoint' but ENTRYPOINT='$entrypoint'"; fi
if [ "$user" = "1000:1000" ]; then pass "image USER $user"; else fail "image USER '$user' (expected 1000:1000)"; fi

# -- 2. spec ---------------------------------------------------------------------
docker run --rm "$IMAGE" spec >"$out/spec.image.jsonl" 2>"$out/spec.image.stderr" || true
"$BIN" spec >"$out/spec.binary.jsonl"
if python3 - "$out/spec.binary.jsonl" "$out/spec.image.jsonl" <<'EOF'
import json, sys
binary, image = (open(p).read().splitlines() for p in sys.argv[1:3])
assert len(image) == 1, f"image printed {len(image)} lines"
a, b = json.loads(binary[-1]), json.loads(image[0])
assert b["type"] == "SPEC", b["type"]
assert a == b, "SPEC differs from the binary's"
EOF
then pass "docker run --rm $IMAGE spec: one SPEC message, equal to the binary's"
else fail "docker run --rm $IMAGE spec (see $out/spec.image.*)"; fi

# -- 3. read with mounted files ----------------------------------------------------
run_read() {  # label, catalog, [state]
  local label=$1 catalog=$2 st=${3:-}
  local mounts=(-v "$config:/secrets/config.json:ro" -v "$catalog:/secrets/catalog.json:ro")
  local args=(read --config /secrets/config.json --catalog /secrets/catalog.json)
  local bargs=(read --config "$config" --catalog "$catalog")
  if [ -n "$st" ]; then
    mounts+=(-v "$st:/secrets/state.json:ro")
    args+=(--state /secrets/state.json)
    bargs+=(--state "$st")
  fi
  "$BIN" "${bargs[@]}" >"$out/$label.binary.jsonl"
  local status=0
  docker run --rm --network host "${mounts[@]}" "$IMAGE" "${args[@]}" \
    >"$out/$label.image.jsonl" 2>"$out/$label.image.stderr" || status=$?
  if [ "$status" -ne 0 ]; then fail "docker read ($label) exited $status"; return; fi
  if python3 "$here/compare_reads.py" --label "docker run --network host read ($label, files mounted with -v)" \
      "$out/$label.binary.jsonl" "$out/$label.image.jsonl"; then :; else failures=$((failures + 1)); fi
}
run_read incremental-sample-state "$catalog_inc" "$state"
run_read full-refresh "$catalog_full"

# -- 4. the launcher's way ------------------------------------------------------------
pipes="$out/pipes"
mkdir -p "$pipes"
mkfifo "$pipes/stdout" "$pipes/stderr"
chown -R 1000:1000 "$pipes"
"$BIN" read --config "$config" --catalog "$catalog_inc" >"$out/launcher.binary.jsonl"
# The script the launcher gives `sh -c` (same shape as Airbyte's connector
# wrapper: exit trap, AIRBYTE_ENTRYPOINT check, child in the background with
# stdout/stderr into pipes, heartbeat loop, wait, exit with the child's status).
wrapper='trap "touch /pipes/TERMINATED" EXIT
if [ -z "$AIRBYTE_ENTRYPOINT" ]; then echo "AIRBYTE_ENTRYPOINT must be set" >&2; exit 127; fi
echo "Using AIRBYTE_ENTRYPOINT: $AIRBYTE_ENTRYPOINT (uid $(id -u))"
((eval "$AIRBYTE_ENTRYPOINT read --config /config/connectionConfiguration.json --catalog /config/catalog.json" 2>/pipes/stderr >/pipes/stdout) </dev/null) &
CHILD_PID=$!
(while true; do if [ -f /pipes/HEARTBEAT_FAILED ]; then echo "heartbeat failed"; exit 1; fi; sleep 1; done) &
HEARTBEAT_PID=$!
wait $CHILD_PID
EXIT_STATUS=$?
kill $HEARTBEAT_PID
echo "EXIT_STATUS: $EXIT_STATUS"
exit $EXIT_STATUS'
docker run --rm --network host --user 1000:1000 --entrypoint sh \
  -v "$config:/config/connectionConfiguration.json:ro" \
  -v "$catalog_inc:/config/catalog.json:ro" \
  -v "$pipes:/pipes" \
  "$IMAGE" -c "$wrapper" >"$out/launcher.wrapper.log" 2>&1 &
launcher=$!
cat "$pipes/stderr" >"$out/launcher.stderr" &
stderr_reader=$!
set +e
cat "$pipes/stdout" | python3 "$here/compare_reads.py" \
  --label "sh -c eval \"\$AIRBYTE_ENTRYPOINT read ...\" as uid 1000, stdout via a named pipe" \
  "$out/launcher.binary.jsonl" -
compared=$?
wait "$launcher"
launcher_status=$?
wait "$stderr_reader"
set -e
if [ "$compared" -ne 0 ]; then failures=$((failures + 1)); fi
if [ "$launcher_status" -eq 0 ] && grep -q "EXIT_STATUS: 0" "$out/launcher.wrapper.log" \
   && grep -q "(uid 1000)" "$out/launcher.wrapper.log" && [ -f "$pipes/TERMINATED" ]; then
  pass "launcher-style run: exit 0 as uid 1000, exit trap ran"
else
  fail "launcher-style run: container exit $launcher_status (see $out/launcher.wrapper.log)"
fi

echo "image proof: $failures failure(s) (outputs in $out)"
[ "$failures" -eq 0 ]
