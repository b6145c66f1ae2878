"""What `fivetran deploy` would upload from fivetran/: the SDK's own packaging walk (the one its zip uses) must take
the bundled binary with connector.py, and leave out the local configuration and debug output."""

from __future__ import annotations

import os
from pathlib import Path

from fivetran_connector_sdk_cli.connector_helper import dir_walker

PROJECT = Path(__file__).resolve().parents[2] / "fivetran"


def packaged_files() -> set[str]:
    """The project's files the SDK's packaging walk takes, relative to the project."""
    return {
        os.path.relpath(os.path.join(root, name), PROJECT)
        for root, names in dir_walker(str(PROJECT), skip_tracker={"has_skipped": False})
        for name in names
    }


def test_the_deploy_package_holds_the_binary_and_the_connector() -> None:
    assert {"connector.py", "requirements.txt", os.path.join("bin", "source-ecommerce")} <= packaged_files()


def test_the_deploy_package_leaves_out_local_configuration_and_output() -> None:
    assert not {name for name in packaged_files() if name == "configuration.json" or name.startswith("files")}
