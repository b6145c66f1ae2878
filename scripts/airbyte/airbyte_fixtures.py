#!/usr/bin/env python3
"""Make, or check, the Airbyte fixtures in integration_tests/ from a live sandbox.

Standard library only, so it runs with any Python 3.11 (the pytest adapter also
imports it). Everything here drives the real connector binary (or, for
`run_connector`, any argv prefix such as a `docker run ...` command line).

Fixtures (all derived from the sandbox with seed 42 and its default sizes):

- `expected_records.jsonl`: every record a basic read (the `basic_read` catalog
  of acceptance-test-config.yml, no state) emits, one
  `{"stream", "data", "emitted_at"}` object a line, grouped by stream in catalog
  order and in the order the connector emitted them within a stream.
- `sample_state.json`: per stream, the cursor of the median record of that read
  (a state the connector itself would have checkpointed halfway through the
  history), as Airbyte passes it: an array of per-stream STATE messages.
- `abnormal_state.json`: per stream, a cursor far in the future.

Before writing (or, with --check, instead of writing) it verifies that the
connector honours both states: from the future state it reads nothing and keeps
the cursor; from the sample state it emits exactly the records after the cursor
(order_events: plus at most its lookback window before it).

Usage:
  airbyte_fixtures.py --binary B --base-url URL [--check] [--dir integration_tests]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "integration_tests"
FUTURE_CURSOR = "2999-12-31T23:59:59Z"
# Spec default of events_lookback_minutes (the sample config does not set it).
DEFAULT_EVENTS_LOOKBACK_MINUTES = 10


# --------------------------------------------------------------------------
# Running the connector


class ConnectorRun:
    """The parsed stdout of one connector run, plus its exit code and stderr."""

    def __init__(self, argv: list[str], messages: list[dict[str, Any]], returncode: int, stderr: str):
        self.argv = argv
        self.messages = messages
        self.returncode = returncode
        self.stderr = stderr

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.of_type("RECORD")]

    @property
    def error_traces(self) -> list[dict[str, Any]]:
        return [
            m["trace"]
            for m in self.of_type("TRACE")
            if m.get("trace", {}).get("type") == "ERROR"
        ]

    def final_stream_states(self) -> dict[str, dict[str, Any]]:
        """The last per-stream state blob of each stream."""
        out: dict[str, dict[str, Any]] = {}
        for message in self.of_type("STATE"):
            state = message["state"]
            assert state.get("type") == "STREAM", f"unexpected state type: {state}"
            stream = state["stream"]
            out[stream["stream_descriptor"]["name"]] = stream.get("stream_state") or {}
        return out

    def check_ok(self) -> None:
        if self.returncode != 0 or self.error_traces:
            raise AssertionError(
                f"{' '.join(self.argv)} exited {self.returncode}; "
                f"error traces: {json.dumps(self.error_traces)[:2000]}; stderr: {self.stderr[-2000:]}"
            )


def run_connector(argv: list[str], timeout: float = 600) -> ConnectorRun:
    """Run a connector command; every stdout line must be one JSON Airbyte message."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    messages = []
    for number, line in enumerate(proc.stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError as error:
            raise AssertionError(f"stdout line {number} of {' '.join(argv)} is not JSON: {line[:300]!r}") from error
        if not isinstance(message, dict) or "type" not in message:
            raise AssertionError(f"stdout line {number} is not an Airbyte message: {line[:300]!r}")
        messages.append(message)
    return ConnectorRun(argv, messages, proc.returncode, proc.stderr)


def read(binary: str | list[str], config: Path, catalog: Path, state: Path | None = None) -> ConnectorRun:
    prefix = [binary] if isinstance(binary, str) else list(binary)
    argv = prefix + ["read", "--config", str(config), "--catalog", str(catalog)]
    if state is not None:
        argv += ["--state", str(state)]
    return run_connector(argv)


# --------------------------------------------------------------------------
# Catalog, cursors, states


def load_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def catalog_streams(catalog_path: Path) -> list[dict[str, Any]]:
    return load_json(catalog_path)["streams"]


def cursor_fields(catalog_path: Path) -> dict[str, str]:
    """Stream name -> its (single, top-level) cursor field in the configured catalog."""
    out = {}
    for configured in catalog_streams(catalog_path):
        stream = configured["stream"]
        field = configured.get("cursor_field") or stream.get("default_cursor_field")
        assert field and len(field) == 1, f"stream {stream['name']}: cursor field {field!r}"
        out[stream["name"]] = field[0]
    return out


def primary_keys(catalog_path: Path) -> dict[str, str]:
    out = {}
    for configured in catalog_streams(catalog_path):
        stream = configured["stream"]
        key = configured.get("primary_key") or stream.get("source_defined_primary_key")
        assert key and len(key) == 1 and len(key[0]) == 1, f"stream {stream['name']}: key {key!r}"
        out[stream["name"]] = key[0][0]
    return out


def instant(value: str) -> datetime:
    """An RFC 3339 string as an aware datetime (compare instants, not strings)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"timestamp without offset: {value!r}"
    return parsed.astimezone(timezone.utc)


def rfc3339_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def state_messages(cursors: dict[str, str]) -> list[dict[str, Any]]:
    """Per-stream STATE messages, the shape Airbyte hands to `read --state`."""
    return [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": name},
                "stream_state": {"cursor": cursor},
            },
        }
        for name, cursor in cursors.items()
    ]


def state_cursors(state_file: Path) -> dict[str, str]:
    return {
        m["stream"]["stream_descriptor"]["name"]: m["stream"]["stream_state"]["cursor"]
        for m in load_json(state_file)
    }


def events_lookback(config: dict[str, Any]) -> timedelta:
    return timedelta(minutes=config.get("events_lookback_minutes", DEFAULT_EVENTS_LOOKBACK_MINUTES))


# --------------------------------------------------------------------------
# Fixture contents


def expected_record_lines(records: list[dict[str, Any]], stream_order: list[str]) -> list[str]:
    by_stream: dict[str, list[dict[str, Any]]] = {name: [] for name in stream_order}
    for record in records:
        assert record["stream"] in by_stream, f"record of an unconfigured stream {record['stream']}"
        by_stream[record["stream"]].append(record)
    return [
        json.dumps(
            {"stream": r["stream"], "data": r["data"], "emitted_at": r["emitted_at"]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for name in stream_order
        for r in by_stream[name]
    ]


def without_emitted_at(lines: Iterable[str]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        if line.strip():
            record = json.loads(line)
            out.append((record["stream"], json.dumps(record["data"], sort_keys=True)))
    return out


def median_cursors(records: list[dict[str, Any]], cursors: dict[str, str]) -> dict[str, str]:
    values: dict[str, list[datetime]] = {name: [] for name in cursors}
    for record in records:
        values[record["stream"]].append(instant(record["data"][cursors[record["stream"]]]))
    out = {}
    for name, moments in values.items():
        assert moments, f"stream {name} has no records: cannot pick a sample state"
        moments.sort()
        out[name] = rfc3339_utc(moments[(len(moments) - 1) // 2])
    return out


# --------------------------------------------------------------------------
# Checks of the connector against the fixtures (also used by the pytest adapter)


def assert_future_state_reads_nothing(run: ConnectorRun, future: dict[str, str]) -> None:
    """CAT's test_state_with_abnormally_large_values, plus: the cursor is kept."""
    run.check_ok()
    counts = Counter(r["stream"] for r in run.records)
    assert not counts, f"a read from a future state emitted records: {dict(counts)}"
    finals = run.final_stream_states()
    for name, cursor in future.items():
        assert name in finals, f"no STATE for stream {name} after a read from a future state"
        kept = finals[name].get("cursor")
        assert kept is not None and instant(kept) >= instant(cursor), (
            f"stream {name}: the future cursor {cursor} came back as {finals[name]}"
        )


def assert_sample_state_read(
    run: ConnectorRun,
    full_records: list[dict[str, Any]],
    sample: dict[str, str],
    cursors: dict[str, str],
    keys: dict[str, str],
    lookback: timedelta,
) -> dict[str, int]:
    """An incremental read from `sample` emits exactly the records after each cursor.

    order_events re-reads its lookback window before the cursor by design, so
    there the emitted set must contain every event after the cursor and nothing
    older than cursor - lookback. Returns the record count per stream.
    """
    run.check_ok()
    got: dict[str, list[str]] = {name: [] for name in sample}
    for record in run.records:
        name = record["stream"]
        got[name].append(record["data"][keys[name]])
        assert instant(record["data"][cursors[name]]) > instant(sample[name]) - (
            lookback if name == "order_events" else timedelta(0)
        ), f"stream {name}: record {record['data'][keys[name]]} is older than the state allows"
    for name, cursor in sample.items():
        after = {
            r["data"][keys[name]]
            for r in full_records
            if r["stream"] == name and instant(r["data"][cursors[name]]) > instant(cursor)
        }
        emitted = got[name]
        duplicates = [k for k, n in Counter(emitted).items() if n > 1]
        assert not duplicates, f"stream {name}: duplicated records {duplicates[:5]}"
        missing = after - set(emitted)
        assert not missing, f"stream {name}: {len(missing)} records after {cursor} not emitted, e.g. {sorted(missing)[:5]}"
        if name != "order_events":
            extra = set(emitted) - after
            assert not extra, f"stream {name}: {len(extra)} records at or before {cursor} emitted, e.g. {sorted(extra)[:5]}"
    finals = run.final_stream_states()
    for name, cursor in sample.items():
        final = finals.get(name, {}).get("cursor")
        assert final is not None and instant(final) >= instant(cursor), (
            f"stream {name}: the cursor went back from {cursor} to {finals.get(name)}"
        )
    return {name: len(ids) for name, ids in got.items()}


# --------------------------------------------------------------------------
# Main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the connector binary")
    parser.add_argument("--base-url", required=True, help="URL of a sandbox with seed 42 and default sizes")
    parser.add_argument("--dir", default=str(FIXTURES), help="fixture directory (default integration_tests/)")
    parser.add_argument("--check", action="store_true", help="verify the fixtures are current; write nothing")
    args = parser.parse_args(argv)

    fixtures = Path(args.dir)
    catalog = fixtures / "configured_catalog.json"
    cursors = cursor_fields(catalog)
    keys = primary_keys(catalog)
    stream_order = [s["stream"]["name"] for s in catalog_streams(catalog)]

    config = load_json(fixtures / "sample_config.json")
    config["base_url"] = args.base_url.rstrip("/")

    with tempfile.TemporaryDirectory(prefix="airbyte-fixtures-") as tmp:
        tmpdir = Path(tmp)
        config_path = tmpdir / "config.json"
        config_path.write_text(json.dumps(config))

        basic = read(args.binary, config_path, catalog)
        basic.check_ok()
        counts = Counter(r["stream"] for r in basic.records)
        print(f"basic read: {dict(counts)} ({len(basic.records)} records)")
        new_expected = expected_record_lines(basic.records, stream_order)

        sample = median_cursors(basic.records, cursors)
        future = {name: FUTURE_CURSOR for name in stream_order}
        new_sample = json.dumps(state_messages(sample), indent=2) + "\n"
        new_abnormal = json.dumps(state_messages(future), indent=2) + "\n"

        sample_path = tmpdir / "sample_state.json"
        sample_path.write_text(new_sample)
        abnormal_path = tmpdir / "abnormal_state.json"
        abnormal_path.write_text(new_abnormal)

        assert_future_state_reads_nothing(read(args.binary, config_path, catalog, abnormal_path), future)
        print(f"future state {FUTURE_CURSOR}: no records, cursors kept")
        after = assert_sample_state_read(
            read(args.binary, config_path, catalog, sample_path),
            basic.records, sample, cursors, keys, events_lookback(config),
        )
        print(f"sample state {sample}: read {after}")

    targets = {
        "expected_records.jsonl": "\n".join(new_expected) + "\n",
        "sample_state.json": new_sample,
        "abnormal_state.json": new_abnormal,
    }
    stale = []
    for name, content in targets.items():
        path = fixtures / name
        old = path.read_text() if path.exists() else None
        if name == "expected_records.jsonl":
            # emitted_at differs on every read: compare the records without it,
            # and keep the file as it is when only emitted_at changed.
            same = old is not None and without_emitted_at(old.splitlines()) == without_emitted_at(new_expected)
        else:
            same = old == content
        if same:
            print(f"{name}: current")
            continue
        stale.append(name)
        if args.check:
            print(f"{name}: STALE (differs from what the connector emits now)")
        else:
            path.write_text(content)
            print(f"{name}: written")
    if args.check and stale:
        print("fixtures are stale: run scripts/airbyte/regenerate-fixtures.sh", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
