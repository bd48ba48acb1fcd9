"""Consumer groups with KafkaJS 2.2.4 (node/group_worker.js) against the real
broker: rebalancing with joins, a clean leave and a SIGKILL; committed
offsets across broker restarts; two groups on one topic. The scenarios are
those of test_groups_rdkafka_c.py (groupwork_proc.py), run concurrently the
same way; KafkaJS has neither static membership nor the cooperative
protocol, so those two are skipped with the reason.

node_modules is installed with `npm ci` (package-lock.json) if missing, by
conftest.py's `node` fixture. The workers' stdout/stderr are kept in pytest's
tmp_path (groups-kafkajs*/); KAFKAJS_LOG_LEVEL=DEBUG logs every request.
"""

import pytest

import groupwork_proc as gp
from harness import HERE

NODE_DIR = HERE / "node"


@pytest.fixture(scope="module")
def scenarios(request, _module_broker_factory, node, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("groups-kafkajs")
    spawn = gp.Spawner("kafkajs", [node, NODE_DIR / "group_worker.js"], NODE_DIR, logdir)
    yield from gp.run_scenarios(request, _module_broker_factory, spawn, "kafkajs")


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
