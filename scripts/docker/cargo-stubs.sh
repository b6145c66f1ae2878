#!/bin/sh
# Used by the Dockerfile's dependency-caching layer (runs inside the build
# stage, POSIX sh + awk only).  Given workspace manifests (Cargo.toml files),
# create an empty placeholder for every target source file that cargo needs to
# exist before it will even load the workspace, and print each created path
# (so the caller can delete them again):
#   - any  path = "….rs"  or  build = "….rs"  in the manifest,
#   - [[bin]]/[[test]]/[[bench]]/[[example]] given by name only (cargo's
#     default location),
#   - src/lib.rs when the package has neither src/lib.rs nor src/main.rs.
# Existing files are never touched.
set -eu
for manifest in "$@"; do
  dir=$(dirname "$manifest")
  awk '
    function emit() {
      if (kind != "" && name != "" && path == "") {
        if (kind == "bin") print "src/bin/" name ".rs"
        else if (kind == "test") print "tests/" name ".rs"
        else if (kind == "bench") print "benches/" name ".rs"
        else if (kind == "example") print "examples/" name ".rs"
      }
      kind = ""; name = ""; path = ""
    }
    function strval(s) { sub(/^[^=]*=[ \t]*"/, "", s); sub(/".*$/, "", s); return s }
    /^[ \t]*\[\[(bin|test|bench|example)\]\]/ { emit(); kind = $0; gsub(/[][ \t]/, "", kind); next }
    /^[ \t]*\[/ { emit(); next }
    /^[ \t]*name[ \t]*=[ \t]*"/ { name = strval($0) }
    /^[ \t]*(path|build)[ \t]*=[ \t]*"[^"]*\.rs"/ { path = strval($0); print path }
    END { emit() }
  ' "$manifest" | while IFS= read -r rel; do
    f="$dir/$rel"
    if [ ! -e "$f" ]; then
      mkdir -p "$(dirname "$f")"
      echo 'fn main() {}' >"$f"
      echo "$f"
    fi
  done
  if [ ! -e "$dir/src/lib.rs" ] && [ ! -e "$dir/src/main.rs" ]; then
    mkdir -p "$dir/src"
    : >"$dir/src/lib.rs"
    echo "$dir/src/lib.rs"
  fi
done
