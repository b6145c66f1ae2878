"""The pure decisions of fivetran/connector.py: Fivetran types from JSON schema, typed config from strings, state
merging and record values. Inputs are taken from the binary's own spec where the decision depends on it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2] / "fivetran"


def _load_connector() -> Any:
    """fivetran/connector.py as a module (it is a project folder, not a package)."""
    spec = importlib.util.spec_from_file_location("fivetran_connector", PROJECT / "connector.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


connector = _load_connector()


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The packaged binary's connectionSpecification."""
    output = subprocess.run([str(connector.BINARY), "spec"], capture_output=True, check=True, timeout=60).stdout
    return json.loads(output)["spec"]["connectionSpecification"]


MONEY = {"type": "number", "description": "Amount in the record's currency, at most 2 decimals."}


def test_money_is_a_decimal_with_the_declared_scale() -> None:
    assert connector.fivetran_type(MONEY) == {"type": "DECIMAL", "precision": 18, "scale": 2}


def test_a_number_that_is_not_money_is_a_double() -> None:
    assert connector.fivetran_type({"type": ["null", "number"]}) == "DOUBLE"


def test_integers_are_long() -> None:
    assert connector.fivetran_type({"type": ["null", "integer"]}) == "LONG"


def test_instants_are_utc_datetimes_and_dates_are_naive_dates() -> None:
    assert connector.fivetran_type({"type": "string", "format": "date-time"}) == "UTC_DATETIME"
    assert connector.fivetran_type({"type": ["null", "string"], "format": "date"}) == "NAIVE_DATE"


def test_objects_and_arrays_are_json() -> None:
    assert connector.fivetran_type({"type": ["null", "object"]}) == "JSON"
    assert connector.fivetran_type({"type": "array"}) == "JSON"


def test_plain_strings_and_booleans_keep_their_type() -> None:
    assert connector.fivetran_type({"type": "string"}) == "STRING"
    assert connector.fivetran_type({"type": "boolean"}) == "BOOLEAN"


def test_a_table_has_the_stream_primary_key() -> None:
    stream = {"name": "order_events", "source_defined_primary_key": [["event_id"]],
              "json_schema": {"properties": {"event_id": {"type": "string"}}}}
    assert connector.fivetran_table(stream) == {
        "table": "order_events", "primary_key": ["event_id"], "columns": {"event_id": "STRING"}}


def test_streams_that_support_it_are_read_incrementally() -> None:
    stream = {"name": "orders", "supported_sync_modes": ["full_refresh", "incremental"],
              "default_cursor_field": ["updated_at"], "source_defined_primary_key": [["id"]]}
    configured = connector.configured_catalog([stream])["streams"][0]
    assert (configured["sync_mode"], configured["cursor_field"]) == ("incremental", ["updated_at"])


def test_flat_credentials_nest_and_strings_take_the_spec_types(spec: dict[str, Any]) -> None:
    flat = {"base_url": "http://127.0.0.1:1", "auth_type": "api_key", "api_key": "k", "page_size": "50",
            "include_deleted": "True", "requests_per_second": "2.5", "start_date": "", "streams": "orders"}
    assert connector.airbyte_config(flat, spec) == {
        "base_url": "http://127.0.0.1:1", "credentials": {"auth_type": "api_key", "api_key": "k"},
        "page_size": 50, "include_deleted": True, "requests_per_second": 2.5}


def test_a_value_of_the_wrong_type_names_the_key_but_not_the_value(spec: dict[str, Any]) -> None:
    with pytest.raises(connector.ConnectorError, match="'max_retries' must be an integer") as raised:
        connector.airbyte_config({"max_retries": "s3cr3t-looking"}, spec)
    assert "s3cr3t-looking" not in str(raised.value)


def test_field_policies_are_written_as_json_and_the_hash_key_as_text(spec: dict[str, Any]) -> None:
    policies = [{"stream": "customers", "field": "email", "action": "hash", "normalize": "email"}]
    flat = {"field_policies": json.dumps(policies), "hash_key": "a-key-of-sixteen-chars"}
    assert connector.airbyte_config(flat, spec) == {"field_policies": policies, "hash_key": "a-key-of-sixteen-chars"}
    with pytest.raises(connector.ConnectorError, match="'field_policies' must be JSON"):
        connector.airbyte_config({"field_policies": "customers.email"}, spec)
    with pytest.raises(connector.ConnectorError, match="'field_policies' must be JSON"):
        connector.airbyte_config({"field_policies": "{}"}, spec)


def test_an_unknown_key_is_rejected(spec: dict[str, Any]) -> None:
    with pytest.raises(connector.ConnectorError, match="unknown configuration key 'pagesize'"):
        connector.airbyte_config({"pagesize": "10"}, spec)


def test_no_streams_value_selects_every_stream() -> None:
    assert connector.selected_stream_names({"streams": " "}, ["a", "b"]) == ["a", "b"]


def test_the_streams_value_selects_those_streams() -> None:
    assert connector.selected_stream_names({"streams": "b, a"}, ["a", "b", "c"]) == ["a", "b"]


def test_an_unknown_stream_is_rejected() -> None:
    with pytest.raises(connector.ConnectorError, match="unknown stream"):
        connector.selected_stream_names({"streams": "refunds"}, ["orders"])


def test_a_stream_state_replaces_only_that_stream() -> None:
    state = {"streams": {"orders": {"cursor": "a"}, "customers": {"cursor": "b"}}}
    message = {"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "orders"}, "stream_state": {"cursor": "c"}}}}
    assert connector.merge_state(state, message) == {"streams": {"orders": {"cursor": "c"}, "customers": {"cursor": "b"}}}


def test_the_saved_state_becomes_per_stream_airbyte_states() -> None:
    assert connector.airbyte_state({"streams": {"orders": {"cursor": "c"}}}) == [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": {"cursor": "c"}}}]
    assert connector.airbyte_state({}) == []


def test_money_values_become_their_exact_decimal_text() -> None:
    decimal = connector.fivetran_type(MONEY)
    row = connector.fivetran_row({"total": 4188.99, "big": 1e16, "n": 3}, {"total": decimal, "big": decimal, "n": "LONG"})
    assert row == {"total": "4188.99", "big": "10000000000000000", "n": 3}


def test_an_error_trace_fails_with_its_message() -> None:
    trace = {"type": "TRACE", "trace": {"type": "ERROR", "error": {"message": "the API rejected the API key (401)"}}}
    with pytest.raises(connector.ConnectorError, match="rejected the API key"):
        connector.raise_on_error_trace(trace)


ORDERS_TABLE = {"table": "orders", "primary_key": ["id"], "columns": {"id": "STRING", "total_amount": connector.fivetran_type(MONEY)}}


def test_a_live_record_is_one_upsert() -> None:
    operations = connector.record_operations(ORDERS_TABLE, {"id": "ord_1", "total_amount": 4188.99, "deleted_at": None})
    assert operations == [("upsert", {"id": "ord_1", "total_amount": "4188.99", "deleted_at": None})]


def test_a_deleted_record_is_upserted_with_its_final_values_then_deleted() -> None:
    data = {"id": "ord_1", "total_amount": 1.5, "deleted_at": "2024-03-01T10:00:00Z"}
    assert connector.record_operations(ORDERS_TABLE, data) == [
        ("upsert", {"id": "ord_1", "total_amount": "1.5", "deleted_at": "2024-03-01T10:00:00Z"}),
        ("delete", {"id": "ord_1"}),
    ]
