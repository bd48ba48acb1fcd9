"""Consumer groups with KafkaJS 2.2.4 (node/group_worker.js) against the real
broker: rebalancing with joins, a clean leave and a SIGKILL; committed
offsets across broker restarts; two groups on one topic. The scenarios are
those of test_groups_rdkafka_c.py (groupwork_proc.py), run concurrently the
same way; KafkaJS has neither static membership nor the cooperative
protocol, so those two are skipped with the reason.

node_modules is installed with `npm ci` (package-lock.json) if missing, as
test_kafkajs.py does. The workers' stdout/stderr are kept in pytest's
tmp_path (groups-kafkajs*/); KAFKAJS_LOG_LEVEL=DEBUG logs every request.
"""

import json
import shutil

import pytest

import groupwork_proc as gp
from harness import HERE, run

NODE_DIR = HERE / "node"
BROKER_CONF = {"group.initial.rebalance.delay.ms": 300}


@pytest.fixture(scope="module")
def node():
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not installed")
    if not (NODE_DIR / "node_modules" / "kafkajs" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("tests/integration/node/node_modules missing and npm not installed")
        run([npm, "ci", "--no-audit", "--no-fund"], cwd=str(NODE_DIR), timeout=300)
    version = json.loads((NODE_DIR / "node_modules" / "kafkajs" / "package.json").read_text())["version"]
    assert version == "2.2.4", f"kafkajs {version} installed, 2.2.4 expected (run npm ci in {NODE_DIR})"
    return exe


@pytest.fixture(scope="module")
def scenarios(request, _module_broker_factory, node, tmp_path_factory):
    wanted = [it.originalname[len("test_"):] for it in request.session.items
              if it.module is request.module and it.originalname[len("test_"):] in gp.SCENARIOS
              and not it.get_closest_marker("skip")]
    logdir = tmp_path_factory.mktemp("groups-kafkajs")
    spawn = gp.Spawner("kafkajs", [node, NODE_DIR / "group_worker.js"], NODE_DIR, logdir)
    runner = gp.ScenarioRunner()
    try:
        shared = _module_broker_factory(BROKER_CONF, name="groups") if set(wanted) - {"restart"} else None
        for name in wanted:
            b = _module_broker_factory(BROKER_CONF, name="restart") if name == "restart" else shared
            runner.start(name, gp.Ctx(name, b, spawn, "kafkajs", runner))
        yield runner
    finally:
        spawn.cleanup()
        runner.wait_all()


def test_rebalance(scenarios):
    scenarios.result("rebalance")


def test_restart(scenarios):
    scenarios.result("restart")


def test_two_groups(scenarios):
    scenarios.result("two_groups")


@pytest.mark.skip(reason="KafkaJS 2.2.4 has no static membership: its JoinGroup never sends "
                         "group.instance.id (KIP-345) and the consumer has no option for it")
def test_static():
    pass


@pytest.mark.skip(reason="KafkaJS 2.2.4 implements only the eager rebalance protocol "
                         "(no cooperative-sticky / incremental assignment)")
def test_cooperative():
    pass
