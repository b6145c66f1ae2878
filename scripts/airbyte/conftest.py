"""pytest glue for running Airbyte's own test suites against source-ecommerce.

- `--connector-image` defaults to $IMAGE_TAG or source-ecommerce:dev, so the
  CDK's docker-image tests run the image built by scripts/docker/build-image.sh
  instead of trying to build one with the CDK's Python/manifest image builder.
- The CDK's docker tests call `docker run --rm ...` on the default bridge network;
  the sandbox API listens on the host's 127.0.0.1:8788 only. A `docker` shim put
  first on PATH for this session adds `--network host` to every `docker run`
  that does not choose a network itself
  (set AIRBYTE_TEST_DOCKER_NETWORK to use another network, or "none" for no shim).
  Nothing else in the commands changes.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--connector-image", default=None) is None:
        config.option.connector_image = os.environ.get("IMAGE_TAG", "source-ecommerce:dev")

    network = os.environ.get("AIRBYTE_TEST_DOCKER_NETWORK", "host")
    real_docker = shutil.which("docker")
    if network == "none" or real_docker is None:
        return
    shim_dir = Path(tempfile.mkdtemp(prefix="airbyte-docker-shim-"))
    shim = shim_dir / "docker"
    shim.write_text(
        "#!/bin/sh\n"
        f"# added by scripts/airbyte/conftest.py: docker run on network {network}\n"
        'if [ "$1" = run ]; then\n'
        "  shift\n"
        '  for arg in "$@"; do\n'
        '    case "$arg" in --network|--network=*|--net|--net=*)'
        f' exec {real_docker} run "$@" ;; esac\n'
        "  done\n"
        f'  exec {real_docker} run --network {network} "$@"\n'
        "fi\n"
        f'exec {real_docker} "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.environ["PATH"] = f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    config._airbyte_docker_shim_dir = shim_dir  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    shim_dir = getattr(config, "_airbyte_docker_shim_dir", None)
    if shim_dir is not None:
        shutil.rmtree(shim_dir, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    from binary_source import connector_argv

    return [
        f"source-ecommerce binary: {' '.join(connector_argv())}",
        f"source-ecommerce image: {config.getoption('--connector-image')}",
    ]
