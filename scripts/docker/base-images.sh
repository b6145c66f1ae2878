#!/usr/bin/env bash
# Make local stand-ins for the Dockerfile's public base images, for Docker hosts
# that cannot pull from a registry (this project's dev machines and CI).
#
#   DEBIAN_IMAGE  <- debootstrap --variant=minbase bookworm, `docker import`ed
#                    (stands in for docker.io/library/debian:bookworm-slim)
#   RUST_IMAGE    <- DEBIAN_IMAGE + gcc/libc6-dev/ca-certificates (apt, at
#                    `docker build` time) + a copy of the HOST's Rust toolchain
#                    (rustc --print sysroot), laid out like the official
#                    rust:*-slim-bookworm image (CARGO_HOME=/usr/local/cargo),
#                    + the host's CA bundle, so that cargo inside the build
#                    trusts whatever HTTPS the host trusts (e.g. a TLS proxy).
#
# Re-runs skip what exists: the debootstrap image and the toolchain image are
# keyed by suite / rustc version; the CA layer is a cheap cached `docker build`.
# Logs go to stderr; stdout is exactly two lines for `eval`:
#   RUST_IMAGE=...   DEBIAN_IMAGE=...
set -euo pipefail

SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
PREFIX=${BASE_IMAGE_PREFIX:-source-ecommerce-base}
HOST_CA_BUNDLE=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

log() { echo "[base-images] $*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

SYSROOT=$(rustc --print sysroot)
RUST_VERSION=$(rustc --version | awk '{print $2}')        # e.g. 1.95.0
HOST_TRIPLE=$(rustc -vV | awk '/^host:/ {print $2}')      # x86_64-unknown-linux-gnu

DEBIAN_IMAGE="$PREFIX/debian:$SUITE-slim"
TOOLCHAIN_IMAGE="$PREFIX/rust-toolchain:$RUST_VERSION-slim-$SUITE"
RUST_IMAGE="$PREFIX/rust:$RUST_VERSION-slim-$SUITE"

work=$(mktemp -d)
cleanup() { as_root rm -rf "$work"; }
trap cleanup EXIT

# --- 1. Debian base: debootstrap + docker import ------------------------------
if have_image "$DEBIAN_IMAGE"; then
  log "$DEBIAN_IMAGE exists"
else
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >&2
  fi
  log "debootstrap $SUITE from $MIRROR (about 30 s)"
  as_root debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  # Same sources as the official image (updates + security), slim it like debian:*-slim.
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
    "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SECURITY_MIRROR" "$SUITE" \
    | as_root tee "$work/rootfs/etc/apt/sources.list" >/dev/null
  as_root rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* \
    "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man" "$work/rootfs/usr/share/info"
  log "importing $DEBIAN_IMAGE"
  as_root tar -C "$work/rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    - "$DEBIAN_IMAGE" >/dev/null
  as_root rm -rf "$work/rootfs"
fi

# --- 2. Rust toolchain image: host toolchain copied in ------------------------
if have_image "$TOOLCHAIN_IMAGE"; then
  log "$TOOLCHAIN_IMAGE exists"
else
  log "building $TOOLCHAIN_IMAGE from $SYSROOT (no docs; about 1-2 min)"
  mkdir -p "$work/tc"
  cat >"$work/tc/Dockerfile" <<DOCKERFILE
FROM $DEBIAN_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo RUST_VERSION=$RUST_VERSION \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY toolchain /usr/local/rustup/toolchains/$RUST_VERSION-$HOST_TRIPLE
RUN mkdir -p /usr/local/cargo/bin \\
 && for b in cargo rustc rustdoc; do ln -s /usr/local/rustup/toolchains/$RUST_VERSION-$HOST_TRIPLE/bin/\$b /usr/local/cargo/bin/\$b; done \\
 && chmod -R a+w /usr/local/cargo \\
 && cargo --version && rustc --version
DOCKERFILE
  # Stream the build context as a tar: Dockerfile + toolchain/{bin,lib} (share/doc left out).
  tar -C "$work/tc" -c Dockerfile \
      -C "$SYSROOT" --transform 's,^\(bin\|lib\|libexec\),toolchain/\1,' \
      bin/cargo bin/rustc bin/rustdoc lib \
    | docker build -t "$TOOLCHAIN_IMAGE" - >&2
fi

# --- 3. Builder image: toolchain image + the host's CA bundle (cheap, cached) --
mkdir -p "$work/ca"
if [ -r "$HOST_CA_BUNDLE" ]; then
  cp "$HOST_CA_BUNDLE" "$work/ca/ca-certificates.crt"
  ca_step='COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt'
else
  log "no $HOST_CA_BUNDLE: keeping Debian's CA bundle"
  ca_step=''
fi
printf 'FROM %s\n%s\n' "$TOOLCHAIN_IMAGE" "$ca_step" >"$work/ca/Dockerfile"
docker build -q -t "$RUST_IMAGE" "$work/ca" >/dev/null
log "ready: $RUST_IMAGE, $DEBIAN_IMAGE"

echo "RUST_IMAGE=$RUST_IMAGE"
echo "DEBIAN_IMAGE=$DEBIAN_IMAGE"
