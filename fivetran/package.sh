#!/usr/bin/env bash
# Builds the connector binary in release mode and puts it where connector.py runs it: fivetran/bin/source-ecommerce.
# Then `fivetran debug --configuration configuration.json` in this folder is the whole local run.
#   ./package.sh             cargo build --release, then copy
#   ./package.sh --no-build  copy the release binary already built (CI builds it with the sandbox, in one cargo run)
# Env: CARGO_TARGET_DIR (default: the workspace's target/), CARGO_BUILD_TARGET (e.g. x86_64-unknown-linux-gnu, the
# platform Fivetran's runtime runs on, when building on another machine).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
if [ "${1:-}" != --no-build ]; then
  (cd "$root" && cargo build --release --locked -p source-ecommerce)
fi
built="$target_dir/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/source-ecommerce"
mkdir -p "$here/bin"
install -m 0755 "$built" "$here/bin/source-ecommerce"
# The release profile keeps debug info for profiling; the deployed copy does not need it (about 60 MB less).
if command -v strip >/dev/null; then strip --strip-debug "$here/bin/source-ecommerce"; fi
echo "packaged $here/bin/source-ecommerce ($("$here/bin/source-ecommerce" spec >/dev/null && echo runs))"
