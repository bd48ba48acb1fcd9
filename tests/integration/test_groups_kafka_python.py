"""Consumer groups of kafka-python 2.0.2 (Debian's python3-kafka) against the
real broker, with groupwork.py worker processes (see there).

kafka-python 2.0.2 speaks the classic protocol with JoinGroup v0-v2 and
eager rebalancing only, so:

1. rebalancing (3 -> 4 members, clean leave, SIGKILL), 2. offsets across
   broker restarts and 3. two groups run as for confluent-kafka;
4. static membership is skipped: kafka-python 2.0.2 has no group.instance.id
   (it never sends JoinGroup v5+);
5. cooperative-sticky is skipped: kafka-python 2.0.2 has no incremental
   (cooperative) rebalancing. Its eager StickyPartitionAssignor is no
   stand-in either: after its first assignment a member cannot build its
   JoinGroup metadata any more (StickyAssignorUserDataV1 is given
   six.iteritems(...), an iterator, and encoding it raises "TypeError:
   object of type 'dict_itemiterator' has no len()" in the worker).
"""

import pytest

pytest.importorskip("kafka")
import kafka  # noqa: E402

import groupwork as gw  # noqa: E402

assert kafka.__version__ == "2.0.2", kafka.__version__

CLIENT = "kafka-python"


@pytest.fixture
def gbroker(broker_factory):
    # No initial rebalance delay: a group's first generation forms at once.
    return broker_factory(group_initial_rebalance_delay_ms=0)


def test_rebalance_join_leave_kill(gbroker, topic_name, tmp_path):
    t = gw.scenario_rebalance(CLIENT, gbroker, topic_name("reb"), tmp_path)
    print("timings:", t)


def test_offsets_survive_broker_restart(gbroker, topic_name, tmp_path):
    gw.scenario_offsets_restart(CLIENT, gbroker, topic_name("rst"), tmp_path)


def test_two_groups_each_get_everything(gbroker, topic_name, tmp_path):
    gw.scenario_two_groups(CLIENT, gbroker, topic_name("two"), tmp_path)


@pytest.mark.skip(reason="kafka-python 2.0.2 has no static membership (no group.instance.id, "
                         "JoinGroup v0-v2 only); covered by test_groups_confluent.py")
def test_static_membership_rejoin_without_rebalance():
    pass


@pytest.mark.skip(reason="kafka-python 2.0.2 has no cooperative (incremental) rebalancing, and "
                         "its eager StickyPartitionAssignor cannot rejoin (metadata() encodes "
                         "six.iteritems(...): TypeError, no len()); covered by "
                         "test_groups_confluent.py")
def test_cooperative_sticky_incremental():
    pass
