"""PyAirbyte (the `airbyte` package) runs source-ecommerce against the sandbox.

For each way PyAirbyte can run a non-Python connector (the Docker image with host
networking, and the local binary via `local_executable`), read every stream into
PyAirbyte's default DuckDB cache and compare the row counts with the sandbox's
truth: `X-Total-Count` of `GET /v1/<stream>` (with `include_deleted=true` where the
API has it), which must in turn equal the counts of integration_tests/expected_records.jsonl.
Two incremental reads then hand PyAirbyte's stored state back to the connector:
the deduplicated tables must still hold exactly the truth, and the second read
must fetch next to nothing.

AIRBYTE_OFFLINE_MODE=1 (no registry look-ups, no telemetry) is set before PyAirbyte is
imported; its project dir (caches, mounts) is AIRBYTE_PROJECT_DIR, by default
target/airbyte-work/pyairbyte.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("AIRBYTE_PROJECT_DIR", str(ROOT / "target" / "airbyte-work" / "pyairbyte"))
Path(os.environ["AIRBYTE_PROJECT_DIR"]).mkdir(parents=True, exist_ok=True)

import airbyte as ab  # noqa: E402  (after the environment above)

from binary_source import connector_argv  # noqa: E402

CONFIG_PATH = ROOT / "integration_tests" / "sample_config.json"
CONFIG = json.loads(CONFIG_PATH.read_text())


def discovered_streams() -> list[dict]:
    """The connector's own catalog: the stream list is never copied here."""
    out = subprocess.run(
        [*connector_argv(), "discover", "--config", str(CONFIG_PATH)],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    catalogs = [m["catalog"] for m in map(json.loads, out.splitlines()) if m.get("type") == "CATALOG"]
    assert len(catalogs) == 1, out
    return catalogs[0]["streams"]


CATALOG_STREAMS = discovered_streams()
STREAMS = [s["name"] for s in CATALOG_STREAMS]
# Soft-deleting streams (their schema has deleted_at) take include_deleted; the
# API rejects unknown parameters on the others.
HAS_INCLUDE_DELETED = {s["name"] for s in CATALOG_STREAMS if "deleted_at" in s["json_schema"]["properties"]}

pytestmark = pytest.mark.pyairbyte


def sandbox_total(stream: str) -> int:
    query = "limit=1" + ("&include_deleted=true" if stream in HAS_INCLUDE_DELETED else "")
    request = urllib.request.Request(
        f"{CONFIG['base_url'].rstrip('/')}/v1/{stream}?{query}",
        headers={"Authorization": f"Bearer {CONFIG['credentials']['api_key']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.headers["X-Total-Count"])


@pytest.fixture(scope="module")
def truth() -> dict[str, int]:
    totals = {stream: sandbox_total(stream) for stream in STREAMS}
    lines = (ROOT / "integration_tests" / "expected_records.jsonl").read_text().splitlines()
    from_fixture = Counter(json.loads(line)["stream"] for line in lines if line.strip())
    assert totals == dict(from_fixture), (
        f"the sandbox's X-Total-Count {totals} differs from expected_records.jsonl {dict(from_fixture)}: "
        "is the sandbox running with seed 42 and its default sizes?"
    )
    return totals


def make_source(mode: str) -> ab.Source:
    if mode == "docker":
        return ab.get_source(
            "source-ecommerce",
            config=CONFIG,
            docker_image=os.environ.get("IMAGE_TAG", "source-ecommerce:dev"),
            use_host_network=True,
        )
    return ab.get_source("source-ecommerce", config=CONFIG, local_executable=connector_argv()[0])


def cache_counts(cache: ab.DuckDBCache) -> dict[str, int]:
    return {stream: len(cache[stream].to_pandas()) for stream in STREAMS}


@pytest.mark.parametrize("mode", ["docker", "local_executable"])
def test_pyairbyte_reads_every_record(mode: str, truth: dict[str, int]) -> None:
    source = make_source(mode)
    source.check()
    assert sorted(source.get_available_streams()) == sorted(STREAMS)
    source.select_all_streams()

    cache = ab.get_default_cache()
    result = source.read(cache=cache, force_full_refresh=True)
    assert result.processed_records == sum(truth.values()), "records PyAirbyte received"
    assert cache_counts(cache) == truth, "rows in the DuckDB cache after a full read"

    # Incremental reads: PyAirbyte stores the connector's states in the cache and
    # passes them back. A full refresh ends with the empty state ({}), so the
    # first incremental read starts from scratch and the second from its cursors.
    for attempt in ("first", "second"):
        again = source.read(cache=cache)
        assert cache_counts(cache) == truth, f"rows in the DuckDB cache after the {attempt} incremental read"
    assert again.processed_records < sum(truth.values()) / 10, (
        f"the second incremental read processed {again.processed_records} records: was the state passed back?"
    )
