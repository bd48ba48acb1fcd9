"""Fixtures for the fault tests (tests/fault/, docs/faults.md).

The broker machinery is the integration suite's: tests/integration/harness.py
(the Broker class, env vars RUNNEL_BIN, RUNNEL_SAN, RNL_BIN, RUNNEL_KEEP,
RUNNEL_TEST_TMP) and the fixtures of tests/integration/conftest.py, loaded
here under another module name so that both folders can be collected in one
pytest run:

  broker, broker_factory, topic_name,
  module_broker, _module_broker_factory as in tests/integration (teardown stops
                                       every broker, fails on a crash or a
                                       sanitizer report, keeps the folder of
                                       a failing test)
  powercut_shim                        path of the compiled LD_PRELOAD shim
                                       (tests/fault/shim/powercut.c), built
                                       once per session with cc
"""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
for p in (str(INTEGRATION), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import harness  # noqa: E402,F401  (tests/integration/harness.py)
import faultlib  # noqa: E402

_spec = importlib.util.spec_from_file_location("runnel_integration_fixtures",
                                               INTEGRATION / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

# Fixtures and hooks, re-exported so pytest registers them for this folder.
broker = _fixtures.broker
broker_factory = _fixtures.broker_factory
module_broker = _fixtures.module_broker
_module_broker_factory = _fixtures._module_broker_factory
topic_name = _fixtures.topic_name
_broker_health = _fixtures._broker_health
pytest_runtest_makereport = _fixtures.pytest_runtest_makereport
pytest_terminal_summary = _fixtures.pytest_terminal_summary


@pytest.fixture(scope="session")
def powercut_shim(tmp_path_factory):
    return faultlib.build_shim(tmp_path_factory.mktemp("powercut-shim"))
