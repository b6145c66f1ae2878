"""What the Fivetran tests share: the sandbox API with its control API, a copy of the fivetran/ project with a
configuration.json, a real `fivetran debug` run of it (no part of the SDK mocked), and the DuckDB warehouse it
writes. Paths come from the environment run-tests.sh sets, with the repository's defaults.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "fivetran"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
SANDBOX_BIN = Path(os.environ.get("ECOMMERCE_SANDBOX_BIN", TARGET / "release" / "ecommerce-sandbox"))
# `fivetran` and `pipreqs` are installed beside the interpreter that runs pytest (target/fivetran-venv/bin).
VENV_BIN = Path(sys.executable).parent
WAREHOUSE_SCHEMA = "tester"
SANDBOX_START_SECONDS = 60


@dataclass
class Sandbox:
    """A running ecommerce-sandbox: its API address, its control API address and its process."""

    process: subprocess.Popen[bytes]
    url: str
    control_url: str

    def _control(self, method: str, path: str) -> bytes:
        request = urllib.request.Request(f"{self.control_url}{path}", method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.read()

    def stop_writes(self) -> None:
        """No write lands after this returns."""
        self._control("POST", "/writes/stop")

    def truth(self) -> dict[str, Any]:
        """Every stream's latest records (UTC, deleted ones with deleted_at)."""
        return json.loads(self._control("GET", "/truth"))


def _wait_for_addresses(log_path: Path, process: subprocess.Popen[bytes]) -> tuple[str, str]:
    """The API and control addresses the sandbox prints once it listens (it picks free ports)."""
    deadline = time.monotonic() + SANDBOX_START_SECONDS
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        api = re.search(r"listening on (http://\S+)", text)
        control = re.search(r"control API on (http://\S+)", text)
        if api and control:
            return api.group(1), control.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited before listening:\n{text}")
        time.sleep(0.1)
    raise RuntimeError(f"the sandbox did not listen within {SANDBOX_START_SECONDS} s")


def declared_keys(project: Path, sandbox: Sandbox, api_key: str) -> dict[str, str]:
    """Each stream's primary key as the packaged binary's `discover` declares it: the tests take the streams and
    keys from the connector, never from a copy of them."""
    config = project.parent / "discover-config.json"
    config.write_text(json.dumps({"base_url": sandbox.url, "credentials": {"auth_type": "api_key", "api_key": api_key}}))
    out = subprocess.run([str(project / "bin" / "source-ecommerce"), "discover", "--config", str(config)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    catalog = next(message["catalog"] for message in map(json.loads, out.splitlines()) if message["type"] == "CATALOG")
    keys = {}
    for stream in catalog["streams"]:
        [[key]] = stream["source_defined_primary_key"]
        keys[stream["name"]] = key
    return keys


@contextmanager
def running_sandbox(work: Path, *flags: str) -> Iterator[Sandbox]:
    """Starts the sandbox on free loopback ports with seed 42 and no rate limit, and stops it (by its pid) after."""
    if not os.access(SANDBOX_BIN, os.X_OK):
        raise RuntimeError(f"no sandbox binary at {SANDBOX_BIN} (build it first)")
    log_path = work / "sandbox.log"
    command = [str(SANDBOX_BIN), "--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--seed", "42",
               "--no-rate-limit", *flags]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        url, control_url = _wait_for_addresses(log_path, process)
        yield Sandbox(process, url, control_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def make_project(work: Path, configuration: dict[str, str]) -> Path:
    """A copy of the fivetran/ project (its binary linked, not copied) with this configuration.json."""
    project = work / "project"
    project.mkdir()
    for name in ("connector.py", "requirements.txt"):
        shutil.copy(PROJECT / name, project / name)
    binary = PROJECT / "bin" / "source-ecommerce"
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"no packaged binary at {binary} (run fivetran/package.sh)")
    (project / "bin").symlink_to(PROJECT / "bin", target_is_directory=True)
    (project / "configuration.json").write_text(json.dumps(configuration))
    return project


def sdk_home(work: Path) -> Path:
    """A HOME whose SDK update check was just done, so `fivetran debug` does not wait on PyPI (offline in CI)."""
    home = work / "home"
    folder = home / ".fivetran" / "connector_sdk"
    folder.mkdir(parents=True)
    (folder / "_last_version_check").write_text(str(int(time.time())))
    return home


@dataclass
class DebugRun:
    """How one `fivetran debug` ended: its exit status and everything it printed."""

    returncode: int
    output: str

    def count(self, operation: str) -> int:
        """A number from the SDK's closing table of operation counts, e.g. count("Upserts")."""
        match = re.search(rf"{operation}\s*\|\s*(\d+)", self.output)
        if match is None:
            raise AssertionError(f"no {operation} count in the output:\n{self.output[-3000:]}")
        return int(match.group(1))

    def peak_memory_mb(self) -> float:
        """The SDK's own measure of the connector process's peak memory above its baseline."""
        match = re.search(r"memory usage: average [\d.]+ MB, peak ([\d.]+) MB", self.output)
        if match is None:
            raise AssertionError(f"no memory report in the output:\n{self.output[-3000:]}")
        return float(match.group(1))


def run_fivetran_debug(project: Path, home: Path, timeout: float = 240) -> DebugRun:
    """`fivetran debug --configuration configuration.json` in the project, as a user runs it."""
    env = {
        **os.environ,
        "HOME": str(home),
        "DO_NOT_TRACK": "1",
        "NO_COLOR": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        [str(VENV_BIN / "fivetran"), "debug", "--configuration", "configuration.json"],
        cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=timeout, check=False,
    )
    output = done.stdout.decode("utf-8", errors="replace")
    print(output[-4000:])  # shown by pytest when a test fails
    return DebugRun(done.returncode, output)


def warehouse_tables(project: Path) -> dict[str, tuple[dict[str, str], list[dict[str, Any]]]]:
    """Every table of files/warehouse.db: its column types and its rows."""
    with duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True) as db:
        names = [row[0] for row in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [WAREHOUSE_SCHEMA]).fetchall()]
        tables = {}
        for name in names:
            types = dict(db.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                [WAREHOUSE_SCHEMA, name]).fetchall())
            cursor = db.execute(f'SELECT * FROM {WAREHOUSE_SCHEMA}."{name}"')
            columns = [description[0] for description in cursor.description]
            tables[name] = (types, [dict(zip(columns, row)) for row in cursor.fetchall()])
        return tables
