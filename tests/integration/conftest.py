"""pytest fixtures that run the real runnel broker (see harness.py, docs/testing.md).

  broker          a started broker for one test (function scope)
  broker_factory  broker_factory(overrides=None, *, config_file=None, start=True, **kv)
                  -> another Broker with special configs; kv keys may use '_' for '.'
                  (broker_factory(num_partitions=3) == {"num.partitions": "3"})
  module_broker   one broker shared by a module's tests (for tests that only add topics)
  topic_name      callable: topic_name("suffix") -> a name unique to this test

At teardown every broker a fixture started is stopped (SIGTERM, wait). The test
fails if a broker died on its own, did not stop cleanly, or printed a
sanitizer report. On failure (or RUNNEL_KEEP=1) the broker's folder (data dir
and runnel.log) is kept and its path printed; otherwise it is removed.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import Broker, BrokerError  # noqa: E402

_ACTIVE = []   # brokers whose fixture has not been torn down yet
_KEPT = []     # (nodeid, workdir) kept for inspection


def _label(node):
    return node.nodeid.replace("/", "_").replace("::", "-")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed and rep.when in ("setup", "call"):
        used = set(getattr(item, "fixturenames", ()))
        for b in list(_ACTIVE):
            if b.fixture not in used:
                continue
            b.failed_tests.append(item.nodeid)
            rep.sections.append((f"runnel {b.name}", b.describe()))


def pytest_terminal_summary(terminalreporter):
    if _KEPT:
        terminalreporter.section("runnel: kept broker folders (data dir + runnel.log)")
        for nodeid, wd in _KEPT:
            terminalreporter.write_line(f"{wd}   <- {nodeid}")


def _test_failed(node):
    return any(getattr(getattr(node, "rep_" + w, None), "failed", False)
               for w in ("setup", "call"))


class _Factory:
    def __init__(self, node, fixture):
        self.node = node
        self.fixture = fixture      # name of the fixture that owns these brokers
        self.brokers = []

    def __call__(self, overrides=None, *, config_file=None, start=True, name=None, **kv):
        ov = dict(overrides or {})
        ov.update(kv)
        name = name or ("broker" if not self.brokers else f"broker{len(self.brokers) + 1}")
        b = Broker(harness.new_workdir(f"{_label(self.node)}-{name}"), ov,
                   config_file=config_file, name=name)
        b.fixture = self.fixture
        self.brokers.append(b)
        _ACTIVE.append(b)
        if start:
            b.start()
        return b

    def finish(self, failed):
        """Stops every broker; returns the problems found (strings)."""
        problems = []
        for b in self.brokers:
            problems += b.check_problems()
            try:
                b.stop()
            except BrokerError as e:
                problems.append(str(e))
            except Exception as e:  # never leave a process behind
                problems.append(f"{b.name}: stop failed: {e!r}")
                if b.running:
                    b.kill9()
            problems += b.check_problems()   # LeakSanitizer reports at exit
            if b in _ACTIVE:
                _ACTIVE.remove(b)
            if failed or problems or b.failed_tests or harness.KEEP_ALL:
                _KEPT.append((self.node.nodeid, b.workdir))
            else:
                harness.remove_workdir(b.workdir)
        if problems:
            problems.append("kept: " + ", ".join(str(b.workdir) for b in self.brokers))
        return problems


def _factory_fixture(request):
    fac = _Factory(request.node, request.fixturename)
    try:
        yield fac
    finally:
        failed = _test_failed(request.node) if request.scope == "function" else False
        problems = fac.finish(failed)
        if problems:
            pytest.fail("runnel broker problem:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def broker_factory(request):
    yield from _factory_fixture(request)


@pytest.fixture
def broker(broker_factory):
    return broker_factory()


@pytest.fixture(scope="module")
def _module_broker_factory(request):
    yield from _factory_fixture(request)


@pytest.fixture(scope="module")
def module_broker(_module_broker_factory):
    return _module_broker_factory(name="module-broker")


@pytest.fixture(autouse=True)
def _broker_health():
    """After each test: a shared (module) broker that crashed or reported a
    sanitizer error fails the test that was running."""
    yield
    problems = []
    for b in list(_ACTIVE):
        problems += b.check_problems()
    if problems:
        pytest.fail("runnel broker problem:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def topic_name(request):
    base = request.node.name
    return lambda suffix="t": harness.unique_name(f"{base}-{suffix}")


NODE_DIR = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="session")
def node():
    """The node binary, with KafkaJS 2.2.4 installed in tests/integration/node
    (`npm ci` from package-lock.json on first use)."""
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not installed")
    if not (NODE_DIR / "node_modules" / "kafkajs" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("tests/integration/node/node_modules missing and npm not installed")
        harness.run([npm, "ci", "--no-audit", "--no-fund"], cwd=str(NODE_DIR), timeout=300)
    version = json.loads((NODE_DIR / "node_modules" / "kafkajs" / "package.json").read_text())["version"]
    assert version == "2.2.4", f"kafkajs {version} installed, 2.2.4 expected (run npm ci in {NODE_DIR})"
    return exe
