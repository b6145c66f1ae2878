"""The warehouse test of issue 11: what PyAirbyte loads into DuckDB is the shop's truth.

One scenario, shared by the tests below (module fixture):
1. a private sandbox binary (target/release/ecommerce-sandbox) with every instant in
   mixed UTC offsets, concurrent writes and late events, and its control API;
2. several incremental syncs of the local connector binary (`local_executable`)
   while the shop keeps writing, into PyAirbyte's default DuckDB cache:
   customers, products and orders deduplicated by primary key (PyAirbyte's
   default for incremental streams with a key), order_events appended
   (an append-only table of events, where a duplicate would show);
3. writes stop (`POST /writes/stop`), one more sync, then `GET /truth` (every
   record's latest version, instants rendered in UTC `Z`).

The tests compare the loaded tables with that truth. PyAirbyte's DuckDB cache
creates timestamp columns that keep the wall-clock time, so a timestamp sent as
`23:05:06+14:00` would load as 23:05:06: here every timestamp column must hold
the true instant in UTC.

AIRBYTE_OFFLINE_MODE=1 is set before PyAirbyte is imported; its project dir is
AIRBYTE_PROJECT_DIR, by default target/airbyte-work/warehouse (the default cache
in it is deleted first, so every run starts from no state).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("AIRBYTE_PROJECT_DIR", str(ROOT / "target" / "airbyte-work" / "warehouse"))
PROJECT_DIR = Path(os.environ["AIRBYTE_PROJECT_DIR"])

import airbyte as ab  # noqa: E402  (after the environment above)

from binary_source import connector_argv  # noqa: E402

SANDBOX_BIN = Path(
    os.environ.get("ECOMMERCE_SANDBOX_BIN", ROOT / "target" / "release" / "ecommerce-sandbox")
)
SAMPLE = json.loads((ROOT / "integration_tests" / "sample_config.json").read_text())
DEDUPED = ["customers", "products", "orders"]
EVENTS = "order_events"
SYNCS_WHILE_WRITING = 3
# The canonical rendering of an instant in the truth.
UTC_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

pytestmark = pytest.mark.pyairbyte


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxProcess:
    """ecommerce-sandbox with mixed offsets, writes and late events, on free ports."""

    def __init__(self, log: Path) -> None:
        assert SANDBOX_BIN.is_file(), f"no sandbox binary at {SANDBOX_BIN}: cargo build --release -p ecommerce-sandbox"
        self.control = f"http://127.0.0.1:{free_port()}"
        self.log = log
        self.process = subprocess.Popen(
            [
                str(SANDBOX_BIN),
                "--listen", "127.0.0.1:0",
                "--control-listen", self.control.removeprefix("http://"),
                "--seed", "11",
                "--no-rate-limit",
                "--mixed-offsets",
                "--writes-per-second", "40",
                "--late-events",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        self.url = self._wait_for("listening on ")

    def _wait_for(self, marker: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the sandbox exited: {self.log.read_text()}"
            for line in self.log.read_text().splitlines():
                if marker in line:
                    return line.split(marker, 1)[1].strip()
            time.sleep(0.1)
        raise TimeoutError(f"the sandbox did not start within 60 s: {self.log.read_text()}")

    def post(self, path: str) -> None:
        request = urllib.request.Request(self.control + path, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 204, f"POST {path}: {response.status}"

    def truth(self) -> dict[str, list[dict[str, Any]]]:
        with urllib.request.urlopen(self.control + "/truth", timeout=60) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)


def instant(text: str) -> datetime:
    """An RFC 3339 instant as a naive UTC datetime, as a TIMESTAMP column holds it."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)


def loaded_instant(value: Any) -> datetime | None:
    """A value of a loaded timestamp column, as a naive UTC datetime (None for null)."""
    if value is None or (not isinstance(value, str) and value != value):  # None, NaN, NaT
        return None
    if isinstance(value, str):
        return instant(value)
    value = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def timestamp_columns(records: list[dict[str, Any]]) -> set[str]:
    """Top-level fields that hold an instant in some record of the truth."""
    return {
        name
        for record in records
        for name, value in record.items()
        if isinstance(value, str) and UTC_INSTANT.match(value)
    }


def rows(cache: Any, stream: str) -> list[dict[str, Any]]:
    return cache[stream].to_pandas().to_dict("records")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    shutil.rmtree(PROJECT_DIR, ignore_errors=True)
    PROJECT_DIR.mkdir(parents=True, exist_ok=True)
    sandbox = SandboxProcess(tmp_path_factory.mktemp("warehouse") / "sandbox.log")
    try:
        config = {**SAMPLE, "base_url": sandbox.url, "page_size": 200}
        executable = connector_argv()[0]
        deduped = ab.get_source("source-ecommerce", config=config, local_executable=executable)
        deduped.select_streams(DEDUPED)
        # The keys as the connector declares them, never a copy of them.
        keys = {
            stream.name: stream.source_defined_primary_key[0][0]
            for stream in deduped.discovered_catalog.streams
        }
        events = ab.get_source("source-ecommerce", config=config, local_executable=executable)
        events.select_streams([EVENTS])
        cache = ab.get_default_cache()

        def sync() -> None:
            deduped.read(cache=cache)  # auto: merged by primary key
            events.read(cache=cache, write_strategy="append")

        for _ in range(SYNCS_WHILE_WRITING):
            sync()
            time.sleep(2)
        sandbox.post("/writes/stop")
        # Records of the last second before a sync wait for the next one.
        time.sleep(2)
        sync()
        truth = sandbox.truth()
        loaded = {stream: rows(cache, stream) for stream in [*DEDUPED, EVENTS]}
    finally:
        sandbox.stop()
    return {"truth": truth, "loaded": loaded, "keys": keys}


@pytest.mark.parametrize("stream", [*DEDUPED, EVENTS])
def test_every_timestamp_column_holds_the_true_instant(warehouse: dict[str, Any], stream: str) -> None:
    key = warehouse["keys"][stream]
    truth = {record[key]: record for record in warehouse["truth"][stream]}
    columns = timestamp_columns(list(truth.values()))
    assert {"updated_at", "timestamp"} & columns, f"{stream}: the truth has no timestamps? {columns}"
    wrong = []
    checked = 0
    for row in warehouse["loaded"][stream]:
        record = truth.get(row[key])
        if record is None:
            continue
        for column in columns:
            expected = record.get(column)
            got = loaded_instant(row.get(column))
            checked += 1
            if (instant(expected) if expected is not None else None) != got:
                wrong.append((row[key], column, expected, row.get(column)))
    assert checked > 0
    assert not wrong, f"{stream}: {len(wrong)} of {checked} timestamps differ from the truth, e.g. {wrong[:3]}"


@pytest.mark.parametrize("stream", DEDUPED)
def test_the_deduplicated_tables_hold_the_latest_version_of_every_record(
    warehouse: dict[str, Any], stream: str
) -> None:
    truth = {record["id"]: instant(record["updated_at"]) for record in warehouse["truth"][stream]}
    loaded = Counter(row["id"] for row in warehouse["loaded"][stream])
    versions = {row["id"]: loaded_instant(row["updated_at"]) for row in warehouse["loaded"][stream]}
    missing = sorted(set(truth) - set(versions))
    extra = sorted(set(versions) - set(truth))
    stale = sorted(key for key in truth if key in versions and versions[key] != truth[key])
    doubled = sorted(key for key, n in loaded.items() if n > 1)
    assert not (missing or extra or stale or doubled), (
        f"{stream}: {len(missing)} lost (e.g. {missing[:3]}), {len(extra)} unknown (e.g. {extra[:3]}), "
        f"{len(stale)} stale (e.g. {[(k, versions[k], truth[k]) for k in stale[:3]]}), "
        f"{len(doubled)} twice (e.g. {doubled[:3]}); {len(truth)} true"
    )


def test_every_event_is_in_the_events_table(warehouse: dict[str, Any]) -> None:
    truth = {record["event_id"] for record in warehouse["truth"][EVENTS]}
    loaded = {row["event_id"] for row in warehouse["loaded"][EVENTS]}
    missing = sorted(truth - loaded)
    extra = sorted(loaded - truth)
    assert not (missing or extra), (
        f"{len(missing)} events lost (e.g. {missing[:3]}), {len(extra)} unknown (e.g. {extra[:3]}); {len(truth)} true"
    )


def test_no_event_is_appended_twice(warehouse: dict[str, Any]) -> None:
    counts = Counter(row["event_id"] for row in warehouse["loaded"][EVENTS])
    twice = sorted(key for key, n in counts.items() if n > 1)
    assert not twice, f"{len(twice)} of {len(counts)} events appended more than once, e.g. {twice[:3]}"
