"""Reading around transactions over raw sockets (issue 4 part 2): a
transaction driven by hand — FindCoordinator KeyType 1, InitProducerId with
a transactional id, AddPartitionsToTxn, transactional Produce v3 batches,
EndTxn — and what readers see (Fetch v4 with IsolationLevel, ListOffsets
v2):

  - while a transaction is open the last stable offset (LSO) stays at its
    first offset, for both isolation levels' answers; read_committed gets
    no batch at or past it (plain data appended after it included) and an
    empty (not null) AbortedTransactions list; read_uncommitted gets
    everything and a null list;
  - ListOffsets read_committed LATEST answers the LSO, read_uncommitted the
    high watermark; a time lookup under read_committed finds only offsets
    below the LSO (Kafka's rule), else -1;
  - after COMMIT the LSO is the log end and read_committed reads every
    record; after ABORT the answer lists (ProducerId, FirstOffset) of the
    aborted transaction for fetches that reach into it, and nothing for
    fetches after its marker; two interleaved transactions keep the LSO at
    the older one's start until it ends;
  - the LSO (at the log end) and the aborted list survive SIGKILL and
    restart;
  - a read_committed fetch parked at the LSO is not woken by more
    uncommitted data, and is answered at once when the commit marker makes
    the data stable;
  - a Produce holding a transactional batch but a null TransactionalId is
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition (acks=0: the
    connection is closed), nothing appended.
"""

import itertools
import select
import time

import harness
import kwire
from kwire import Conn, Reader, Writer

NONE = 0
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
CONCURRENT_TRANSACTIONS = 51
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
RETRIABLE = {COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
             CONCURRENT_TRANSACTIONS}

API_ADD_PARTITIONS, API_END_TXN = 24, 26
TXN_BIT, CONTROL_BIT = 0x10, 0x20
READ_UNCOMMITTED, READ_COMMITTED = 0, 1

_corr = itertools.count(1)


# ---------------------------------------------------------------- encoders
# Non-flexible versions; field layouts from Kafka 3.9's message schemas.

def fetch_v4_body(topic, partition, offset, isolation, max_wait_ms=0, min_bytes=0,
                  max_bytes=1 << 20):
    w = Writer().i32(-1).i32(max_wait_ms).i32(min_bytes).i32(max_bytes).i8(isolation)
    w.array([topic], lambda w, t: w.string(t).array(
        [partition], lambda w, p: w.i32(p).i64(offset).i32(max_bytes)))
    return w.bytes()


def parse_fetch_v4_full(body):
    """-> dict(err, hw, lso, aborted ([(pid, first)] or None), batches)."""
    r = Reader(body)
    r.i32()  # throttle
    out = []

    def part(r):
        d = dict(index=r.i32(), err=r.i16(), hw=r.i64(), lso=r.i64())
        n = r.i32()
        d["aborted"] = None if n < 0 else [(r.i64(), r.i64()) for _ in range(n)]
        d["batches"] = kwire.parse_batches(r.bytes32() or b"")
        out.append(d)

    r.array(lambda r: (r.string(), r.array(part)))
    r.done()
    assert len(out) == 1
    return out[0]


def list_offsets_v2_body(topic, partition, timestamp, isolation):
    w = Writer().i32(-1).i8(isolation)
    w.array([topic], lambda w, t: w.string(t).array(
        [partition], lambda w, p: w.i32(p).i64(timestamp)))
    return w.bytes()


def parse_list_offsets_v2(body):
    """-> (err, timestamp, offset) of the one partition."""
    r = Reader(body)
    r.i32()  # throttle
    out = []
    r.array(lambda r: (r.string(), r.array(
        lambda r: out.append((r.i32(), r.i16(), r.i64(), r.i64())))))
    r.done()
    assert len(out) == 1
    return out[0][1:]


def add_partitions_v1_body(tid, pid, epoch, topic, partitions):
    w = Writer().string(tid).i64(pid).i16(epoch)
    w.array([topic], lambda w, t: w.string(t).array(list(partitions), lambda w, p: w.i32(p)))
    return w.bytes()


def parse_add_partitions_v1(body):
    r = Reader(body)
    r.i32()
    out = []
    r.array(lambda r: (r.string(), r.array(lambda r: out.append((r.i32(), r.i16())))))
    r.done()
    return out


def end_txn_v1_body(tid, pid, epoch, commit):
    return Writer().string(tid).i64(pid).i16(epoch).i8(1 if commit else 0).bytes()


# ---------------------------------------------------------------- clients

def request(conn, key, version, body, flexible=False):
    return conn.request(key, version, body, corr=next(_corr), flexible=flexible)


def fetch(b, topic, offset, isolation, **kw):
    with Conn(b.port, timeout=harness.scaled(10)) as c:
        return parse_fetch_v4_full(request(c, kwire.API_FETCH, 4,
                                           fetch_v4_body(topic, 0, offset, isolation, **kw)))


def list_offset(b, topic, timestamp, isolation):
    with Conn(b.port, timeout=harness.scaled(10)) as c:
        return parse_list_offsets_v2(request(c, kwire.API_LIST_OFFSETS, 2,
                                             list_offsets_v2_body(topic, 0, timestamp, isolation)))


def data_records(d):
    """The data records of a fetch answer: [(offset, value)]; control
    batches apart."""
    return [(o, v) for bt in d["batches"] if not bt["attributes"] & CONTROL_BIT
            for (o, _k, v, _ts) in bt["records"]]


def produce_plain(b, topic, values):
    with Conn(b.port, timeout=harness.scaled(10)) as c:
        body = kwire.produce_v3(topic, {0: kwire.build_batch(values)})
        (err, base), = kwire.parse_produce_v3(request(c, kwire.API_PRODUCE, 3, body)).values()
    assert err == NONE
    return base


class TxnProducer:
    """A transactional producer on one connection, step by step."""

    def __init__(self, b, tid):
        self.b, self.tid = b, tid
        self.conn = Conn(b.port, timeout=harness.scaled(10))
        self.pid = self.epoch = -1
        self.seq = 0

    def close(self):
        self.conn.close()

    def _retry(self, fn):
        """fn() -> (err, result) until err is not retriable."""
        deadline = time.monotonic() + harness.scaled(20)
        while True:
            err, res = fn()
            if err not in RETRIABLE or time.monotonic() > deadline:
                return err, res
            time.sleep(0.05)

    def init(self):
        def find():
            body = kwire.find_coordinator_body(1, self.tid, key_type=1)
            d, = kwire.parse_find_coordinator(
                request(self.conn, kwire.API_FIND_COORDINATOR, 1, body), 1)
            return d["error_code"], d
        err, d = self._retry(find)
        assert err == NONE and d["port"] == self.b.port, d

        def init_pid():
            body = kwire.init_producer_id(1, transactional_id=self.tid, timeout_ms=60000)
            _, e, pid, epoch = kwire.parse_init_producer_id(
                request(self.conn, kwire.API_INIT_PRODUCER_ID, 1, body), 1)
            return e, (pid, epoch)
        err, (self.pid, self.epoch) = self._retry(init_pid)
        assert err == NONE and self.pid >= 0 and self.epoch >= 0
        self.seq = 0

    def add(self, topic):
        def add_part():
            body = add_partitions_v1_body(self.tid, self.pid, self.epoch, topic, [0])
            (p, e), = parse_add_partitions_v1(request(self.conn, API_ADD_PARTITIONS, 1, body))
            return e, p
        err, _ = self._retry(add_part)
        assert err == NONE, err

    def produce(self, topic, values, base_ts=None):
        """One transactional batch; returns its base offset."""
        batch = kwire.build_batch(values, producer_id=self.pid, producer_epoch=self.epoch,
                                  base_sequence=self.seq, attributes=TXN_BIT, base_ts=base_ts)
        body = kwire.produce_v3(topic, {0: batch}, transactional_id=self.tid)
        (err, base), = kwire.parse_produce_v3(
            request(self.conn, kwire.API_PRODUCE, 3, body)).values()
        assert err == NONE, err
        self.seq += len(values)
        return base

    def end(self, commit):
        def end_txn():
            body = end_txn_v1_body(self.tid, self.pid, self.epoch, commit)
            r = Reader(request(self.conn, API_END_TXN, 1, body))
            r.i32()
            e = r.i16()
            r.done()
            return e, None
        err, _ = self._retry(end_txn)
        assert err == NONE, err


def wait_stable(b, topic):
    """Polls until the LSO reaches the high watermark (the markers of an
    ended transaction are written); returns the last fetch answer."""
    deadline = time.monotonic() + harness.scaled(10)
    while True:
        d = fetch(b, topic, 0, READ_COMMITTED)
        if d["lso"] == d["hw"] or time.monotonic() > deadline:
            assert d["lso"] == d["hw"], d
            return d
        time.sleep(0.02)


def values(tag, n):
    return [f"{tag}-{i}".encode() for i in range(n)]


# ---------------------------------------------------------------- tests

def test_open_transaction_holds_the_lso(broker, topic_name):
    b = broker
    topic = topic_name()
    b.create_topic(topic, partitions=1)
    produce_plain(b, topic, values("p", 3))                   # 0..2
    t = TxnProducer(b, "tx-open-" + topic)
    try:
        t.init()
        t.add(topic)
        ts = int(time.time() * 1000) + 60000                 # a time only the txn has
        first = t.produce(topic, values("a", 2), base_ts=ts)  # 3..4
        assert first == 3
        t.produce(topic, values("b", 3), base_ts=ts)          # 5..7
        produce_plain(b, topic, values("q", 2))               # 8..9: plain, after the txn

        rc = fetch(b, topic, 0, READ_COMMITTED)
        assert (rc["err"], rc["hw"], rc["lso"], rc["aborted"]) == (NONE, 10, 3, [])
        assert data_records(rc) == list(zip(range(3), values("p", 3)))
        ru = fetch(b, topic, 0, READ_UNCOMMITTED)
        assert (ru["err"], ru["hw"], ru["lso"], ru["aborted"]) == (NONE, 10, 3, None)
        assert [v for _, v in data_records(ru)] == (values("p", 3) + values("a", 2) +
                                                    values("b", 3) + values("q", 2))
        assert [bt["attributes"] & TXN_BIT for bt in ru["batches"]] == [0, TXN_BIT, TXN_BIT, 0]
        # At the LSO and past it: nothing for read_committed, no error.
        for off in (3, 5, 9, 10):
            d = fetch(b, topic, off, READ_COMMITTED)
            assert (d["err"], d["lso"], d["batches"]) == (NONE, 3, []), off

        assert list_offset(b, topic, -1, READ_COMMITTED) == (NONE, -1, 3)
        assert list_offset(b, topic, -1, READ_UNCOMMITTED) == (NONE, -1, 10)
        assert list_offset(b, topic, -2, READ_COMMITTED) == (NONE, -1, 0)
        assert list_offset(b, topic, ts, READ_UNCOMMITTED) == (NONE, ts, 3)
        assert list_offset(b, topic, ts, READ_COMMITTED) == (NONE, -1, -1)
        assert list_offset(b, topic, 0, READ_COMMITTED)[2] == 0

        t.end(commit=True)
        d = wait_stable(b, topic)
        assert (d["hw"], d["lso"], d["aborted"]) == (11, 11, [])
        assert [v for _, v in data_records(d)] == (values("p", 3) + values("a", 2) +
                                                   values("b", 3) + values("q", 2))
        ctl = [bt for bt in d["batches"] if bt["attributes"] & CONTROL_BIT]
        assert [(bt["base_offset"], bt["records"][0][1]) for bt in ctl] == [(10, b"\0\0\0\1")]
        assert list_offset(b, topic, -1, READ_COMMITTED) == (NONE, -1, 11)
        assert list_offset(b, topic, ts, READ_COMMITTED) == (NONE, ts, 3)
    finally:
        t.close()


def test_aborted_transactions_are_listed(broker, topic_name):
    b = broker
    topic = topic_name()
    b.create_topic(topic, partitions=1)
    t1 = TxnProducer(b, "tx-one-" + topic)
    t2 = TxnProducer(b, "tx-two-" + topic)
    try:
        for t in (t1, t2):
            t.init()
        produce_plain(b, topic, values("p", 2))              # 0..1
        t1.add(topic)
        t1.produce(topic, values("x", 3))                    # 2..4 (aborted below)
        t2.add(topic)
        t2.produce(topic, values("y", 2))                    # 5..6 (committed below)
        t1.produce(topic, values("x2", 2))                   # 7..8
        t2.end(commit=True)                                  # marker 9
        deadline = time.monotonic() + harness.scaled(10)
        while fetch(b, topic, 0, READ_UNCOMMITTED)["hw"] < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        d = fetch(b, topic, 0, READ_COMMITTED)
        assert (d["hw"], d["lso"]) == (10, 2)               # t1 still holds it
        assert data_records(d) == [(0, b"p-0"), (1, b"p-1")]
        t1.end(commit=False)                                 # marker 10
        d = wait_stable(b, topic)
        assert (d["hw"], d["lso"]) == (11, 11)
        assert d["aborted"] == [(t1.pid, 2)]
        # The client filters: committed y and plain p are what a consumer
        # keeps; every record is still in the answer.
        assert [v for _, v in data_records(d)] == (values("p", 2) + values("x", 3) +
                                                   values("y", 2) + values("x2", 2))
        markers = [(bt["base_offset"], bt["records"][0][1]) for bt in d["batches"]
                   if bt["attributes"] & CONTROL_BIT]
        assert markers == [(9, b"\0\0\0\1"), (10, b"\0\0\0\0")]
        # From inside the aborted transaction: still listed; after its
        # marker: not; read_uncommitted: null.
        assert fetch(b, topic, 7, READ_COMMITTED)["aborted"] == [(t1.pid, 2)]
        assert fetch(b, topic, 10, READ_COMMITTED)["aborted"] == [(t1.pid, 2)]
        assert fetch(b, topic, 11, READ_COMMITTED)["aborted"] == []
        assert fetch(b, topic, 0, READ_UNCOMMITTED)["aborted"] is None

        # A committed transaction after it adds nothing to the list.
        t2.add(topic)
        t2.produce(topic, values("z", 1))                    # 11
        t2.end(commit=True)                                  # marker 12
        d = wait_stable(b, topic)
        assert (d["lso"], d["aborted"]) == (13, [(t1.pid, 2)])
        before = [(x["err"], x["aborted"], data_records(x)) for x in
                  (fetch(b, topic, o, READ_COMMITTED) for o in (0, 5, 11))]
    finally:
        t1.close()
        t2.close()
    # Both survive a SIGKILL and the recovery after it. (The coordinator may
    # find t2's last commit not yet marked complete and write its markers
    # again, as Kafka does: a second COMMIT marker, which changes nothing.)
    b.kill9()
    b.start()
    d = wait_stable(b, topic)
    assert d["hw"] in (13, 14)
    after = [(x["err"], x["aborted"], data_records(x)) for x in
             (fetch(b, topic, o, READ_COMMITTED) for o in (0, 5, 11))]
    assert after == before


def test_parked_read_committed_fetch_wakes_on_commit(broker, topic_name):
    b = broker
    topic = topic_name()
    b.create_topic(topic, partitions=1)
    t = TxnProducer(b, "tx-poll-" + topic)
    conn = Conn(b.port, timeout=harness.scaled(30))
    try:
        t.init()
        t.add(topic)
        t.produce(topic, values("w", 2))                     # 0..1
        wait_ms = int(harness.scaled(20) * 1000)
        corr = next(_corr)
        conn.send(kwire.request_frame(kwire.API_FETCH, 4, corr, fetch_v4_body(
            topic, 0, 0, READ_COMMITTED, max_wait_ms=wait_ms, min_bytes=1)))

        def answered(timeout):
            return bool(select.select([conn.s], [], [], timeout)[0])

        # Parked: neither the wait so far nor more uncommitted data (which
        # moves the high watermark, not the LSO) answers it.
        assert not answered(0.3)
        t.produce(topic, values("w2", 2))                    # 2..3
        assert not answered(0.3)
        t0 = time.monotonic()
        t.end(commit=True)
        assert answered(harness.scaled(5)), "the commit did not wake the parked fetch"
        resp = conn.recv_frame()
        elapsed = time.monotonic() - t0
        assert int.from_bytes(resp[:4], "big", signed=True) == corr
        d = parse_fetch_v4_full(resp[4:])
        assert d["lso"] == d["hw"] == 5
        assert [v for _, v in data_records(d)] == values("w", 2) + values("w2", 2)
        assert elapsed < wait_ms / 2000
    finally:
        conn.close()
        t.close()


def test_transactional_batch_needs_a_transactional_id(broker, topic_name):
    b = broker
    topic = topic_name()
    b.create_topic(topic, partitions=2)
    txn = kwire.build_batch([b"t"], producer_id=1, producer_epoch=0, base_sequence=0,
                            attributes=TXN_BIT)
    plain = kwire.build_batch([b"p"])
    with Conn(b.port, timeout=harness.scaled(10)) as c:
        w = Writer().string(None).i16(-1).i32(10000)
        w.array([topic, "no-such-topic"], lambda w, t: w.string(t).array(
            [(0, plain), (1, txn)], lambda w, pr: w.i32(pr[0]).bytes32(pr[1])))
        got = kwire.parse_produce_v3(request(c, kwire.API_PRODUCE, 3, w.bytes()))
    assert got == {(t, p): (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1)
                   for t in (topic, "no-such-topic") for p in (0, 1)}
    # acks=0 has no answer to carry the error: the connection is closed.
    with Conn(b.port, timeout=harness.scaled(10)) as c:
        c.send(kwire.request_frame(kwire.API_PRODUCE, 3, next(_corr),
                                   kwire.produce_v3(topic, {1: txn}, acks=0)))
        closed, data = c.wait_closed(harness.scaled(5))
        assert closed and data == b""
    for p in (0, 1):
        with Conn(b.port, timeout=harness.scaled(10)) as c:
            r = kwire.parse_fetch_v4(request(c, kwire.API_FETCH, 4, kwire.fetch_v4(topic, p, 0)))
        assert r[(topic, p)][1] == 0, "nothing appended"
