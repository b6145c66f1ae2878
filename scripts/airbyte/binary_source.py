"""A thin adapter: an airbyte-cdk `Source` whose every verb runs the connector executable.

airbyte-cdk's in-process standard tests (`SourceTestSuiteBase.test_spec`,
`test_check`, `test_discover`, `test_basic_read`, `test_fail_read_with_bad_catalog`,
`test_config_matches_spec`) drive a Python `Source` through the CDK's own
`AirbyteEntrypoint`. This class lets them drive the Rust connector instead:

- `spec`, `check`, `discover` and `read` run `<argv prefix> <verb> --config F ...`
  with the same files the entrypoint was given (config, catalog and state are
  handed over as the original paths, unparsed, so the connector sees exactly
  what the test wrote, including deliberately invalid catalogs);
- every stdout line must parse as an Airbyte protocol message (the CDK's
  `AirbyteMessageSerializer`); anything else fails the test;
- `read` relays every message as the connector emitted it, in order;
  `check` and `discover` relay their LOG/TRACE messages through the CDK message
  repository and return the CONNECTION_STATUS / CATALOG the connector emitted;
- a non-zero exit raises `ConnectorExitError` after the messages are relayed,
  so the test sees the connector's TRACE errors and an uncaught error, as it
  would for a Python source that raised;
- relayed messages reach the test as the connector's own stdout lines, byte for
  byte (`install_raw_relay`). The CDK entrypoint would otherwise re-serialize them
  with `AirbyteMessageSerializer`, which drops top-level null values from
  `record.data` (`{"phone": null}` becomes `{}`), so records whose schema lists a
  nullable field as required would fail validation for a reason that is not in
  the connector's output.

The argv prefix is the binary (default target/release/source-ecommerce), or any
command that ends in one, e.g. a `docker run ...` prefix.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConnectorSpecification,
    Type,
)
from airbyte_cdk.sources import Source
from airbyte_cdk.sources.message import InMemoryMessageRepository

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = ROOT / "target" / "release" / "source-ecommerce"


RAW_LINE_ATTR = "_source_ecommerce_raw_line"


def install_raw_relay() -> None:
    """Make the CDK entrypoint output a relayed message as the connector's original line.

    Only messages that came from the connector carry the raw line; everything the
    CDK makes itself (e.g. the CONNECTION_STATUS it builds from `check()`'s return
    value) is serialized by the CDK as before. Idempotent.
    """
    from airbyte_cdk.entrypoint import AirbyteEntrypoint

    original = AirbyteEntrypoint.__dict__["airbyte_message_to_string"].__func__
    if getattr(original, "_raw_relay", False):
        return

    def airbyte_message_to_string(airbyte_message: AirbyteMessage) -> str:
        raw = getattr(airbyte_message, "__dict__", {}).get(RAW_LINE_ATTR)
        return raw if raw is not None else original(airbyte_message)

    airbyte_message_to_string._raw_relay = True  # type: ignore[attr-defined]
    AirbyteEntrypoint.airbyte_message_to_string = staticmethod(airbyte_message_to_string)  # type: ignore[method-assign]


def connector_argv() -> list[str]:
    """The command that runs the connector: $SOURCE_ECOMMERCE_BIN or the release binary."""
    return [os.environ.get("SOURCE_ECOMMERCE_BIN", str(DEFAULT_BINARY))]


class ConnectorExitError(RuntimeError):
    """The connector process exited with a non-zero status."""


class BinarySource(Source):
    """Runs the connector executable for every Airbyte verb (see the module docstring)."""

    def __init__(self, argv_prefix: list[str] | None = None) -> None:
        self.argv_prefix = list(argv_prefix or connector_argv())
        self.message_repository = InMemoryMessageRepository()
        self._config_path: str | None = None
        self._spec: ConnectorSpecification | None = None

    @property
    def name(self) -> str:
        return "source-ecommerce"

    # -- inputs: keep the files as they are, the connector parses them ----------

    def read_config(self, config_path: str) -> Mapping[str, Any]:  # type: ignore[override]
        self._config_path = config_path
        return Source.read_config(config_path)

    def configure(self, config: Mapping[str, Any], temp_dir: str) -> Mapping[str, Any]:
        return config

    def read_catalog(self, catalog_path: str) -> str:  # type: ignore[override]
        return catalog_path

    def read_state(self, state_path: str | None) -> str | None:  # type: ignore[override]
        return state_path

    # -- running the executable --------------------------------------------------

    def _stream(self, args: list[str]) -> Iterator[AirbyteMessage]:
        argv = self.argv_prefix + args
        # stderr goes to a file, so a chatty stderr can never block the stdout reader.
        with tempfile.TemporaryFile() as stderr_file, subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr_file, stdin=subprocess.DEVNULL
        ) as proc:
            assert proc.stdout is not None
            try:
                for number, raw in enumerate(proc.stdout, 1):
                    if not raw.strip():
                        continue
                    try:
                        message = AirbyteMessageSerializer.load(orjson.loads(raw))
                    except Exception as error:  # not JSON, or not a protocol message
                        raise AssertionError(
                            f"stdout line {number} of `{' '.join(argv)}` is not a valid Airbyte "
                            f"message ({error}): {raw[:500]!r}"
                        ) from error
                    # The exact line, for install_raw_relay().
                    message.__dict__[RAW_LINE_ATTR] = raw.decode().rstrip("\n")
                    yield message
            finally:
                # If the consumer stopped early, drain stdout so the process can finish.
                proc.stdout.read()
                returncode = proc.wait()
            stderr_file.seek(0)
            stderr = stderr_file.read().decode(errors="replace")
        if returncode != 0:
            raise ConnectorExitError(
                f"`{' '.join(argv)}` exited with status {returncode}. stderr (tail): {stderr[-2000:]}"
            )

    def _config_args(self) -> list[str]:
        if self._config_path is None:
            raise RuntimeError("no config file: read_config() was not called")
        return ["--config", self._config_path]

    def _relay_until(self, args: list[str], wanted: Type) -> AirbyteMessage:
        found: AirbyteMessage | None = None
        for message in self._stream(args):
            if message.type == wanted and found is None:
                found = message
            else:
                self.message_repository.emit_message(message)
        if found is None:
            raise AssertionError(f"`{' '.join(self.argv_prefix + args)}` emitted no {wanted.value} message")
        return found

    # -- the verbs ----------------------------------------------------------------

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        if self._spec is None:
            message = self._relay_until(["spec"], Type.SPEC)
            assert message.spec is not None
            self._spec = message.spec
        return self._spec

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        message = self._relay_until(["check", *self._config_args()], Type.CONNECTION_STATUS)
        assert message.connectionStatus is not None
        return message.connectionStatus

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        message = self._relay_until(["discover", *self._config_args()], Type.CATALOG)
        assert message.catalog is not None
        return message.catalog

    def read(  # type: ignore[override]
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: str,
        state: str | None = None,
    ) -> Iterable[AirbyteMessage]:
        args = ["read", *self._config_args(), "--catalog", str(catalog)]
        if state:
            args += ["--state", str(state)]
        yield from self._stream(args)
