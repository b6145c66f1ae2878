"""airbyte-cdk's standard source test suite, run against source-ecommerce.

`SourceTestSuiteBase` (airbyte_cdk.test.standard_tests) brings two families of tests,
parametrized by the configs of acceptance-test-config.yml:

- in-process tests (`test_spec`, `test_check`, `test_discover`, `test_basic_read`,
  `test_fail_read_with_bad_catalog`, `test_config_matches_spec`): the CDK's
  entrypoint drives `BinarySource`, which runs the release binary for every verb;
- docker-image tests (`test_docker_image_build_and_*`,
  `test_docker_image_spec_backward_compatibility`): `docker run` of the image
  given by --connector-image (default source-ecommerce:dev; see conftest.py).

Nothing is overridden but how the connector is started (and that its stdout lines
are relayed unchanged, see binary_source.install_raw_relay) and one config key: the
standard tests reject CAT's `expect_records` (they do not compare records), so the
copy of acceptance-test-config.yml they read has it removed; that comparison runs
in test_cat_equivalents.py instead.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from boltons.typeutils import classproperty

from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from airbyte_cdk.utils.connector_paths import ACCEPTANCE_TEST_CONFIG
from binary_source import BinarySource, install_raw_relay

# Relayed messages reach the tests as the connector's own stdout lines (see binary_source).
install_raw_relay()

# CAT keys of acceptance-test-config.yml that test_cat_equivalents.py evaluates.
EVALUATED_ELSEWHERE = {"basic_read": ("expect_records",)}


class TestSourceEcommerce(SourceTestSuiteBase):
    """The CDK's source suite; the connector is the Rust binary (and its image)."""

    connector_name = "source-ecommerce"

    @classmethod
    def create_connector(cls, scenario: ConnectorTestScenario | None) -> BinarySource:
        return BinarySource()

    @classproperty
    def acceptance_test_config(cls) -> Any:  # noqa: N805 (classproperty)
        path = cls.get_connector_root_dir() / ACCEPTANCE_TEST_CONFIG
        config = yaml.safe_load(path.read_text())
        config = copy.deepcopy(config)
        for section, keys in EVALUATED_ELSEWHERE.items():
            for entry in config["acceptance_tests"].get(section, {}).get("tests", []):
                for key in keys:
                    entry.pop(key, None)
        return config
