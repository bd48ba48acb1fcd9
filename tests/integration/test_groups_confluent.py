"""Consumer groups of confluent-kafka (Debian's python3-confluent-kafka 1.7.0
on librdkafka 2.0.2) against the real broker.

Every consumer is a groupwork.py worker process (subscribe, at-least-once,
synchronous commit after each poll batch, JSON lines on stdout) so that it
can be SIGKILLed; see groupwork.py for what it prints and for the checks.

1. rebalancing: 3 members (2/2/2), a 4th joins (2/2/1/1), one closes
   (LeaveGroup: moved within the rebalance), one is SIGKILLed (moved after the
   session timeout); nothing lost, duplicates only after the killed member's
   last commit, no partition owned twice;
2. committed offsets survive a clean restart and kill -9 of the broker;
3. two groups on one topic each get every record;
4. static membership (group.instance.id): each of three members is closed
   (librdkafka sends no LeaveGroup for static members) or SIGKILLed and
   comes back within the session timeout: it gets its partitions back,
   DescribeGroups shows it as a member throughout, nobody else sees a
   rebalance, and after a kill it reads on from its last commit. Then a
   dynamic member joins and the group (led by a replacement) rebalances;
5. cooperative-sticky: a second member joins and the first gives away only
   what moves (incremental revoke); it gets it back incrementally when the
   second leaves.
"""

import pytest

pytest.importorskip("confluent_kafka")

import groupwork as gw  # noqa: E402
from groupwork import (Crew, Producer, all_consumed, assert_partitioned,  # noqa: E402
                       check_delivery, check_no_overlap, missing, owned_map, settled,
                       wait_until)

CLIENT = "confluent"


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


# ---- 4. static membership -------------------------------------------------

# The restarted member must be back before its session expires; 10 s leaves
# room for a new Python process on a loaded 2-core machine (the broker's
# group.min.session.timeout.ms is 6 s).
STATIC_SESSION_MS = 10000


def _rebalance_events(w):
    return [(e["ev"], e["parts"]) for e in w.of_kind("assign", "revoke", "lost")]


def test_static_membership_rejoin_without_rebalance(gbroker, topic_name, tmp_path):
    nparts = 6
    topic = topic_name("static")
    gbroker.create_topic(topic, partitions=nparts)
    group = gw._unique("static")
    prod = Producer(CLIENT, gbroker.bootstrap, topic, nparts, tag="st")
    with Crew(CLIENT, gbroker.bootstrap, topic, tmp_path) as crew:
        def member(i, gen):
            return crew.start(f"s{i}.{gen}", group, instance_id=f"instance-{i}",
                              session_timeout_ms=STATIC_SESSION_MS)

        try:
            prod.start()
            cur = {i: member(i, 1) for i in (1, 2, 3)}
            wait_until(lambda: settled(list(cur.values()), nparts), 60,
                       lambda: f"3 static members to share {nparts} partitions: "
                       f"{owned_map(cur.values())}", crew.workers)
            assert_partitioned(list(cur.values()), nparts, [2, 2, 2])

            # Every instance is replaced once, so the first leader is too.
            for i, how in ((2, "close"), (3, "kill"), (1, "close")):
                old = cur[i]
                others = [w for j, w in cur.items() if j != i]
                before = {w.name: _rebalance_events(w) for w in others}
                parts = old.snapshot()
                if how == "close":
                    # librdkafka sends no LeaveGroup for a static member (KIP-345)
                    old.terminate()
                    t0 = old.sigterm_at
                else:
                    # with records consumed but not committed, to be read again
                    gw.kill_with_uncommitted(old)
                    t0 = old.killed_at
                # Still a member (no LeaveGroup, session not expired), group Stable.
                d = gw.describe_group(CLIENT, gbroker.bootstrap, group, topic)
                want = {w.name: w.snapshot() for w in others}
                want[old.name] = parts
                assert (d["state"], d["members"]) == ("Stable", want), \
                    f"after the {how} of static {old.name}: {d}, expected Stable with {want}"
                new = member(i, 2)
                cur[i] = new
                wait_until(lambda: new.snapshot(), STATIC_SESSION_MS / 1000 + 30,
                           f"restarted static member {new.name} to get an assignment",
                           crew.workers)
                t_back = gw.last_assign_time(new)
                assert new.snapshot() == parts, \
                    f"{new.name} got {new.snapshot()}, its instance had {parts}"
                assert t_back - t0 < STATIC_SESSION_MS / 1000, \
                    f"{new.name} back after {t_back - t0:.1f}s, beyond the session timeout"
                # The others keep consuming through two more heartbeat intervals
                # without any rebalance callback.
                wait_until(lambda: all(w.consumed_since(t_back + 2.5 * gw.HEARTBEAT_MS / 1000)
                                       for w in others + [new]), 30,
                           "every member to consume after the rejoin", crew.workers)
                for w in others:
                    assert _rebalance_events(w) == before[w.name], \
                        (f"{how} + rejoin of static {old.name}: {w.name} saw a rebalance: "
                         f"{_rebalance_events(w)} (before: {before[w.name]})\n" + w.describe())
                assert _rebalance_events(new) == [("assign", parts)], new.describe()
                d = gw.describe_group(CLIENT, gbroker.bootstrap, group, topic)
                want = {w.name: w.snapshot() for w in cur.values()}
                assert (d["state"], d["members"]) == ("Stable", want), \
                    f"after {new.name} took over: {d}, expected Stable with {want}"

            # Nobody rebalanced: each replacement has its single assignment.
            for w in cur.values():
                assert _rebalance_events(w) == [("assign", w.snapshot())], \
                    (w.name, _rebalance_events(w))
            assert_partitioned(list(cur.values()), nparts, [2, 2, 2])

            # A dynamic member joins: the group, led by a member that took over
            # a static instance, rebalances over four.
            dyn = crew.start("dyn", group)
            members = list(cur.values()) + [dyn]
            wait_until(lambda: settled(members, nparts), 60,
                       lambda: f"4 members to share {nparts} partitions: "
                       f"{owned_map(members)}", crew.workers)
            assert_partitioned(members, nparts, [2, 2, 1, 1])

            produced = prod.stop()
            wait_until(lambda: all_consumed(produced, crew.workers), 60,
                       lambda: f"every record to be consumed; missing "
                       f"{missing(produced, crew.workers)[:10]}", crew.workers)
            for w in members:
                w.terminate()
        finally:
            prod.close()
        killed = [w for w in crew.workers if w.killed_at is not None]
        idx = check_delivery(produced, crew.workers, killed=killed)
        check_no_overlap(crew.workers)
        # the new instance read on exactly from the killed one's last commits
        again = gw.check_resume_after_kill(killed[0], [cur[3]])
        dups = sum(len(v) - 1 for v in idx.values())
        assert again > 0 and dups == again, (again, dups)


# ---- 5. cooperative-sticky ----------------------------------------------------

def test_cooperative_sticky_incremental(gbroker, topic_name, tmp_path):
    nparts = 6
    topic = topic_name("coop")
    gbroker.create_topic(topic, partitions=nparts)
    group = gw._unique("coop")
    everything = list(range(nparts))
    prod = Producer(CLIENT, gbroker.bootstrap, topic, nparts, tag="co")
    with Crew(CLIENT, gbroker.bootstrap, topic, tmp_path) as crew:
        def member(name):
            return crew.start(name, group, strategy="cooperative-sticky", cooperative=True)

        try:
            prod.start()
            c1 = member("c1")
            wait_until(lambda: c1.snapshot() == everything, 60,
                       "the first member to own every partition", crew.workers)
            n1 = len(c1.of_kind("assign", "revoke", "lost"))

            # -- a second member joins: c1 gives away only what moves
            c2 = member("c2")
            wait_until(lambda: settled([c1, c2], nparts), 60,
                       lambda: f"both members to share the partitions: {owned_map([c1, c2])}",
                       crew.workers)
            assert_partitioned([c1, c2], nparts, [3, 3])
            moved = set(c2.snapshot())
            kept = set(c1.snapshot())
            after = c1.of_kind("assign", "revoke", "lost")[n1:]
            assert not [e for e in after if e["ev"] == "lost"], after
            revoked = set().union(*[set(e["parts"]) for e in after if e["ev"] == "revoke"])
            gained = set().union(*[set(e["parts"]) for e in after if e["ev"] == "assign"])
            assert revoked == moved and not gained, \
                (f"c1 should have revoked exactly {sorted(moved)} incrementally and kept "
                 f"{sorted(kept)}; its callbacks since c2 joined: {after}")
            assert all(set(e["owned"]) >= kept for e in after), \
                f"c1 lost a partition it kept at some point: {after}"
            c2_evs = [e for e in c2.of_kind("assign", "revoke", "lost") if e["parts"]]
            assert [(e["ev"], set(e["parts"])) for e in c2_evs] == [("assign", moved)], c2_evs
            # c1 kept consuming its kept partitions; c2 reads the moved ones
            t_split = max(e["t"] for e in after)
            wait_until(lambda: c2.consumed_since(t_split) and c1.consumed_since(t_split), 30,
                       "both members to consume after the split", crew.workers)

            # -- c2 leaves: c1 gets the partitions back incrementally, no revoke
            n1 = len(c1.of_kind("assign", "revoke", "lost"))
            c2.terminate()
            wait_until(lambda: c1.snapshot() == everything, 60,
                       "c1 to get the partitions of c2 back", crew.workers)
            after = c1.of_kind("assign", "revoke", "lost")[n1:]
            nonempty = [(e["ev"], set(e["parts"])) for e in after if e["parts"]]
            assert nonempty == [("assign", moved)], \
                f"after c2 left, c1 should only have been assigned {sorted(moved)}: {after}"

            produced = prod.stop()
            wait_until(lambda: all_consumed(produced, crew.workers), 60,
                       lambda: f"every record to be consumed; missing "
                       f"{missing(produced, crew.workers)[:10]}", crew.workers)
            c1.terminate()
        finally:
            prod.close()
        # Nobody killed: no duplicates. A cooperative member keeps consuming
        # and committing while the group completes a rebalance; Kafka answers
        # such a commit REBALANCE_IN_PROGRESS (the worker retries it with the
        # next batch or in the revoke callback).
        check_delivery(produced, crew.workers, commit_errors_ok=("REBALANCE_IN_PROGRESS",))
        check_no_overlap(crew.workers)
        ends = {}
        for p, o in produced:
            ends[p] = max(ends.get(p, 0), o + 1)
        got = gw.fetch_committed(CLIENT, gbroker.bootstrap, group, topic, nparts)
        assert got == ends, f"committed at the end {got}, log end offsets {ends}"
