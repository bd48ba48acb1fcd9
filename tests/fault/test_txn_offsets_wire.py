"""Transactional offset commits over raw sockets (issue 4 part 2):
TxnOffsetCommit (28, v0-3) and what OffsetFetch (9) answers around it.

  - every version round-trips; an unknown topic or partition is
    UNKNOWN_TOPIC_OR_PARTITION per partition, metadata over
    offset.metadata.max.bytes OFFSET_METADATA_TOO_LARGE, an empty group id
    INVALID_GROUP_ID, a producer id of -1 INVALID_PRODUCER_ID_MAPPING, a v3
    generation for a group without that member UNKNOWN_MEMBER_ID (Kafka's
    checks and codes);
  - without AddOffsetsToTxn (no transaction, or a transaction holding only
    data partitions) the partition log's KIP-890 check refuses it:
    INVALID_TXN_STATE, and nothing is pending;
  - a producer fenced by a newer instance: INVALID_PRODUCER_EPOCH in every
    version (Kafka's TxnOffsetCommit never answers PRODUCER_FENCED);
  - pending offsets: OffsetFetch answers the last committed value, with
    RequireStable (v7, v8) UNSTABLE_OFFSET_COMMIT and -1; after EndTxn
    commit the new offsets, after abort the old ones;
  - Kafka's mixing rule: a regular commit written after the transactional
    one wins when the transaction commits;
  - DeleteGroups drops pending offsets: a later commit does not bring them
    back, nor does a restart; expiry keeps an offset whose key is pending
    until the transaction ends;
  - SIGKILL and restart in every state: pending (still pending after the
    restart, then committed by EndTxn on the restarted broker), committed,
    aborted.
"""

import itertools

import pytest

import harness
import test_offsets_wire as ow
import test_txn_wire as tw
from kwire import Conn, GroupWireReader, GroupWireWriter

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
UNSTABLE_OFFSET_COMMIT = 88

API_TXN_OFFSET_COMMIT = 28
TXN_OFFSET_COMMIT_FLEX = 3

_corr = itertools.count(1)


# ---------------------------------------------------------------- TxnOffsetCommit
# Field layout from Kafka 3.9's TxnOffsetCommitRequest/Response schemas.

def txn_offset_commit_body(v, tid, group, pid, epoch, offsets, generation=-1, member="",
                           instance=None):
    """offsets: [(topic, partition, offset, metadata, leader_epoch)]."""
    by_topic = {}
    for t, p, o, md, ep in offsets:
        by_topic.setdefault(t, []).append((p, o, md, ep))
    w = GroupWireWriter(v >= TXN_OFFSET_COMMIT_FLEX)
    w.s(tid).s(group).i64(pid).i16(epoch)
    if v >= 3:
        w.i32(generation).s(member).s(instance)

    def part(w, p):
        w.i32(p[0]).i64(p[1])
        if v >= 2:
            w.i32(p[3])
        w.s(p[2]).end()

    w.arr(list(by_topic.items()), lambda w, t: w.s(t[0]).arr(t[1], part).end())
    return w.end().bytes()


def parse_txn_offset_commit(body, v):
    """-> [(topic, partition, error)] in the answer's order."""
    r = GroupWireReader(body, v >= TXN_OFFSET_COMMIT_FLEX)
    assert r.i32() == 0  # throttle
    out = []

    def part(r, name):
        out.append((name, r.i32(), r.i16()))
        r.end()

    def topic(r):
        name = r.s()
        r.arr(lambda r: part(r, name))
        r.end()

    r.arr(topic)
    r.end()
    r.done()
    return out


def txn_commit(port, txn, group, offsets, v=3, pid=None, epoch=None, **kw):
    body = txn_offset_commit_body(v, txn.tid, group, txn.pid if pid is None else pid,
                                  txn.epoch if epoch is None else epoch, offsets, **kw)
    with Conn(port, timeout=harness.scaled(10)) as c:
        resp = c.request(API_TXN_OFFSET_COMMIT, v, body, corr=next(_corr),
                         flexible=v >= TXN_OFFSET_COMMIT_FLEX)
    return parse_txn_offset_commit(resp, v)


def errors(res):
    return [e for _, _, e in res]


# ---------------------------------------------------------------- reading back

def committed(port, group, topic, parts):
    """{partition: offset} without RequireStable (OffsetFetch v6)."""
    err, out = ow.offset_fetch(port, 6, group, {topic: parts})
    assert err == NONE and all(e == NONE for *_, e in out), out
    return {p: off for _, p, off, *_ in out}


def stable(port, group, topic, parts, v=7):
    """{partition: (offset, error)} with RequireStable (v7 or v8)."""
    if v == 8:
        ((_, err, out),) = ow.offset_fetch_v8(port, [(group, {topic: parts})], require_stable=True)
    else:
        err, out = ow.offset_fetch(port, 7, group, {topic: parts}, require_stable=True)
    assert err == NONE
    return {p: (off, e) for _, p, off, _ep, _md, e in out}


def settled(port, group, topic, parts):
    """Waits until no partition is UNSTABLE_OFFSET_COMMIT (the markers are
    written after EndTxn answers); returns {partition: offset}."""
    got = tw.wait_for(lambda: (lambda s: s if all(e == NONE for _, e in s.values()) else None)(
        stable(port, group, topic, parts)), "the transaction's markers")
    return {p: off for p, (off, _) in got.items()}


def begin_offsets(txn, group):
    """InitProducerId (when not done) and AddOffsetsToTxn for group."""
    if txn.pid < 0:
        txn.init_ok()
    assert txn.add_offsets(group) == NONE


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tb(_module_broker_factory):
    return _module_broker_factory(name="txn-offsets-broker", group_initial_rebalance_delay_ms=0)


@pytest.fixture(scope="module")
def topic(tb):
    name = harness.unique_name("txoff")
    tb.create_topic(name, partitions=3)
    return name


@pytest.fixture
def txn(tb):
    t = tw.Txn(tb.port, harness.unique_name("txoff-tid"))
    yield t
    t.close()


# ---------------------------------------------------------------- request checks

@pytest.mark.parametrize("v", range(4))
def test_each_version_commits_in_a_transaction(tb, topic, txn, v):
    g = ow.gid("txv")
    begin_offsets(txn, g)
    offs = [(topic, 0, 10 + v, "md", 3), (topic, 2, 20 + v, None, -1)]
    assert txn_commit(tb.port, txn, g, offs, v=v) == [(topic, 0, NONE), (topic, 2, NONE)]
    assert txn.end(True) == NONE
    assert settled(tb.port, g, topic, [0, 2]) == {0: 10 + v, 2: 20 + v}
    _, out = ow.offset_fetch(tb.port, 6, g, {topic: [0, 2]})
    epoch0 = 3 if v >= 2 else -1  # CommittedLeaderEpoch exists from v2
    assert out == [(topic, 0, 10 + v, epoch0, "md", NONE), (topic, 2, 20 + v, -1, "", NONE)]


def test_bad_partitions_metadata_and_ids(tb, topic, txn):
    g = ow.gid("txbad")
    begin_offsets(txn, g)
    big = "x" * 5000  # offset.metadata.max.bytes is 4096
    res = txn_commit(tb.port, txn, g, [(topic, 0, 1, "", -1), (topic, 3, 1, "", -1),
                                       ("no-such-topic", 0, 1, "", -1), (topic, 1, 1, big, -1)])
    assert res == [(topic, 0, NONE), (topic, 3, UNKNOWN_TOPIC_OR_PARTITION),
                   (topic, 1, OFFSET_METADATA_TOO_LARGE),
                   ("no-such-topic", 0, UNKNOWN_TOPIC_OR_PARTITION)]
    assert stable(tb.port, g, topic, [0, 1]) == {0: (-1, UNSTABLE_OFFSET_COMMIT), 1: (-1, NONE)}
    # nothing valid left: answered without the coordinator
    assert txn_commit(tb.port, txn, g, [(topic, 9, 1, "", -1)]) == [(topic, 9, UNKNOWN_TOPIC_OR_PARTITION)]
    for v in range(4):
        assert errors(txn_commit(tb.port, txn, "", [(topic, 0, 1, "", -1)], v=v)) == [INVALID_GROUP_ID]
        assert errors(txn_commit(tb.port, txn, g, [(topic, 0, 1, "", -1)], v=v, pid=-1)) == \
            [INVALID_PRODUCER_ID_MAPPING]
    # v3: a member check when the request names a generation or member
    assert errors(txn_commit(tb.port, txn, g, [(topic, 0, 1, "", -1)], generation=5,
                             member="m-1")) == [UNKNOWN_MEMBER_ID]
    assert txn.end(False) == NONE
    assert settled(tb.port, g, topic, [0]) == {0: -1}
    ow.serving(tb.port, topic)


@pytest.mark.parametrize("v", range(4))
def test_without_add_offsets_to_txn(tb, topic, txn, v):
    g = ow.gid("txnoadd")
    txn.init_ok()
    # no transaction at all
    assert errors(txn_commit(tb.port, txn, g, [(topic, 0, 5, "", -1)], v=v)) == [INVALID_TXN_STATE]
    # a transaction holding only a data partition, not the group's
    assert txn.add([(topic, [1])]) == [(topic, 1, NONE)]
    assert errors(txn_commit(tb.port, txn, g, [(topic, 0, 5, "", -1)], v=v)) == [INVALID_TXN_STATE]
    assert stable(tb.port, g, topic, [0]) == {0: (-1, NONE)}
    assert txn.end(False) == NONE


@pytest.mark.parametrize("v", range(4))
def test_fenced_producer(tb, topic, v):
    g = ow.gid("txfence")
    name = harness.unique_name("txoff-fence")
    a, b = tw.Txn(tb.port, name), tw.Txn(tb.port, name)
    try:
        begin_offsets(a, g)
        assert txn_commit(tb.port, a, g, [(topic, 0, 7, "", -1)], v=v) == [(topic, 0, NONE)]
        # b fences a (a's transaction is aborted with a bumped epoch) and
        # begins its own, holding the same group
        b.init_ok()
        assert b.epoch > a.epoch
        assert stable(tb.port, g, topic, [0]) == {0: (-1, NONE)}  # a's offset aborted
        assert errors(txn_commit(tb.port, a, g, [(topic, 0, 8, "", -1)], v=v)) == [INVALID_PRODUCER_EPOCH]
        begin_offsets(b, g)
        assert errors(txn_commit(tb.port, a, g, [(topic, 0, 9, "", -1)], v=v)) == [INVALID_PRODUCER_EPOCH]
        assert txn_commit(tb.port, b, g, [(topic, 0, 10, "", -1)], v=v) == [(topic, 0, NONE)]
        assert b.end(True) == NONE
        assert settled(tb.port, g, topic, [0]) == {0: 10}
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------- visibility

@pytest.mark.parametrize("fetch_v", [7, 8])
def test_pending_invisible_then_committed(tb, topic, txn, fetch_v):
    g = ow.gid("txvis")
    assert ow.offset_commit(tb.port, 8, g, [(topic, 0, 5, "old", -1)]) == [(topic, 0, NONE)]
    begin_offsets(txn, g)
    assert txn_commit(tb.port, txn, g, [(topic, 0, 50, "new", -1), (topic, 1, 60, "", -1)]) == \
        [(topic, 0, NONE), (topic, 1, NONE)]
    # without RequireStable: the last committed value
    assert committed(tb.port, g, topic, [0, 1, 2]) == {0: 5, 1: -1, 2: -1}
    # with it: UNSTABLE_OFFSET_COMMIT and -1 for the pending ones only
    assert stable(tb.port, g, topic, [0, 1, 2], fetch_v) == \
        {0: (-1, UNSTABLE_OFFSET_COMMIT), 1: (-1, UNSTABLE_OFFSET_COMMIT), 2: (-1, NONE)}
    # every offset of the group (topics null): only committed partitions,
    # the pending one unstable
    err, out = ow.offset_fetch(tb.port, 7, g, None, require_stable=True)
    assert (err, out) == (NONE, [(topic, 0, -1, -1, "", UNSTABLE_OFFSET_COMMIT)])
    assert txn.end(True) == NONE
    assert settled(tb.port, g, topic, [0, 1, 2]) == {0: 50, 1: 60, 2: -1}
    _, out = ow.offset_fetch(tb.port, 7, g, None, require_stable=True)
    assert out == [(topic, 0, 50, -1, "new", NONE), (topic, 1, 60, -1, "", NONE)]


def test_abort_drops_pending(tb, topic, txn):
    g = ow.gid("txabort")
    assert ow.offset_commit(tb.port, 8, g, [(topic, 0, 5, "", -1)]) == [(topic, 0, NONE)]
    begin_offsets(txn, g)
    assert errors(txn_commit(tb.port, txn, g, [(topic, 0, 50, "", -1), (topic, 1, 60, "", -1)])) == [NONE, NONE]
    assert txn.end(False) == NONE
    assert settled(tb.port, g, topic, [0, 1]) == {0: 5, 1: -1}
    # the next transaction of the same producer commits normally
    begin_offsets(txn, g)
    assert errors(txn_commit(tb.port, txn, g, [(topic, 1, 61, "", -1)])) == [NONE]
    assert txn.end(True) == NONE
    assert settled(tb.port, g, topic, [0, 1]) == {0: 5, 1: 61}


def test_regular_commit_written_later_wins(tb, topic, txn):
    """Kafka's rule for a mix: the record written later wins, even though
    the transaction's COMMIT marker comes after it."""
    g = ow.gid("txmix")
    begin_offsets(txn, g)
    assert errors(txn_commit(tb.port, txn, g, [(topic, 0, 100, "", -1), (topic, 1, 100, "", -1)])) == [NONE, NONE]
    assert ow.offset_commit(tb.port, 8, g, [(topic, 0, 40, "", -1)]) == [(topic, 0, NONE)]
    assert committed(tb.port, g, topic, [0]) == {0: 40}
    assert txn.end(True) == NONE
    assert settled(tb.port, g, topic, [0, 1]) == {0: 40, 1: 100}


def test_delete_group_drops_pending(broker_factory, topic_name):
    b = broker_factory(group_initial_rebalance_delay_ms=0)
    t = topic_name()
    b.create_topic(t, partitions=2)
    g = ow.gid("txdel")
    txn = tw.Txn(b.port, topic_name("tid"))
    try:
        begin_offsets(txn, g)
        assert errors(txn_commit(b.port, txn, g, [(t, 0, 9, "", -1)])) == [NONE]
        # a group with only pending offsets exists for DeleteGroups
        assert ow.delete_groups(b.port, 2, [g]) == [(g, NONE)]
        assert stable(b.port, g, t, [0]) == {0: (-1, NONE)}
        assert txn.end(True) == NONE
        tw.wait_for(lambda: tw.describe(b.port, [txn.tid])[0]["state"] == "CompleteCommit",
                    "the commit to complete")
        assert committed(b.port, g, t, [0]) == {0: -1}
    finally:
        txn.close()
    b.kill9()
    b.start()
    assert stable(b.port, g, t, [0]) == {0: (-1, NONE)}


def test_pending_offset_does_not_expire(broker_factory, topic_name):
    """Kafka's cleanupExpiredOffsets: an offset whose key has a pending
    transactional commit is not expired until the transaction ends."""
    b = broker_factory(group_initial_rebalance_delay_ms=0, offsets_retention_check_interval_ms=200)
    t = topic_name()
    b.create_topic(t, partitions=2)
    g = ow.gid("txexp")
    txn = tw.Txn(b.port, topic_name("tid"))
    try:
        begin_offsets(txn, g)
        assert errors(txn_commit(b.port, txn, g, [(t, 0, 99, "", -1)])) == [NONE]
        # p0 first, so p1 expires no earlier than p0 would
        for p in (0, 1):
            assert ow.offset_commit(b.port, 2, g, [(t, p, 11, "", -1)], retention_ms=300) == [(t, p, NONE)]
        tw.wait_for(lambda: committed(b.port, g, t, [1]) == {1: -1}, "p1 to expire")
        assert committed(b.port, g, t, [0]) == {0: 11}
        assert txn.end(False) == NONE
        tw.wait_for(lambda: committed(b.port, g, t, [0]) == {0: -1}, "p0 to expire after the abort")
        assert stable(b.port, g, t, [0]) == {0: (-1, NONE)}
    finally:
        txn.close()


# ---------------------------------------------------------------- crashes

def _restart(b):
    b.kill9()
    b.start()


def test_survives_sigkill_in_every_state(broker_factory, topic_name):
    b = broker_factory(group_initial_rebalance_delay_ms=0)
    t = topic_name()
    b.create_topic(t, partitions=3)
    g_pend, g_done, g_abort = ow.gid("txk-pend"), ow.gid("txk-done"), ow.gid("txk-abort")
    tids = {g: topic_name("tid") for g in (g_pend, g_done, g_abort)}
    txns = {g: tw.Txn(b.port, tids[g]) for g in tids}
    try:
        for g, txn in txns.items():
            assert ow.offset_commit(b.port, 8, g, [(t, 0, 1, "", -1)]) == [(t, 0, NONE)]
            begin_offsets(txn, g)
            assert errors(txn_commit(b.port, txn, g, [(t, 0, 100, "txn", -1), (t, 2, 200, "", -1)])) == [NONE, NONE]
        assert txns[g_done].end(True) == NONE
        assert txns[g_abort].end(False) == NONE
        assert settled(b.port, g_done, t, [0, 2]) == {0: 100, 2: 200}
        assert settled(b.port, g_abort, t, [0, 2]) == {0: 1, 2: -1}
        pid, epoch = txns[g_pend].pid, txns[g_pend].epoch
    finally:
        for txn in txns.values():
            txn.close()

    _restart(b)
    # still pending after the restart: the last committed value, unstable
    assert committed(b.port, g_pend, t, [0, 2]) == {0: 1, 2: -1}
    assert stable(b.port, g_pend, t, [0, 1, 2]) == \
        {0: (-1, UNSTABLE_OFFSET_COMMIT), 1: (-1, NONE), 2: (-1, UNSTABLE_OFFSET_COMMIT)}
    assert stable(b.port, g_done, t, [0, 2]) == {0: (100, NONE), 2: (200, NONE)}
    assert stable(b.port, g_abort, t, [0, 2]) == {0: (1, NONE), 2: (-1, NONE)}
    _, out = ow.offset_fetch(b.port, 6, g_done, {t: [0]})
    assert out == [(t, 0, 100, -1, "txn", NONE)]

    # the same producer (its transaction survived in __transaction_state)
    # commits it on the restarted broker
    txn = tw.Txn(b.port, tids[g_pend])
    txn.pid, txn.epoch = pid, epoch
    try:
        assert txn.end(True) == NONE
        assert settled(b.port, g_pend, t, [0, 2]) == {0: 100, 2: 200}
    finally:
        txn.close()

    _restart(b)
    for g in (g_pend, g_done):
        assert stable(b.port, g, t, [0, 2]) == {0: (100, NONE), 2: (200, NONE)}
    assert stable(b.port, g_abort, t, [0, 2]) == {0: (1, NONE), 2: (-1, NONE)}
    ow.serving(b.port, t)
