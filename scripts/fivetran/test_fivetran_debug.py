"""The fivetran/ package under the SDK's real local runner (`fivetran debug`), against the sandbox API.

- Three syncs while the sandbox writes (updates, inserts, deletes, late events, mixed UTC offsets); the last one after
  the writes stop. The warehouse must then equal the sandbox's truth: every record in its latest version, deleted
  ones flagged, nothing lost, no duplicate key.
- A rejected API key and a storm of 500s past the retry budget end the run as a failed sync, without the secret.
- 100,000 orders keep the Python side's memory far below the SDK's 4 GB limit.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fivetran_harness import DebugRun, Sandbox, declared_keys, make_project, run_fivetran_debug, running_sandbox, sdk_home, warehouse_tables

API_KEY = "sk_test_fivetran_e2e_9f3c2a7d1b"
DELETED = "_fivetran_deleted"
SMALL_SANDBOX = ["--customers", "120", "--products", "30", "--orders", "500", "--order-events", "1000"]
# Far below the SDK's 4 GB; what the run really uses is printed and recorded in the README.
MEMORY_BUDGET_MB = 512


def configuration(sandbox: Sandbox, **overrides: str) -> dict[str, str]:
    """A Fivetran configuration.json for the sandbox: every value a string, credentials flat."""
    return {"base_url": sandbox.url, "auth_type": "api_key", "api_key": API_KEY, "page_size": "100",
            "checkpoint_interval": "200", **overrides}


def as_instant(text: str) -> datetime:
    """An RFC 3339 instant as an aware datetime, so that equal instants in other offsets compare equal."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def comparable(column_type: str, stored: Any, truth: Any) -> tuple[Any, Any]:
    """The warehouse value and the truth's, each brought to what the column type means."""
    if stored is None or truth is None:
        return stored, truth
    if column_type == "JSON":
        return json.loads(stored), truth
    if isinstance(stored, datetime):
        return stored.astimezone(timezone.utc), as_instant(truth)
    if isinstance(stored, Decimal):
        return stored, Decimal(repr(truth))
    if isinstance(stored, date):
        return stored, date.fromisoformat(truth)
    return stored, truth


def differences(stream: str, key: str, types: dict[str, str], rows: list[dict[str, Any]],
                truth: list[dict[str, Any]]) -> list[str]:
    """What differs between a table and the truth of its stream, keyed by `key` (empty when they are equal)."""
    found: list[str] = []
    by_key = {row[key]: row for row in rows}
    if len(by_key) != len(rows):
        found.append(f"{stream}: {len(rows) - len(by_key)} duplicate keys")
    expected = {record[key]: record for record in truth}
    if missing := sorted(expected.keys() - by_key.keys()):
        found.append(f"{stream}: {len(missing)} records missing, e.g. {missing[:3]}")
    if extra := sorted(by_key.keys() - expected.keys()):
        found.append(f"{stream}: {len(extra)} rows not in the truth, e.g. {extra[:3]}")
    for record_key, record in expected.items():
        row = by_key.get(record_key)
        if row is None:
            continue
        if bool(row[DELETED]) != (record.get("deleted_at") is not None):
            found.append(f"{stream} {record_key}: {DELETED}={row[DELETED]} but deleted_at={record.get('deleted_at')}")
        for field, value in record.items():
            if field not in types:
                found.append(f"{stream}: no column for {field}")
                continue
            stored, wanted = comparable(types[field], row[field], value)
            if stored != wanted:
                found.append(f"{stream} {record_key} {field}: {stored!r} != {wanted!r}")
    return found


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A scratch folder for one test's sandbox log, project copy and HOME."""
    return tmp_path


def test_three_syncs_during_writes_end_equal_to_the_truth(work: Path) -> None:
    writes = ["--writes-per-second", "30", "--late-events", "--mixed-offsets"]
    with running_sandbox(work, "--api-key", API_KEY, *SMALL_SANDBOX, *writes) as sandbox:
        project = make_project(work, configuration(sandbox))
        home = sdk_home(work)
        keys = declared_keys(project, sandbox, API_KEY)

        first = run_fivetran_debug(project, home)
        assert first.returncode == 0, "first sync"
        saved = json.loads((project / "files" / "state.json").read_text())
        assert sorted(saved["streams"]) == sorted(keys), "the first sync checkpoints every stream"

        time.sleep(3)
        second = run_fivetran_debug(project, home)
        assert second.returncode == 0, "second sync"
        assert json.dumps(saved["streams"]["orders"]) in second.output, "the second sync starts from the saved state"
        assert 0 < second.count("Upserts") < first.count("Upserts") / 2, "the second sync is incremental"

        sandbox.stop_writes()
        # A sync reads up to the second before it starts: writes of the last
        # second wait for the next sync, so the last one starts 2 s later.
        time.sleep(2)
        last = run_fivetran_debug(project, home)
        assert last.returncode == 0, "last sync"
        truth = sandbox.truth()
    assert not [run for run in (first, second, last) if API_KEY in run.output], "the API key was printed"

    tables = warehouse_tables(project)
    assert sorted(tables) == sorted(keys)
    found = [line for stream, (types, rows) in tables.items()
             for line in differences(stream, keys[stream], types, rows, truth[stream])]
    assert not found, "\n".join(found[:40])
    assert sum(1 for record in truth["orders"] + truth["customers"] if record.get("deleted_at")) > 0, "deletes were tested"


def test_columns_have_the_declared_fivetran_types(work: Path) -> None:
    with running_sandbox(work, "--api-key", API_KEY, *SMALL_SANDBOX) as sandbox:
        project = make_project(work, configuration(sandbox, streams="customers,orders"))
        assert run_fivetran_debug(project, sdk_home(work)).returncode == 0
    tables = warehouse_tables(project)
    assert sorted(tables) == ["customers", "orders"], "only the selected streams"
    customers, orders = tables["customers"][0], tables["orders"][0]
    assert customers["total_spent"] == "DECIMAL(18,2)"
    assert customers["orders_count"] == "BIGINT"
    assert customers["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert customers["cf_birthday"] == "DATE"
    assert customers["marketing_opt_in"] == "BOOLEAN"
    assert customers["addresses"] == "JSON"
    assert orders["line_items"] == "JSON"
    assert orders["id"] == "VARCHAR"


def assert_failed_without_secret(run: DebugRun, secret: str) -> None:
    """A failed sync: exit 1, the SDK's SYNC FAILED, and the secret nowhere in what was printed."""
    assert run.returncode == 1
    assert "SYNC FAILED" in run.output
    assert secret not in run.output, "the secret was printed"


def test_a_rejected_api_key_fails_the_sync_with_the_check_message(work: Path) -> None:
    wrong_key = "sk_test_wrong_key_5e8a1c"
    with running_sandbox(work, "--api-key", API_KEY, *SMALL_SANDBOX) as sandbox:
        project = make_project(work, configuration(sandbox, api_key=wrong_key))
        run = run_fivetran_debug(project, sdk_home(work))
    assert_failed_without_secret(run, wrong_key)
    assert "api key" in run.output.lower() and "401" in run.output, "the check's message says why"


def test_a_server_error_storm_past_the_retry_budget_fails_the_sync(work: Path) -> None:
    faults = ["--fault-500-every", "1", "--faults-after-requests", "8"]
    with running_sandbox(work, "--api-key", API_KEY, *SMALL_SANDBOX, *faults) as sandbox:
        project = make_project(work, configuration(sandbox, max_retries="1", max_retry_seconds="5", page_size="20"))
        run = run_fivetran_debug(project, sdk_home(work))
    assert_failed_without_secret(run, API_KEY)
    assert "500" in run.output, "the failure names the server error"


def test_a_bad_configuration_value_fails_the_sync_naming_the_key(work: Path) -> None:
    with running_sandbox(work, "--api-key", API_KEY, *SMALL_SANDBOX) as sandbox:
        project = make_project(work, configuration(sandbox, page_size="lots"))
        run = run_fivetran_debug(project, sdk_home(work))
    assert_failed_without_secret(run, API_KEY)
    assert "configuration value 'page_size' must be an integer" in run.output


def test_one_hundred_thousand_orders_stay_far_below_the_memory_limit(work: Path) -> None:
    sizes = ["--customers", "10", "--products", "10", "--orders", "100000", "--order-events", "10"]
    with running_sandbox(work, "--api-key", API_KEY, *sizes) as sandbox:
        project = make_project(work, configuration(sandbox, streams="orders", page_size="1000", checkpoint_interval="10000"))
        run = run_fivetran_debug(project, sdk_home(work), timeout=600)
    assert run.returncode == 0
    assert run.count("Upserts") == 100_000
    peak = run.peak_memory_mb()
    print(f"peak memory above baseline for 100,000 orders, a checkpoint every 10,000: {peak:.1f} MB")
    assert peak < MEMORY_BUDGET_MB
