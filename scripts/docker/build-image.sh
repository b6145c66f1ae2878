#!/usr/bin/env bash
# Build the connector image from a fresh machine with no registry access:
#   1. make/refresh the local base images (scripts/docker/base-images.sh),
#   2. docker build the repo's Dockerfile with those as RUST_IMAGE / DEBIAN_IMAGE,
#   3. tag it (default source-ecommerce:dev, and airbyte/source-ecommerce:dev as
#      metadata.yaml names it) and print its size.
# Usage: scripts/docker/build-image.sh [extra docker build args...]
# Env:   IMAGE_TAG (default source-ecommerce:dev), CONTEXT (default: repo root),
#        CARGO_BUILD_JOBS (default: all CPUs), USE_PUBLIC_BASE_IMAGES=1 to skip
#        step 1 and use the Dockerfile's public defaults (hosts that can pull).
# Re-runs are incremental: base images are kept, and Docker's layer cache keeps
# the compiled dependencies until Cargo.toml / Cargo.lock change.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CONTEXT=${CONTEXT:-$(cd "$here/../.." && pwd)}
IMAGE_TAG=${IMAGE_TAG:-source-ecommerce:dev}

args=()
if [ "${USE_PUBLIC_BASE_IMAGES:-0}" != 1 ]; then
  eval "$("$here/base-images.sh")"
  args+=(--build-arg "RUST_IMAGE=$RUST_IMAGE" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE")
fi
if [ -n "${CARGO_BUILD_JOBS:-}" ]; then
  args+=(--build-arg "CARGO_BUILD_JOBS=$CARGO_BUILD_JOBS")
fi

start=$(date +%s)
# DOCKER_BUILDKIT=0: same legacy builder everywhere (BuildKit would also work).
DOCKER_BUILDKIT=0 docker build --pull=false -t "$IMAGE_TAG" "${args[@]}" "$@" "$CONTEXT"
echo "built $IMAGE_TAG in $(( $(date +%s) - start )) s"
# Also under metadata.yaml's dockerRepository, the name acceptance-test-config.yml
# and an Airbyte registration use.
REPOSITORY_TAG="airbyte/source-ecommerce:${IMAGE_TAG##*:}"
if [ "$REPOSITORY_TAG" != "$IMAGE_TAG" ]; then
  docker tag "$IMAGE_TAG" "$REPOSITORY_TAG"
  echo "tagged $REPOSITORY_TAG"
fi

size=$(docker image inspect -f '{{.Size}}' "$IMAGE_TAG")
echo "image $IMAGE_TAG: $size bytes ($(( size / 1000000 )) MB)"
