#!/usr/bin/env bash
# Builds the connector binary in release mode and puts it where connector.py runs it: fivetran/bin/source-ecommerce.
# Then `fivetran debug --configuration configuration.json` in this folder is the whole local run.
# Env: CARGO_TARGET_DIR (default: the workspace's target/), CARGO_BUILD_TARGET (e.g. x86_64-unknown-linux-gnu, the
# platform Fivetran's runtime runs on, when building on another machine).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --locked -p source-ecommerce)
built="$target_dir/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/source-ecommerce"
mkdir -p "$here/bin"
install -m 0755 "$built" "$here/bin/source-ecommerce"
echo "packaged $here/bin/source-ecommerce ($("$here/bin/source-ecommerce" spec >/dev/null && echo runs))"
