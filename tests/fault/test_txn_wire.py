"""The transactional APIs over raw sockets (issue 4 part 2): AddPartitionsToTxn
(24, v0-3), AddOffsetsToTxn (25, v0-3), EndTxn (26, v0-3),
DescribeTransactions (65, v0), ListTransactions (66, v0-1), InitProducerId
with a transactional id and FindCoordinator KeyType 1 — Kafka's codes for
bad input, and no partition's data or last stable offset damaged by it.

  - ApiVersions advertises exactly the served ranges; WriteTxnMarkers (27,
    broker-to-broker) is not served: a client sending it loses its
    connection, as for any unknown key;
  - every served version round-trips: each answer parses completely (no
    byte left over) in the version asked for;
  - requests for a transactional id without InitProducerId:
    INVALID_PRODUCER_ID_MAPPING; another producer id: the same; a stale
    epoch: PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH in v0-1 (Kafka's
    conversion; InitProducerId from v4); TransactionalId "": INVALID_REQUEST;
  - EndTxn with no transaction begun (EMPTY): INVALID_TXN_STATE for commit
    and for abort, as Kafka 3.9 answers; a retry of a completed end NONE,
    the other outcome INVALID_TXN_STATE;
  - AddPartitionsToTxn with an unknown topic or partition: those
    UNKNOWN_TOPIC_OR_PARTITION, an internal topic TOPIC_AUTHORIZATION_FAILED,
    the others OPERATION_NOT_ATTEMPTED, and nothing added;
  - InitProducerId with a timeout over transaction.max.timeout.ms:
    INVALID_TRANSACTION_TIMEOUT;
  - a transactional Produce to a partition not added (KIP-890):
    INVALID_TXN_STATE, nothing appended, LSO unchanged; a control batch
    from a client: INVALID_RECORD, partition unchanged;
  - a second InitProducerId for the same id fences the first instance: its
    open transaction is aborted (CONCURRENT_TRANSACTIONS until then), and
    its EndTxn is fenced;
  - CONCURRENT_TRANSACTIONS for requests pipelined behind an EndTxn
    (coordinator jobs run in arrival order, so they find the PREPARE_COMMIT
    transition in flight);
  - DescribeTransactions and ListTransactions contents and filters;
  - a huge AddPartitionsToTxn (thousands of entries) is answered entry by
    entry and the broker stays healthy.
"""

import itertools
import time

import pytest

import harness
import kwire
from kwire import (API_API_VERSIONS, API_FIND_COORDINATOR, API_INIT_PRODUCER_ID, Conn,
                   GroupWireReader, GroupWireWriter, Writer, Reader)

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
TOPIC_AUTHORIZATION_FAILED = 29
INVALID_REQUEST = 42
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
OPERATION_NOT_ATTEMPTED = 55
INVALID_RECORD = 87
PRODUCER_FENCED = 90
TRANSACTIONAL_ID_NOT_FOUND = 105

API_ADD_PARTITIONS, API_ADD_OFFSETS, API_END_TXN, API_WRITE_TXN_MARKERS = 24, 25, 26, 27
API_TXN_OFFSET_COMMIT = 28
API_DESCRIBE_TXNS, API_LIST_TXNS = 65, 66
TXN_FLEX_MIN = 3             # AddPartitionsToTxn, AddOffsetsToTxn, EndTxn
TXN_BIT, CONTROL_BIT = 0x10, 0x20

_corr = itertools.count(1)


# ---------------------------------------------------------------- encoders
# Field layouts from Kafka 3.9's message schemas (see src/protocol/defs/).

def add_partitions_body(v, tid, pid, epoch, topics):
    """topics: [(name, [partition, ...])]."""
    w = GroupWireWriter(v >= TXN_FLEX_MIN)
    w.s(tid).i64(pid).i16(epoch)
    w.arr(list(topics), lambda w, t: w.s(t[0]).arr(list(t[1]), lambda w, p: w.i32(p)).end())
    return w.end().bytes()


def parse_add_partitions(body, v):
    """-> [(topic, partition, error_code)] in the answer's order."""
    r = GroupWireReader(body, v >= TXN_FLEX_MIN)
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


def add_offsets_body(v, tid, pid, epoch, group):
    w = GroupWireWriter(v >= TXN_FLEX_MIN)
    return w.s(tid).i64(pid).i16(epoch).s(group).end().bytes()


def end_txn_body(v, tid, pid, epoch, commit):
    w = GroupWireWriter(v >= TXN_FLEX_MIN)
    return w.s(tid).i64(pid).i16(epoch).i8(1 if commit else 0).end().bytes()


def parse_code(body, v):
    """AddOffsetsToTxn / EndTxn answers: ThrottleTimeMs, ErrorCode."""
    r = GroupWireReader(body, v >= TXN_FLEX_MIN)
    throttle, err = r.i32(), r.i16()
    r.end()
    r.done()
    assert throttle == 0
    return err


def describe_txns_body(tids):
    w = GroupWireWriter(True)
    return w.arr(list(tids), lambda w, t: w.s(t)).end().bytes()


def parse_describe_txns(body):
    """-> [dict(error, tid, state, timeout_ms, start_ms, pid, epoch,
    topics={topic: [partitions]})] in the answer's order."""
    r = GroupWireReader(body, True)
    assert r.i32() == 0

    def topic(r):
        name = r.s()
        parts = r.arr(lambda r: r.i32())
        r.end()
        return name, parts

    def state(r):
        d = dict(error=r.i16(), tid=r.s(), state=r.s(), timeout_ms=r.i32(), start_ms=r.i64(),
                 pid=r.i64(), epoch=r.i16())
        d["topics"] = dict(r.arr(topic))
        r.end()
        return d

    out = r.arr(state)
    r.end()
    r.done()
    return out


def list_txns_body(v, states=(), pids=(), duration_ms=-1):
    w = GroupWireWriter(True)
    w.arr(list(states), lambda w, s: w.s(s)).arr(list(pids), lambda w, p: w.i64(p))
    if v >= 1:
        w.i64(duration_ms)
    return w.end().bytes()


def parse_list_txns(body):
    """-> (error, unknown_state_filters, {tid: (pid, state)})."""
    r = GroupWireReader(body, True)
    assert r.i32() == 0
    err = r.i16()
    unknown = r.arr(lambda r: r.s())

    def state(r):
        t = (r.s(), r.i64(), r.s())
        r.end()
        return t

    rows = r.arr(state)
    r.end()
    r.done()
    found = {tid: (pid, st) for tid, pid, st in rows}
    assert len(found) == len(rows), rows
    return err, unknown, found


def list_offsets_v2(topic, partitions, read_committed, timestamp=-1):
    w = Writer().i32(-1).i8(1 if read_committed else 0)
    w.array([topic], lambda w, t: w.string(t).array(
        list(partitions), lambda w, p: w.i32(p).i64(timestamp)))
    return w.bytes()


def parse_list_offsets_v2(body):
    """-> {partition: (error, offset)}"""
    r = Reader(body)
    r.i32()
    out = {}

    def part(r):
        idx, err, _, off = r.i32(), r.i16(), r.i64(), r.i64()
        out[idx] = (err, off)

    r.array(lambda r: (r.string(), r.array(part)))
    r.done()
    return out


def java_partition_for(group, n):
    """Kafka's groupCoordinator.partitionFor: Utils.abs(String.hashCode) % n
    (ASCII names only)."""
    h = 0
    for ch in group:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return 0 if h == -(1 << 31) else abs(h) % n


# ---------------------------------------------------------------- a client

class Txn:
    """One raw connection speaking for a transactional id."""

    def __init__(self, port, tid):
        self.conn = Conn(port, timeout=harness.scaled(10))
        self.tid = tid
        self.pid, self.epoch = -1, -1

    def close(self):
        self.conn.close()

    def call(self, key, v, body, flexible):
        return self.conn.request(key, v, body, corr=next(_corr), flexible=flexible)

    def init(self, v=4, timeout_ms=60000, tid=None, pid=-1, epoch=-1):
        tid = self.tid if tid is None else tid
        body = kwire.init_producer_id(v, transactional_id=tid, timeout_ms=timeout_ms,
                                      producer_id=pid, producer_epoch=epoch)
        return kwire.parse_init_producer_id(
            self.call(API_INIT_PRODUCER_ID, v, body, v >= kwire.INIT_PID_FLEX_MIN), v)

    def init_ok(self, v=4, timeout_ms=60000):
        """InitProducerId until it is not CONCURRENT_TRANSACTIONS (the
        coordinator aborting the previous instance's transaction)."""
        deadline = time.monotonic() + harness.scaled(20)
        while True:
            _, err, pid, epoch = self.init(v, timeout_ms)
            if err != CONCURRENT_TRANSACTIONS or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert err == NONE, err
        self.pid, self.epoch = pid, epoch
        return pid, epoch

    def add(self, topics, v=3, pid=None, epoch=None, tid=None):
        body = add_partitions_body(v, self.tid if tid is None else tid,
                                   self.pid if pid is None else pid,
                                   self.epoch if epoch is None else epoch, topics)
        return parse_add_partitions(self.call(API_ADD_PARTITIONS, v, body, v >= TXN_FLEX_MIN), v)

    def add_offsets(self, group, v=3, pid=None, epoch=None, tid=None):
        body = add_offsets_body(v, self.tid if tid is None else tid,
                                self.pid if pid is None else pid,
                                self.epoch if epoch is None else epoch, group)
        return parse_code(self.call(API_ADD_OFFSETS, v, body, v >= TXN_FLEX_MIN), v)

    def end(self, commit, v=3, pid=None, epoch=None, tid=None):
        body = end_txn_body(v, self.tid if tid is None else tid,
                            self.pid if pid is None else pid,
                            self.epoch if epoch is None else epoch, commit)
        return parse_code(self.call(API_END_TXN, v, body, v >= TXN_FLEX_MIN), v)

    def produce(self, topic, partition, values, seq, attributes=TXN_BIT, tid=True, keys=None):
        batch = kwire.build_batch(values, keys=keys, producer_id=self.pid,
                                  producer_epoch=self.epoch, base_sequence=seq,
                                  attributes=attributes)
        body = kwire.produce_v3(topic, {partition: batch}, acks=-1,
                                transactional_id=self.tid if tid else None)
        (res,) = kwire.parse_produce_v3(self.call(kwire.API_PRODUCE, 3, body, False)).values()
        return res


def describe(port, tids):
    with Conn(port, timeout=harness.scaled(10)) as c:
        return parse_describe_txns(c.request(API_DESCRIBE_TXNS, 0, describe_txns_body(tids),
                                             corr=next(_corr), flexible=True))


def list_txns(port, v=1, **kw):
    with Conn(port, timeout=harness.scaled(10)) as c:
        return parse_list_txns(c.request(API_LIST_TXNS, v, list_txns_body(v, **kw),
                                         corr=next(_corr), flexible=True))


def offsets(port, topic, partitions, read_committed):
    with Conn(port, timeout=harness.scaled(10)) as c:
        body = c.request(kwire.API_LIST_OFFSETS, 2,
                         list_offsets_v2(topic, partitions, read_committed), corr=next(_corr))
    res = parse_list_offsets_v2(body)
    assert all(err == NONE for err, _ in res.values()), res
    return {p: off for p, (_, off) in res.items()}


def wait_for(fn, what, timeout=20):
    deadline = time.monotonic() + harness.scaled(timeout)
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def fetch_values(port, topic, partition):
    with Conn(port, timeout=harness.scaled(10)) as c:
        body = c.request(kwire.API_FETCH, 4, kwire.fetch_v4(topic, partition, 0),
                         corr=next(_corr))
    err, _hw, data = kwire.parse_fetch_v4(body)[(topic, partition)]
    assert err == NONE
    return [(off, val) for b in kwire.parse_batches(data) if not b["attributes"] & CONTROL_BIT
            for off, _k, val, _ in b["records"]]


# ---------------------------------------------------------------- tests

def test_advertised_ranges(module_broker):
    with Conn(module_broker.port) as c:
        body = c.request(API_API_VERSIONS, 3, kwire.api_versions_body(3), flexible=True,
                         resp_header_v1=False)
    err, keys, _ = kwire.parse_api_versions(body, 3)
    assert err == NONE
    want = {API_ADD_PARTITIONS: (0, 3), API_ADD_OFFSETS: (0, 3), API_END_TXN: (0, 3),
            API_TXN_OFFSET_COMMIT: (0, 3), API_DESCRIBE_TXNS: (0, 0), API_LIST_TXNS: (0, 1),
            API_INIT_PRODUCER_ID: (0, 4)}
    assert {k: keys.get(k) for k in want} == want
    assert API_WRITE_TXN_MARKERS not in keys


def test_write_txn_markers_closes_connection(module_broker):
    # WriteTxnMarkers v1: one marker for pid 1, epoch 0, COMMIT, no topics
    body = (GroupWireWriter(True).arr([1], lambda w, _: w.i64(1).i16(0).i8(1)
                                       .arr([], None).i32(0).end()).end().bytes())
    with Conn(module_broker.port) as c:
        c.send(kwire.request_frame(API_WRITE_TXN_MARKERS, 1, 7, body, flexible=True))
        closed, got = c.wait_closed(harness.scaled(10))
    assert closed and got == b""
    assert "unknown API key 27" in module_broker.log_text()


@pytest.mark.parametrize("v", range(4))
def test_without_init_producer_id(module_broker, topic_name, v):
    topic = topic_name()
    module_broker.create_topic(topic)
    t = Txn(module_broker.port, topic_name("never-initialised"))
    try:
        t.pid, t.epoch = 1234, 0
        assert t.add([(topic, [0])], v) == [(topic, 0, INVALID_PRODUCER_ID_MAPPING)]
        assert t.add_offsets("g", v) == INVALID_PRODUCER_ID_MAPPING
        assert t.end(True, v) == INVALID_PRODUCER_ID_MAPPING
        assert t.end(False, v) == INVALID_PRODUCER_ID_MAPPING
        # an empty transactional id is the coordinator's INVALID_REQUEST
        assert t.add([(topic, [0])], v, tid="") == [(topic, 0, INVALID_REQUEST)]
        assert t.add_offsets("g", v, tid="") == INVALID_REQUEST
        assert t.end(True, v, tid="") == INVALID_REQUEST
        # nothing was created for the id
        (d,) = describe(module_broker.port, [t.tid])
        assert d["error"] == TRANSACTIONAL_ID_NOT_FOUND
    finally:
        t.close()


@pytest.mark.parametrize("v", range(4))
def test_wrong_producer_id_and_stale_epoch(module_broker, topic_name, v):
    topic = topic_name()
    module_broker.create_topic(topic)
    t = Txn(module_broker.port, topic_name("tx"))
    try:
        pid, e0 = t.init_ok()
        assert e0 == 0
        pid1, e1 = t.init_ok()         # a new instance: same id, next epoch
        assert (pid1, e1) == (pid, 1)
        fenced = PRODUCER_FENCED if v >= 2 else INVALID_PRODUCER_EPOCH
        assert t.add([(topic, [0])], v, pid=pid + 1) == [(topic, 0, INVALID_PRODUCER_ID_MAPPING)]
        assert t.add([(topic, [0])], v, epoch=0) == [(topic, 0, fenced)]
        assert t.add_offsets("g", v, pid=pid + 1) == INVALID_PRODUCER_ID_MAPPING
        assert t.add_offsets("g", v, epoch=0) == fenced
        assert t.end(True, v, pid=pid + 1) == INVALID_PRODUCER_ID_MAPPING
        assert t.end(False, v, epoch=0) == fenced
        (d,) = describe(module_broker.port, [t.tid])
        assert (d["error"], d["state"], d["epoch"], d["topics"]) == (NONE, "Empty", 1, {})
    finally:
        t.close()


@pytest.mark.parametrize("v", [3, 4])
def test_init_producer_id_with_a_foreign_epoch(module_broker, topic_name, v):
    t = Txn(module_broker.port, topic_name("tx"))
    try:
        pid, _ = t.init_ok()
        # neither the current nor the previous (pid, epoch): fenced, by version
        res = t.init(v, pid=pid + 1000, epoch=5)
        want = PRODUCER_FENCED if v >= 4 else INVALID_PRODUCER_EPOCH
        assert res == (0, want, -1, -1), res
        # the current pair: an epoch bump (KIP-360)
        assert t.init(v, pid=pid, epoch=0) == (0, NONE, pid, 1)
    finally:
        t.close()


def test_timeout_over_max(broker_factory, topic_name):
    b = broker_factory({"transaction.max.timeout.ms": 5000})
    t = Txn(b.port, topic_name("tx"))
    try:
        for v in range(5):
            assert t.init(v, timeout_ms=5001) == (0, INVALID_TRANSACTION_TIMEOUT, -1, -1)
        assert t.init(4, timeout_ms=5000)[1] == NONE
    finally:
        t.close()


@pytest.mark.parametrize("v", range(4))
def test_end_txn_states(module_broker, topic_name, v):
    topic = topic_name()
    module_broker.create_topic(topic)
    t = Txn(module_broker.port, topic_name("tx"))
    try:
        t.init_ok()
        # nothing begun: both outcomes are refused (Kafka 3.9's
        # TransactionCoordinator.endTransaction, `case Empty`)
        assert t.end(True, v) == INVALID_TXN_STATE
        assert t.end(False, v) == INVALID_TXN_STATE
        assert t.add([(topic, [0])], v) == [(topic, 0, NONE)]
        assert t.end(False, v) == NONE
        wait_for(lambda: describe(module_broker.port, [t.tid])[0]["state"] == "CompleteAbort",
                 "CompleteAbort")
        assert t.end(False, v) == NONE                  # a retry of a completed abort
        assert t.end(True, v) == INVALID_TXN_STATE      # commit after abort
    finally:
        t.close()


@pytest.mark.parametrize("v", range(4))
def test_add_partitions_unknown(module_broker, topic_name, v):
    topic = topic_name()
    module_broker.create_topic(topic, partitions=2)
    t = Txn(module_broker.port, topic_name("tx"))
    try:
        t.init_ok()
        missing = topic_name("missing")
        got = t.add([(topic, [0, 1, 2, -1]), (missing, [0])], v)
        assert got == [(topic, 0, OPERATION_NOT_ATTEMPTED), (topic, 1, OPERATION_NOT_ATTEMPTED),
                       (topic, 2, UNKNOWN_TOPIC_OR_PARTITION),
                       (topic, -1, UNKNOWN_TOPIC_OR_PARTITION),
                       (missing, 0, UNKNOWN_TOPIC_OR_PARTITION)]
        # the coordinators' topics are refused (offsets go through AddOffsetsToTxn)
        assert t.add_offsets("some-group", v) == NONE  # also creates __consumer_offsets
        got = t.add([(topic, [1]), ("__consumer_offsets", [0])], v)
        assert got == [(topic, 1, OPERATION_NOT_ATTEMPTED),
                       ("__consumer_offsets", 0, TOPIC_AUTHORIZATION_FAILED)]
        (d,) = describe(module_broker.port, [t.tid])
        assert list(d["topics"]) == ["__consumer_offsets"], d     # nothing else added
        # valid ones are added; a partition named twice is answered twice
        got = t.add([(topic, [1, 0, 1])], v)
        assert got == [(topic, 1, NONE), (topic, 0, NONE), (topic, 1, NONE)]
        (d,) = describe(module_broker.port, [t.tid])
        assert d["topics"][topic] == [0, 1] and d["state"] == "Ongoing"
        assert t.end(False, v) == NONE
    finally:
        t.close()


def test_transactional_produce_needs_add_partitions(module_broker, topic_name):
    topic = topic_name()
    module_broker.create_topic(topic, partitions=2)
    port = module_broker.port
    t = Txn(port, topic_name("tx"))
    try:
        t.init_ok()
        assert t.add([(topic, [0])]) == [(topic, 0, NONE)]
        # partition 1 was not added: refused, nothing appended, LSO unchanged
        assert t.produce(topic, 1, [b"not-added"], 0)[0] == INVALID_TXN_STATE
        # a transactional batch without the request's TransactionalId
        assert t.produce(topic, 0, [b"no-tid"], 0, tid=False)[0] == \
            TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        assert t.produce(topic, 0, [b"a", b"b", b"c"], 0) == (NONE, 0)
        assert offsets(port, topic, [0, 1], False) == {0: 3, 1: 0}
        assert offsets(port, topic, [0, 1], True) == {0: 0, 1: 0}     # LSO: txn open
        assert fetch_values(port, topic, 1) == []
        assert t.end(True) == NONE
        # the COMMIT marker is offset 3; the LSO reaches the end once it is there
        wait_for(lambda: offsets(port, topic, [0], True) == {0: 4}, "LSO 4")
        assert offsets(port, topic, [0, 1], False) == {0: 4, 1: 0}
        # after the commit, partition 0 is no longer in a transaction either
        assert t.produce(topic, 0, [b"late"], 3)[0] == INVALID_TXN_STATE
        assert t.produce(topic, 1, [b"late"], 0)[0] == INVALID_TXN_STATE
        assert offsets(port, topic, [0, 1], False) == {0: 4, 1: 0}
        assert offsets(port, topic, [0, 1], True) == {0: 4, 1: 0}
        assert [v for _, v in fetch_values(port, topic, 0)] == [b"a", b"b", b"c"]
    finally:
        t.close()


def test_control_batch_from_client_refused(module_broker, topic_name):
    topic = topic_name()
    module_broker.create_topic(topic)
    port = module_broker.port
    t = Txn(port, topic_name("tx"))
    try:
        t.init_ok()
        assert t.add([(topic, [0])]) == [(topic, 0, NONE)]
        assert t.produce(topic, 0, [b"x"], 0) == (NONE, 0)
        before = (offsets(port, topic, [0], False), offsets(port, topic, [0], True))
        # a COMMIT marker: key {version 0, type 1}, value {version 0, coordinator epoch 0}
        marker = dict(keys=[b"\x00\x00\x00\x01"], attributes=TXN_BIT | CONTROL_BIT)
        assert t.produce(topic, 0, [b"\x00\x00\x00\x00\x00\x00"], 1, **marker)[0] == INVALID_RECORD
        assert t.produce(topic, 0, [b"\x00\x00\x00\x00\x00\x00"], -1, tid=False,
                         keys=[b"\x00\x00\x00\x00"], attributes=CONTROL_BIT)[0] == INVALID_RECORD
        assert (offsets(port, topic, [0], False), offsets(port, topic, [0], True)) == before
        assert before == ({0: 1}, {0: 0})
        # the transaction still works: the next batch, then a real abort
        assert t.produce(topic, 0, [b"y"], 1) == (NONE, 1)
        assert t.end(False) == NONE
        wait_for(lambda: offsets(port, topic, [0], True) == {0: 3}, "LSO 3")
        assert [v for _, v in fetch_values(port, topic, 0)] == [b"x", b"y"]
    finally:
        t.close()


@pytest.mark.parametrize("v", [1, 3])
def test_fencing_by_a_second_instance(module_broker, topic_name, v):
    topic = topic_name()
    module_broker.create_topic(topic)
    port = module_broker.port
    name = topic_name("tx")
    a, b = Txn(port, name), Txn(port, name)
    try:
        pid, e0 = a.init_ok()
        assert a.add([(topic, [0])], v) == [(topic, 0, NONE)]
        assert a.produce(topic, 0, [b"from-a"], 0) == (NONE, 0)
        # b's first InitProducerId finds a's transaction open: it is aborted
        # with a bumped epoch, and b is told to retry meanwhile
        assert b.init()[1] == CONCURRENT_TRANSACTIONS
        pid_b, e_b = b.init_ok()
        assert pid_b == pid and e_b >= e0 + 2, (pid, e0, pid_b, e_b)
        fenced = PRODUCER_FENCED if v >= 2 else INVALID_PRODUCER_EPOCH
        assert a.end(True, v) == fenced
        assert a.add([(topic, [0])], v) == [(topic, 0, fenced)]
        # a's record was aborted: the LSO passed it and the marker
        wait_for(lambda: offsets(port, topic, [0], True) == {0: 2}, "LSO 2")
        assert a.produce(topic, 0, [b"zombie"], 1)[0] in (INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE)
        assert offsets(port, topic, [0], False) == {0: 2}
        (d,) = describe(port, [name])
        assert (d["error"], d["state"], d["pid"], d["epoch"]) == (NONE, "Empty", pid, e_b)
        # b works normally
        assert b.add([(topic, [0])], v) == [(topic, 0, NONE)]
        assert b.end(True, v) == NONE
    finally:
        a.close()
        b.close()


def test_requests_wait_for_the_previous_transaction(module_broker, topic_name):
    """Requests pipelined behind an EndTxn find the id busy (its
    PREPARE_COMMIT write, then the markers): the coordinator holds them and
    answers once the commit is complete (coord_txn.c, "parked"), with the
    real outcome, instead of CONCURRENT_TRANSACTIONS. Only InitProducerId
    still answers CONCURRENT_TRANSACTIONS: it fences the next transaction
    and aborts it first."""
    topic = topic_name()
    module_broker.create_topic(topic, partitions=8)
    port = module_broker.port
    t = Txn(port, topic_name("tx"))
    try:
        t.init_ok()
        assert all(e == NONE for *_, e in t.add([(topic, range(8))]))
        for p in range(8):
            assert t.produce(topic, p, [b"v"], 0)[0] == NONE
        # (this also makes sure __consumer_offsets exists: creating it would
        # hold the pipelined AddOffsetsToTxn below on the loop)
        assert t.add_offsets("g") == NONE
        v = 3
        reqs = [(API_END_TXN, end_txn_body(v, t.tid, t.pid, t.epoch, True)),
                (API_END_TXN, end_txn_body(v, t.tid, t.pid, t.epoch, True)),
                (API_ADD_PARTITIONS, add_partitions_body(v, t.tid, t.pid, t.epoch, [(topic, [0])])),
                (API_ADD_OFFSETS, add_offsets_body(v, t.tid, t.pid, t.epoch, "g")),
                (API_INIT_PRODUCER_ID, kwire.init_producer_id(4, t.tid, 60000))]
        corrs = [next(_corr) for _ in reqs]
        t.conn.send(b"".join(kwire.request_frame(k, 4 if k == API_INIT_PRODUCER_ID else v, c, body,
                                                 flexible=True)
                             for (k, body), c in zip(reqs, corrs)))
        answers = []
        for c in corrs:
            resp = t.conn.recv_frame()
            r = Reader(resp)
            assert r.i32() == c
            r.skip_tags()
            answers.append(r.rest())
        assert parse_code(answers[0], v) == NONE
        # the retry of the commit waits for it to complete: NONE, not CONCURRENT
        assert parse_code(answers[1], v) == NONE
        # the next transaction starts once the commit is complete
        assert parse_add_partitions(answers[2], v) == [(topic, 0, NONE)]
        assert parse_code(answers[3], v) == NONE
        # a new instance fences that transaction: it is aborted first
        assert kwire.parse_init_producer_id(answers[4], 4) == (0, CONCURRENT_TRANSACTIONS, -1, -1)
        # the commit's markers at offset 1 everywhere; the fenced transaction's
        # ABORT marker at 2 in partition 0, the only one it added
        want = {p: 2 for p in range(8)}
        want[0] = 3
        wait_for(lambda: offsets(port, topic, range(8), True) == want, "LSOs past the markers")
        wait_for(lambda: describe(port, [t.tid])[0]["state"] == "CompleteAbort", "CompleteAbort")
        assert t.end(True, v) == PRODUCER_FENCED   # the old epoch is fenced
    finally:
        t.close()


def test_describe_transactions(module_broker, topic_name):
    port = module_broker.port
    ta, tb = topic_name("a"), topic_name("b")
    module_broker.create_topic(ta, partitions=3)
    module_broker.create_topic(tb)
    t = Txn(port, topic_name("tx"))
    group = "describe-group"
    try:
        t.init_ok(timeout_ms=45000)
        before = int(time.time() * 1000)
        assert t.add([(tb, [0]), (ta, [2, 0])]) == [(tb, 0, NONE), (ta, 2, NONE), (ta, 0, NONE)]
        after = int(time.time() * 1000)
        assert t.add_offsets(group) == NONE
        unknown = topic_name("unknown-id")
        got = describe(port, [t.tid, unknown, "", t.tid])
        assert [d["tid"] for d in got] == [t.tid, unknown, "", t.tid]
        d = got[0]
        assert (d["error"], d["state"], d["timeout_ms"], d["pid"], d["epoch"]) == \
            (NONE, "Ongoing", 45000, t.pid, t.epoch)
        assert before - 1000 <= d["start_ms"] <= after + 1000, (before, d["start_ms"], after)
        nparts = len(module_broker.admin().list_topics("__consumer_offsets", timeout=10)
                     .topics["__consumer_offsets"].partitions)
        assert d["topics"] == {ta: [0, 2], tb: [0],
                               "__consumer_offsets": [java_partition_for(group, nparts)]}
        assert got[3] == d
        for e, code in ((got[1], TRANSACTIONAL_ID_NOT_FOUND), (got[2], INVALID_REQUEST)):
            assert (e["error"], e["state"], e["pid"], e["topics"]) == (code, "", 0, {}), e
        assert describe(port, []) == []
        assert t.end(True) == NONE
        d = wait_for(lambda: [x for x in describe(port, [t.tid]) if x["state"] == "CompleteCommit"],
                     "CompleteCommit")[0]
        assert d["topics"] == {}
    finally:
        t.close()


@pytest.mark.parametrize("v", [0, 1])
def test_list_transactions(module_broker, topic_name, v):
    port = module_broker.port
    topic = topic_name()
    module_broker.create_topic(topic)
    a, b = Txn(port, topic_name("a")), Txn(port, topic_name("b"))
    try:
        a.init_ok()
        b.init_ok()
        assert a.add([(topic, [0])]) == [(topic, 0, NONE)]
        err, unknown, found = list_txns(port, v)
        assert (err, unknown) == (NONE, [])
        assert found[a.tid] == (a.pid, "Ongoing") and found[b.tid] == (b.pid, "Empty")
        # states
        err, unknown, found = list_txns(port, v, states=["Ongoing"])
        assert a.tid in found and b.tid not in found
        assert all(st == "Ongoing" for _, st in found.values())
        err, unknown, found = list_txns(port, v, states=["Bogus", "Empty", "Bogus", "nope"])
        assert err == NONE and sorted(unknown) == ["Bogus", "nope"]
        assert b.tid in found and a.tid not in found
        err, unknown, found = list_txns(port, v, states=["Bogus"])
        assert (err, unknown, found) == (NONE, ["Bogus"], {})
        # producer ids
        err, _, found = list_txns(port, v, pids=[b.pid, 999999999])
        assert list(found) == [b.tid]
        err, _, found = list_txns(port, v, pids=[a.pid, b.pid], states=["Empty"])
        assert list(found) == [b.tid]
        if v >= 1:
            # DurationFilter (KIP-994): running longer than the filter
            _, _, found = list_txns(port, v, duration_ms=3_600_000, pids=[a.pid, b.pid])
            assert a.tid not in found         # started just now
            wait_for(lambda: a.tid in list_txns(port, v, duration_ms=0, pids=[a.pid])[2],
                     "ongoing for more than 0 ms")
            _, _, found = list_txns(port, v, duration_ms=-5, pids=[a.pid])
            assert a.tid in found
        assert a.end(False) == NONE
    finally:
        a.close()
        b.close()


def test_huge_add_partitions(module_broker, topic_name):
    port = module_broker.port
    topic = topic_name()
    module_broker.create_topic(topic, partitions=64)
    t = Txn(port, topic_name("tx"))
    try:
        t.init_ok()
        many = [i % 64 for i in range(5000)]
        got = t.add([(topic, many)])
        assert got == [(topic, p, NONE) for p in many]
        (d,) = describe(port, [t.tid])
        assert d["topics"] == {topic: list(range(64))}
        # 20000 entries over 100 topic entries, one partition unknown:
        # nothing added, every other entry OPERATION_NOT_ATTEMPTED
        topics = [(topic, [i % 64 for i in range(200)]) for _ in range(100)]
        topics[57] = (topic, topics[57][1][:199] + [64])
        got = t.add(topics)
        assert len(got) == 20000
        assert [e for *_, e in got].count(UNKNOWN_TOPIC_OR_PARTITION) == 1
        assert got[57 * 200 + 199] == (topic, 64, UNKNOWN_TOPIC_OR_PARTITION)
        assert [e for *_, e in got].count(OPERATION_NOT_ATTEMPTED) == 19999
        assert describe(port, [t.tid])[0]["topics"] == {topic: list(range(64))}
        assert t.end(False) == NONE
        wait_for(lambda: offsets(port, topic, range(64), True) == {p: 1 for p in range(64)},
                 "every marker")
    finally:
        t.close()


def test_find_coordinator_transaction(broker_factory, topic_name):
    b = broker_factory()
    with Conn(b.port) as c:
        for v in range(1, 5):
            flexible = kwire.group_api_flexible(API_FIND_COORDINATOR, v)
            body = c.request(API_FIND_COORDINATOR, v,
                             kwire.find_coordinator_body(v, topic_name("tx"), key_type=1),
                             corr=next(_corr), flexible=flexible)
            (d,) = kwire.parse_find_coordinator(body, v)
            assert (d["error_code"], d["port"]) == (NONE, b.port), d
    md = b.admin().list_topics(timeout=10)
    assert "__transaction_state" in md.topics
    assert "created __transaction_state with 50 partitions" in b.log_text()
