# source-ecommerce — Airbyte source connector image.
#
#   docker build -t source-ecommerce:dev .
#
# Base images are build ARGs with public defaults, so the line above works on any
# Docker host that can pull from Docker Hub.  Hosts without registry access
# (this project's CI) make local stand-ins and pass them in:
# scripts/docker/build-image.sh does that (see scripts/docker/NOTES.md).
#
#   RUST_IMAGE    Rust toolchain on Debian bookworm (needs cargo, rustc, gcc,
#                 libc6-dev, ca-certificates: the official *-slim image has them).
#                 Pinned to the toolchain the project uses (rust-version >= 1.89).
#   DEBIAN_IMAGE  Debian bookworm, same release as RUST_IMAGE; used only to
#                 gather busybox-static and the CA bundle.  Nothing from it but
#                 those files reaches the final image.
#
# The final image is FROM scratch: the binary (debug sections stripped by
# default, see DEBUG_INFO below; symbols kept), the glibc shared objects it links
# (read off `ldd`, taken from the build stage so they match what it was linked
# against), busybox-static with its applet links (Airbyte on Kubernetes wraps the
# connector in `sh -c '… eval "$AIRBYTE_ENTRYPOINT read …" … sleep … kill …'`),
# CA certificates, passwd/group for uid 1000, nsswitch.conf.  No BuildKit
# features are used, so the legacy builder (Docker 20.10) builds it too.  Every
# stage is needed by the final one (the legacy builder builds all stages).
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim

# ---------------------------------------------------------------------------
# Stage 1: runtime files from Debian (busybox, CA bundle, users, nsswitch).
FROM ${DEBIAN_IMAGE} AS rootfs
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends busybox-static ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    mkdir -p /out/etc/ssl/certs /out/bin /out/sbin /out/usr/bin /out/usr/sbin /out/home/airbyte /out/tmp; \
    cp /bin/busybox /out/bin/busybox; \
    # every applet, at its usual place (/bin/sh, /bin/sleep, /bin/kill, /bin/mv, /usr/bin/env, ...)
    for applet in $(/bin/busybox --list-full); do \
      [ -e "/out/$applet" ] || ln -s /bin/busybox "/out/$applet"; \
    done; \
    cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt; \
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
                  'airbyte:x:1000:1000:airbyte:/home/airbyte:/bin/sh' \
                  'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' > /out/etc/passwd; \
    printf '%s\n' 'root:x:0:' 'airbyte:x:1000:' 'nogroup:x:65534:' > /out/etc/group; \
    # glibc >= 2.34 has the files and dns NSS modules built in: no libnss_*.so needed.
    printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' \
                  'networks: files' 'protocols: files' 'services: files' > /out/etc/nsswitch.conf; \
    # Docker and Kubernetes mount their own /etc/hosts and /etc/resolv.conf over these.
    printf '%s\n' '127.0.0.1 localhost' '::1 localhost ip6-localhost ip6-loopback' > /out/etc/hosts; \
    : > /out/etc/resolv.conf; \
    chmod 1777 /out/tmp; \
    chown 1000:1000 /out/home/airbyte; chmod 0755 /out/home/airbyte

# ---------------------------------------------------------------------------
# Stage 2: build the connector.
FROM ${RUST_IMAGE} AS build
# "default" = one job per CPU; pass e.g. --build-arg CARGO_BUILD_JOBS=1 on a busy host.
ARG CARGO_BUILD_JOBS=default
WORKDIR /src

# Dependency-caching layer: only the manifests, the lock file and empty
# placeholders for the workspace's own sources (scripts/docker/cargo-stubs.sh),
# so the dependencies are fetched and compiled again only when these change.
# A failure here is not fatal: the full build below would then do all the work
# and report any real error.
COPY scripts/docker/cargo-stubs.sh /usr/local/bin/cargo-stubs
COPY Cargo.toml Cargo.lock ./
COPY sandbox/Cargo.toml sandbox/
RUN stubs=$(sh /usr/local/bin/cargo-stubs Cargo.toml sandbox/Cargo.toml) \
 && { cargo build --release --locked -p source-ecommerce \
      || echo "WARNING: dependency pre-build failed; the full build does it"; } \
 && rm -f $stubs \
 && rm -rf target/release/.fingerprint/source-ecommerce-* target/release/.fingerprint/ecommerce-sandbox-*

# The real build.  specs/ holds JSON that src/ compiles in (include_str!).
# The sandbox crate (a test server, a workspace member) must be
# present for cargo to load the workspace but is not built: it is only a
# dev-dependency.  Placeholders cover target files that are not in the context.
COPY specs specs
COPY src src
COPY sandbox sandbox
RUN sh /usr/local/bin/cargo-stubs Cargo.toml sandbox/Cargo.toml >/dev/null \
 && cargo build --release --locked -p source-ecommerce

# Debug info in the shipped binary (Cargo.toml builds with line tables):
#   strip    (default) drop the debug sections, keep the symbol table: panics
#            still name the functions, without file:line.  Keeps the image
#            well under 30 MB (the line tables are ~45 MB raw, ~11 MB compressed).
#   compress keep them, zlib-compressed (file:line in backtraces).
#   keep     as cargo built it.
ARG DEBUG_INFO=strip
RUN set -eu; \
    bin=target/release/source-ecommerce; \
    mkdir -p /out/usr/local/bin; \
    case "$DEBUG_INFO" in \
      strip)    objcopy --strip-debug "$bin" /out/usr/local/bin/source-ecommerce ;; \
      compress) objcopy --compress-debug-sections=zlib "$bin" /out/usr/local/bin/source-ecommerce ;; \
      keep)     cp "$bin" /out/usr/local/bin/source-ecommerce ;; \
      *)        echo "DEBUG_INFO must be strip, compress or keep" >&2; exit 1 ;; \
    esac; \
    # shared objects and the ELF interpreter, at the paths the loader looks in
    for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do \
      cp --parents -L "$lib" /out/; \
    done; \
    ls -lR /out

# ---------------------------------------------------------------------------
# Stage 3: the runtime image.
FROM scratch
ARG CONNECTOR_VERSION=0.1.0
COPY --from=rootfs /out/ /
COPY --from=build /out/ /
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin \
    HOME=/home/airbyte \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    AIRBYTE_ENTRYPOINT="/usr/local/bin/source-ecommerce"
LABEL io.airbyte.name="airbyte/source-ecommerce" \
      io.airbyte.version="${CONNECTOR_VERSION}" \
      org.opencontainers.image.title="source-ecommerce" \
      org.opencontainers.image.version="${CONNECTOR_VERSION}"
USER 1000:1000
WORKDIR /home/airbyte
# AIRBYTE_ENTRYPOINT above must stay the space-joined ENTRYPOINT.
ENTRYPOINT ["/usr/local/bin/source-ecommerce"]
