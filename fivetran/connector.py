"""Fivetran Connector SDK package around the source-ecommerce binary.

The connector itself is the Rust binary (Airbyte protocol), bundled at bin/source-ecommerce. This module only
translates: Fivetran's string configuration into the binary's typed config, the binary's `discover` catalog into
Fivetran tables, and the binary's `read` output, line by line, into SDK operations. Nothing about the streams or
their columns is kept here: it all comes from the binary's `spec` and `discover`, so a new stream or custom field
needs no change in this file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from fivetran_connector_sdk import Connector
from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

JsonObject = dict[str, Any]

BINARY = Path(__file__).resolve().parent / "bin" / "source-ecommerce"
STREAMS_KEY = "streams"
CREDENTIALS_KEY = "credentials"
# Money is declared as a JSON number whose description says how many decimals it has ("at most 2 decimals").
MONEY_DECIMALS = re.compile(r"at most (\d+) decimals")
MONEY_PRECISION = 18
# How long discover, spec and check may take before the sync gives up on the binary.
SHORT_COMMAND_TIMEOUT_SECONDS = 300


class ConnectorError(RuntimeError):
    """A failure with a message meant for the user: it ends the sync as failed, without a secret in it."""


# ---------------------------------------------------------------------------------------------------------------------
# Running the binary (effects)


def _run_binary(args: list[str]) -> list[JsonObject]:
    """Runs a short command (spec, check, discover) and returns its Airbyte messages; an error trace fails the sync."""
    if not os.access(BINARY, os.X_OK):
        raise ConnectorError(f"the connector binary is missing at {BINARY}: run package.sh to build it")
    try:
        done = subprocess.run(
            [str(BINARY), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            timeout=SHORT_COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise ConnectorError(f"source-ecommerce {args[0]} did not finish within {e.timeout} s") from None
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip().startswith(b"{")]
    for message in messages:
        raise_on_error_trace(message)
    if done.returncode != 0:
        raise ConnectorError(f"source-ecommerce {args[0]} exited with status {done.returncode}")
    return messages


@contextmanager
def _private_json_files(**documents: Any) -> Iterator[dict[str, str]]:
    """Writes each document to a file only this user can read (the config holds secrets), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="source-ecommerce-") as folder:
        paths = {}
        for name, document in documents.items():
            path = os.path.join(folder, f"{name}.json")
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(document, file)
            paths[name] = path
        yield paths


def connector_spec() -> JsonObject:
    """The binary's connectionSpecification: the types the string configuration is converted to."""
    for message in _run_binary(["spec"]):
        if message.get("type") == "SPEC":
            return message["spec"]["connectionSpecification"]
    raise ConnectorError("source-ecommerce spec printed no SPEC message")


def check_connection(config: JsonObject) -> None:
    """Runs the binary's check, so that a bad configuration fails with exactly the message `check` gives."""
    with _private_json_files(config=config) as paths:
        messages = _run_binary(["check", "--config", paths["config"]])
    for message in messages:
        if message.get("type") == "CONNECTION_STATUS":
            status = message["connectionStatus"]
            if status.get("status") != "SUCCEEDED":
                raise ConnectorError(status.get("message") or "source-ecommerce check failed")
            return
    raise ConnectorError("source-ecommerce check printed no CONNECTION_STATUS message")


def discover_streams(config: JsonObject) -> list[JsonObject]:
    """The binary's catalog streams (custom fields included, which is why it needs the API)."""
    with _private_json_files(config=config) as paths:
        messages = _run_binary(["discover", "--config", paths["config"]])
    for message in messages:
        if message.get("type") == "CATALOG":
            return message["catalog"]["streams"]
    raise ConnectorError("source-ecommerce discover printed no CATALOG message")


def read_messages(config: JsonObject, catalog: JsonObject, state: list[JsonObject]) -> Iterator[JsonObject]:
    """Runs the binary's read and yields its messages one at a time as it prints them (never a whole stream)."""
    with _private_json_files(config=config, catalog=catalog, state=state) as paths:
        args = ["read", "--config", paths["config"], "--catalog", paths["catalog"], "--state", paths["state"]]
        process = subprocess.Popen([str(BINARY), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        try:
            for line in process.stdout or ():
                if line.strip().startswith(b"{"):
                    yield json.loads(line)
            status = process.wait()
        finally:
            # An exception here (a failed operation, an error trace) must not leave the binary running.
            if process.poll() is None:
                process.kill()
                process.wait()
    if status != 0:
        raise ConnectorError(f"source-ecommerce read exited with status {status}")


# ---------------------------------------------------------------------------------------------------------------------
# Configuration: Fivetran's strings to the binary's typed config (pure)


def credential_properties(spec: JsonObject) -> dict[str, JsonObject]:
    """Every property of every credentials variant, by name: Fivetran's form has them flat beside the others."""
    variants = spec["properties"][CREDENTIALS_KEY].get("oneOf", [])
    return {name: schema for variant in variants for name, schema in variant.get("properties", {}).items()}


def convert_value(key: str, text: str, schema: JsonObject) -> Any:
    """One string value as the type the spec declares; the message names the key, never the value (it may be secret)."""
    json_type = schema.get("type")
    try:
        if json_type == "integer":
            return int(text.strip())
        if json_type == "number":
            return float(text.strip())
    except ValueError:
        raise ConnectorError(f"configuration value '{key}' must be {'an integer' if json_type == 'integer' else 'a number'}") from None
    if json_type == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ConnectorError(f"configuration value '{key}' must be true or false")
        return lowered == "true"
    if json_type in ("array", "object"):
        # field_policies: Fivetran's form has strings only, so the list is written as JSON.
        try:
            value = json.loads(text)
        except ValueError:
            raise ConnectorError(f"configuration value '{key}' must be JSON ({'a list' if json_type == 'array' else 'an object'})") from None
        if not isinstance(value, list if json_type == "array" else dict):
            raise ConnectorError(f"configuration value '{key}' must be JSON ({'a list' if json_type == 'array' else 'an object'})")
        return value
    return text


def airbyte_config(configuration: dict[str, str], spec: JsonObject) -> JsonObject:
    """The binary's config from Fivetran's flat strings: credential keys nest under `credentials`, an empty value is
    left out (the binary's default applies), `streams` is this package's own key and is not passed on."""
    top_level = {name: schema for name, schema in spec["properties"].items() if name != CREDENTIALS_KEY}
    credentials_schema = credential_properties(spec)
    config: JsonObject = {}
    credentials: JsonObject = {}
    for key, value in configuration.items():
        if key == STREAMS_KEY or value is None or str(value).strip() == "":
            continue
        if key in top_level:
            config[key] = convert_value(key, str(value), top_level[key])
        elif key in credentials_schema:
            credentials[key] = convert_value(key, str(value), credentials_schema[key])
        else:
            known = ", ".join(sorted([*top_level, *credentials_schema, STREAMS_KEY]))
            raise ConnectorError(f"unknown configuration key '{key}' (known keys: {known})")
    if credentials:
        config[CREDENTIALS_KEY] = credentials
    return config


def selected_stream_names(configuration: dict[str, str], available: Iterable[str]) -> list[str]:
    """The streams to sync: the comma-separated `streams` value, or every stream when it is empty or absent."""
    names = list(available)
    wanted = [name.strip() for name in (configuration.get(STREAMS_KEY) or "").split(",") if name.strip()]
    if not wanted:
        return names
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ConnectorError(f"unknown stream(s) {', '.join(unknown)} in 'streams' (available: {', '.join(names)})")
    return [name for name in names if name in wanted]


# ---------------------------------------------------------------------------------------------------------------------
# Schema: the catalog as Fivetran tables (pure)


def _non_null_type(schema: JsonObject) -> str | None:
    """The JSON type of a property apart from null (the catalog writes nullable ones as ["null", T])."""
    json_type = schema.get("type")
    if isinstance(json_type, list):
        rest = [t for t in json_type if t != "null"]
        return rest[0] if len(rest) == 1 else None
    return json_type


def fivetran_type(schema: JsonObject) -> str | JsonObject:
    """The Fivetran type of one JSON-schema property. Declared rather than guessed: the SDK would store a float as a
    32-bit FLOAT and an id of digits as an integer."""
    json_type = _non_null_type(schema)
    if json_type == "integer":
        return "LONG"
    if json_type == "number":
        money = MONEY_DECIMALS.search(schema.get("description", ""))
        if money:
            return {"type": "DECIMAL", "precision": MONEY_PRECISION, "scale": int(money.group(1))}
        return "DOUBLE"
    if json_type == "boolean":
        return "BOOLEAN"
    if json_type == "string":
        return {"date-time": "UTC_DATETIME", "date": "NAIVE_DATE"}.get(schema.get("format", ""), "STRING")
    # objects, arrays and properties of several types
    return "JSON"


def primary_key(stream: JsonObject) -> list[str]:
    """The stream's primary key columns (the catalog gives paths; these are all top-level)."""
    return [path[0] for path in stream.get("source_defined_primary_key", [])]


def fivetran_table(stream: JsonObject) -> JsonObject:
    """One stream as the table `schema()` declares."""
    properties = stream["json_schema"].get("properties", {})
    return {
        "table": stream["name"],
        "primary_key": primary_key(stream),
        "columns": {name: fivetran_type(schema) for name, schema in properties.items()},
    }


def configured_catalog(streams: list[JsonObject]) -> JsonObject:
    """The catalog `read` is given: incremental where a stream supports it, deduplicated on its primary key."""
    configured = []
    for stream in streams:
        incremental = "incremental" in stream.get("supported_sync_modes", [])
        configured.append({
            "stream": stream,
            "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append_dedup" if incremental else "overwrite",
            "cursor_field": stream.get("default_cursor_field", []) if incremental else [],
            "primary_key": stream.get("source_defined_primary_key", []),
        })
    return {"streams": configured}


# ---------------------------------------------------------------------------------------------------------------------
# State: Fivetran keeps {"streams": {name: stream_state}}; the binary reads Airbyte per-stream states (pure)


def airbyte_state(state: JsonObject | None) -> list[JsonObject]:
    """The saved state as the binary's --state: one STREAM state per stream that has one."""
    streams = (state or {}).get("streams", {})
    return [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state}}
        for name, stream_state in streams.items()
    ]


def merge_state(state: JsonObject, message: JsonObject) -> JsonObject:
    """The state after one Airbyte STATE message: that stream's state replaced, the others kept."""
    airbyte = message["state"]
    if airbyte.get("type") != "STREAM":
        raise ConnectorError(f"source-ecommerce emitted a {airbyte.get('type')} state; only per-stream states are supported")
    stream = airbyte["stream"]
    streams = dict(state.get("streams", {}))
    streams[stream["stream_descriptor"]["name"]] = stream.get("stream_state") or {}
    return {**state, "streams": streams}


# ---------------------------------------------------------------------------------------------------------------------
# Records (pure)


def decimal_text(value: Any) -> Any:
    """A money value as the exact decimal text the SDK's DECIMAL takes: the shortest repr of a JSON number with at
    most 2 decimals is its text, so no binary-float digits appear."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return format(Decimal(repr(value)), "f")


def fivetran_row(data: JsonObject, columns: dict[str, str | JsonObject]) -> JsonObject:
    """A record's values as the SDK wants them for the declared column types (only DECIMAL needs converting)."""
    return {
        name: decimal_text(value) if isinstance(columns.get(name), dict) else value
        for name, value in data.items()
    }


UPSERT = "upsert"
DELETE = "delete"


def record_operations(table: JsonObject, data: JsonObject) -> list[tuple[str, JsonObject]]:
    """The SDK operations one record becomes: an upsert, and for a deleted record (deleted_at set) a delete after it.
    The upsert comes first because a delete alone keeps the row's old values, and does nothing for a new key."""
    operations = [(UPSERT, fivetran_row(data, table["columns"]))]
    if data.get("deleted_at") is not None:
        operations.append((DELETE, {key: data[key] for key in table["primary_key"]}))
    return operations


def raise_on_error_trace(message: JsonObject) -> None:
    """An Airbyte error trace is a failed sync, with its user-facing message."""
    trace = message.get("trace") if message.get("type") == "TRACE" else None
    if trace and trace.get("type") == "ERROR":
        error = trace.get("error", {})
        raise ConnectorError(error.get("message") or error.get("internal_message") or "source-ecommerce failed")


LOGGERS: dict[str, Callable[[str], None]] = {
    "FATAL": log.severe, "ERROR": log.severe, "WARN": log.warning, "INFO": log.info, "DEBUG": log.fine, "TRACE": log.fine,
}


# ---------------------------------------------------------------------------------------------------------------------
# The SDK's entry points


def _checked_config(configuration: dict[str, str]) -> JsonObject:
    """Fivetran's configuration as the binary's config, typed by the binary's own spec and accepted by its check
    (so a wrong key or address fails with check's message, before discover says something less direct)."""
    config = airbyte_config(configuration or {}, connector_spec())
    check_connection(config)
    return config


def _selected_streams(configuration: dict[str, str], config: JsonObject) -> list[JsonObject]:
    """The discovered streams the configuration selects."""
    streams = discover_streams(config)
    names = selected_stream_names(configuration or {}, [stream["name"] for stream in streams])
    return [stream for stream in streams if stream["name"] in names]


def schema(configuration: dict) -> list[JsonObject]:
    """One table per selected stream, with its primary key and every column typed from the binary's discover."""
    config = _checked_config(configuration)
    return [fivetran_table(stream) for stream in _selected_streams(configuration, config)]


class _Translator:
    """Turns the binary's messages into SDK operations, one message at a time."""

    def __init__(self, streams: list[JsonObject], state: JsonObject):
        self.tables = {stream["name"]: fivetran_table(stream) for stream in streams}
        self.state = state

    def handle(self, message: JsonObject) -> None:
        """Applies one Airbyte message."""
        kind = message.get("type")
        if kind == "RECORD":
            self._record(message["record"])
        elif kind == "STATE":
            self.state = merge_state(self.state, message)
            op.checkpoint(self.state)
        elif kind == "LOG":
            entry = message["log"]
            LOGGERS.get(entry.get("level", "INFO"), log.info)(entry.get("message", ""))
        elif kind == "TRACE":
            raise_on_error_trace(message)

    def _record(self, record: JsonObject) -> None:
        """Applies the operations the record becomes."""
        table = self.tables[record["stream"]]
        for operation, values in record_operations(table, record["data"]):
            (op.upsert if operation == UPSERT else op.delete)(table["table"], values)


def update(configuration: dict, state: dict) -> None:
    """Checks the configuration the way the binary's check does, then syncs the selected streams incrementally from
    the saved state, checkpointing at each of the binary's states."""
    config = _checked_config(configuration)
    streams = _selected_streams(configuration, config)
    translator = _Translator(streams, dict(state or {}))
    log.info(f"syncing {', '.join(stream['name'] for stream in streams)}")
    for message in read_messages(config, configured_catalog(streams), airbyte_state(state)):
        translator.handle(message)


connector = Connector(update=update, schema=schema)

if __name__ == "__main__":
    with open("configuration.json", encoding="utf-8") as configuration_file:
        connector.debug(configuration=json.load(configuration_file))
