"""Consumer groups with librdkafka from C (c/rdk_group.c, librdkafka 2.0.2)
against the real broker: rebalancing with joins, a clean leave and a
SIGKILL; committed offsets across broker restarts; two groups on one topic;
static membership (group.instance.id); cooperative-sticky.

The scenarios live in groupwork_proc.py (shared with the KafkaJS module).
They run concurrently, each on its own topic and group: the restart scenario
on a broker of its own, the others on one shared broker. Each test waits for
its scenario and reports its failure with the scenario's log; the workers'
stdout/stderr are kept in pytest's tmp_path (groups-c*/).

rdk_group.c is compiled here like rdk_roundtrip.c in test_librdkafka.py:
cc -std=c17 -Wall -Wextra -Werror ... -lrdkafka.
"""

import shutil

import pytest

import groupwork_proc as gp
from harness import HERE, run

SRC = HERE / "c" / "rdk_group.c"


@pytest.fixture(scope="module")
def rdk_group(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler (cc) on PATH")
    out = tmp_path_factory.mktemp("c") / "rdk_group"
    run([cc, "-std=c17", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-o", str(out), str(SRC),
         "-lrdkafka"], timeout=120)
    return str(out)


@pytest.fixture(scope="module")
def scenarios(request, _module_broker_factory, rdk_group, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("groups-c")
    spawn = gp.Spawner("c", [rdk_group], logdir, logdir)
    yield from gp.run_scenarios(request, _module_broker_factory, spawn, "c")


def test_rebalance(scenarios):
    scenarios.result("rebalance")


def test_restart(scenarios):
    scenarios.result("restart")


def test_two_groups(scenarios):
    scenarios.result("two_groups")


def test_static(scenarios):
    scenarios.result("static")


def test_cooperative(scenarios):
    scenarios.result("cooperative")
