"""Idempotent produce (issue 4 part 1) over raw sockets: the partition's
producer state as a client sees it, batch by batch (kwire.build_batch sets
ProducerId, ProducerEpoch and BaseSequence; Produce v3).

  - a retried batch (same producer, epoch and sequence range as one of its
    last 5) is answered NONE with the original base offset and is not
    appended again — with acks=1 and acks=all, across segment rolls;
  - a sequence gap or overlap: OUT_OF_ORDER_SEQUENCE_NUMBER; an older
    epoch: INVALID_PRODUCER_EPOCH; a newer epoch not starting at 0:
    OUT_OF_ORDER_SEQUENCE_NUMBER; a producer the partition does not know
    starting above 0: UNKNOWN_PRODUCER_ID; two batches in one idempotent
    record set, or a ProducerId without a sequence: INVALID_RECORD; a
    transactional batch in a Produce without TransactionalId:
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
  - after every refusal the partition's records and offsets are exactly
    those accepted (read back with Fetch);
  - duplicates are still found after a clean restart and after kill -9
    (snapshot files and the scan of the log).

No InitProducerId is needed: the broker checks every batch with a
ProducerId against the partition's state (Kafka does the same).
"""

import itertools

import pytest

import harness
import kwire
from kwire import Conn

NONE = 0
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
UNKNOWN_PRODUCER_ID = 59
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_RECORD = 87

TXN_BIT = 0x10

_corr = itertools.count(1)


# ---------------------------------------------------------------- helpers

class Partition:
    """Produces to partition 0 of a topic on one connection and keeps what
    was accepted: expected[(offset)] = value."""

    def __init__(self, b, topic):
        self.b = b
        self.topic = topic
        self.expected = {}
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = Conn(self.b.port, timeout=harness.scaled(10))
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, record_set, acks=-1):
        body = kwire.produce_v3(self.topic, {0: record_set}, acks=acks)
        resp = self._conn().request(kwire.API_PRODUCE, 3, body, corr=next(_corr))
        (err, base), = kwire.parse_produce_v3(resp).values()
        return err, base

    def batch(self, pid, epoch, seq, n=3, tag="", attributes=0, base_ts=None):
        values = [f"{self.topic}/{pid}/{epoch}/{seq + i}{tag}".encode() for i in range(n)]
        return values, kwire.build_batch(values, producer_id=pid, producer_epoch=epoch,
                                         base_sequence=seq, attributes=attributes,
                                         base_ts=base_ts)

    def new(self, pid, epoch, seq, n=3, acks=-1, base_ts=None):
        """A batch that must be appended at the log end."""
        values, b = self.batch(pid, epoch, seq, n, base_ts=base_ts)
        leo = self.leo()
        err, base = self.send(b, acks)
        assert (err, base) == (NONE, leo), f"pid {pid} epoch {epoch} seq {seq}"
        for i, v in enumerate(values):
            self.expected[base + i] = v
        return base

    def plain(self, n=2):
        values = [f"{self.topic}/plain/{len(self.expected) + i}".encode() for i in range(n)]
        leo = self.leo()
        err, base = self.send(kwire.build_batch(values))
        assert (err, base) == (NONE, leo)
        for i, v in enumerate(values):
            self.expected[base + i] = v
        return base

    def dup(self, pid, epoch, seq, base, n=3, acks=-1):
        """A retry that must be answered with its original base offset."""
        _values, b = self.batch(pid, epoch, seq, n)
        leo = self.leo()
        assert self.send(b, acks) == (NONE, base), f"retry of pid {pid} seq {seq}"
        assert self.leo() == leo

    def refused(self, record_set, err):
        leo = self.leo()
        got, base = self.send(record_set)
        assert (got, base) == (err, -1)
        assert self.leo() == leo

    def leo(self):
        return max(self.expected) + 1 if self.expected else 0

    def fetch_all(self):
        """Every record of the partition, as {offset: value}; checks the
        high watermark is the expected log end."""
        got, offset = {}, 0
        with Conn(self.b.port, timeout=harness.scaled(10)) as c:
            while True:
                resp = c.request(kwire.API_FETCH, 4, kwire.fetch_v4(self.topic, 0, offset),
                                 corr=next(_corr))
                (err, hw, records), = kwire.parse_fetch_v4(resp).values()
                assert err == NONE
                assert hw == self.leo()
                batches = kwire.parse_batches(records)
                for bt in batches:
                    for off, _key, val, _ts in bt["records"]:
                        got[off] = val
                if not batches or batches[-1]["last_offset"] + 1 >= hw:
                    return got
                offset = batches[-1]["last_offset"] + 1

    def check_log(self):
        assert self.fetch_all() == self.expected


@pytest.fixture
def part(module_broker, topic_name):
    parts = []

    def make(suffix="t", config=None, b=None):
        b = b or module_broker
        name = topic_name(suffix)
        b.create_topic(name, config=config)
        p = Partition(b, name)
        parts.append(p)
        return p

    yield make
    for p in parts:
        p.close()


# ---------------------------------------------------------------- duplicates

def test_retry_answers_the_original_offset_and_appends_nothing(part):
    p = part()
    p.plain()
    a = p.new(1000, 0, 0)
    p.plain()
    b = p.new(1000, 0, 3, n=2)
    p.dup(1000, 0, 0, a)
    p.dup(1000, 0, 3, b, n=2)
    p.dup(1000, 0, 3, b, n=2, acks=1)
    # another producer in between does not disturb it
    c = p.new(1001, 5, 0)
    p.dup(1000, 0, 0, a)
    p.dup(1001, 5, 0, c)
    assert p.new(1000, 0, 5) == p.leo() - 3
    p.check_log()


def test_the_last_five_batches_are_retained_across_rolls(part):
    p = part(config={"segment.bytes": 300})
    bases = [p.new(2000, 1, 3 * i) for i in range(7)]
    for i in range(2, 7):
        p.dup(2000, 1, 3 * i, bases[i])
    # older than the last five: no longer recognised
    p.refused(p.batch(2000, 1, 0)[1], OUT_OF_ORDER_SEQUENCE_NUMBER)
    p.refused(p.batch(2000, 1, 3)[1], OUT_OF_ORDER_SEQUENCE_NUMBER)
    p.check_log()
    d = p.b.data_dir / f"{p.topic}-0"
    assert len(list(d.glob("*.log"))) >= 4


# ---------------------------------------------------------------- refusals

def test_sequence_and_epoch_errors_leave_the_log_untouched(part):
    p = part()
    p.new(3000, 2, 0)                 # seq 0..2
    p.plain()
    for pid, epoch, seq, err in [
        (3000, 2, 5, OUT_OF_ORDER_SEQUENCE_NUMBER),    # gap
        (3000, 2, 2, OUT_OF_ORDER_SEQUENCE_NUMBER),    # overlap
        (3000, 1, 3, INVALID_PRODUCER_EPOCH),          # stale epoch
        (3000, 3, 3, OUT_OF_ORDER_SEQUENCE_NUMBER),    # new epoch must restart at 0
        (3001, 0, 5, UNKNOWN_PRODUCER_ID),             # unknown producer, seq > 0
    ]:
        p.refused(p.batch(pid, epoch, seq)[1], err)
    p.check_log()
    # none of it moved the state: the right next batches still go in
    p.new(3000, 2, 3)
    p.new(3000, 3, 0)                 # a new epoch fences the old one
    p.refused(p.batch(3000, 2, 6)[1], INVALID_PRODUCER_EPOCH)
    p.new(3001, 0, 0)
    p.check_log()


def test_malformed_idempotent_record_sets_are_invalid_record(part):
    p = part()
    p.new(4000, 0, 0)
    one = p.batch(4000, 0, 3)[1]
    two = p.batch(4000, 0, 6)[1]
    plain = kwire.build_batch([b"x"])
    p.refused(one + two, INVALID_RECORD)
    p.refused(plain + one, INVALID_RECORD)
    p.refused(one + plain, INVALID_RECORD)
    p.refused(kwire.build_batch([b"y"], producer_id=4000, producer_epoch=0), INVALID_RECORD)
    p.check_log()
    p.new(4000, 0, 3)
    # several plain batches in one set are still fine
    leo = p.leo()
    assert p.send(kwire.build_batch([b"a"]) + kwire.build_batch([b"b"])) == (NONE, leo)
    p.expected[leo], p.expected[leo + 1] = b"a", b"b"
    p.check_log()


def test_transactional_batches_without_a_transactional_id_are_refused(part):
    # Kafka: a Produce holding transactional batches must name its
    # TransactionalId (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED); with
    # one, a partition the coordinator did not add is INVALID_TXN_STATE
    # (KIP-890, tests/fault/test_txn_wire.py).
    p = part()
    p.refused(p.batch(5000, 0, 0, attributes=TXN_BIT)[1], TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    p.refused(kwire.build_batch([b"t"], attributes=TXN_BIT), TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    p.new(5000, 0, 0)
    p.check_log()


# ---------------------------------------------------------------- restarts

@pytest.mark.parametrize("how", ["clean", "kill9"])
def test_duplicates_are_found_after_a_restart(broker_factory, topic_name, how):
    b = broker_factory()
    topic = topic_name(how)
    b.create_topic(topic, config={"segment.bytes": 400})
    p = Partition(b, topic)
    bases = []
    for i in range(7):
        bases.append(p.new(6000, 0, 3 * i))
        p.new(6001, 0, i, n=1)
        p.plain(1)
    p.close()
    if how == "clean":
        b.stop()
    else:
        b.kill9()
    b.start()
    harness.wait_for_topic(b.bootstrap, topic, 1)
    # the last five of each producer are found, with their offsets
    for i in range(2, 7):
        p.dup(6000, 0, 3 * i, bases[i])
    p.dup(6001, 0, 6, bases[6] + 3, n=1)
    p.refused(p.batch(6000, 0, 3)[1], OUT_OF_ORDER_SEQUENCE_NUMBER)
    p.refused(p.batch(6000, 0, 30)[1], OUT_OF_ORDER_SEQUENCE_NUMBER)
    p.new(6000, 0, 21)
    p.check_log()
    # and once more, with the state written at the last stop or rebuilt
    p.close()
    b.kill9()
    b.start()
    harness.wait_for_topic(b.bootstrap, topic, 1)
    p.dup(6000, 0, 21, p.leo() - 3)
    p.dup(6000, 0, 18, bases[6])
    p.check_log()
    p.close()
    snaps = list((b.data_dir / f"{topic}-0").glob("*.snapshot"))
    assert snaps, "no producer snapshot was written"


# ---------------------------------------------------------------- DescribeProducers

def describe_producers(b, topics):
    with Conn(b.port, timeout=harness.scaled(10)) as c:
        body = c.request(kwire.API_DESCRIBE_PRODUCERS, 0, kwire.describe_producers_body(topics),
                         corr=next(_corr), flexible=True)
    return kwire.parse_describe_producers(body)


def test_describe_producers_lists_the_partition_state(broker_factory, topic_name):
    """DescribeProducers v0 answers each partition's producers from its
    producer state: id, epoch, last sequence and the max timestamp of the
    last batch; -1 / -1 for the transaction fields; the same after SIGKILL
    (the state is rebuilt from snapshot and log)."""
    b = broker_factory()
    topic, idle = topic_name("dp"), topic_name("dp-idle")
    b.create_topic(topic)
    b.create_topic(idle)
    p = Partition(b, topic)
    p.new(7001, 2, 0, n=4, base_ts=1_700_000_000_000)
    p.new(7000, 0, 0, n=2, base_ts=1_700_000_001_000)
    p.new(7000, 0, 2, n=3, base_ts=1_700_000_002_000)
    p.plain()
    p.close()
    want = [(7000, 0, 4, 1_700_000_002_000, -1, -1), (7001, 2, 3, 1_700_000_000_000, -1, -1)]
    asked = [(topic, [0, 1]), (idle, [0]), ("no-such-topic-dp", [0])]
    for _ in range(2):
        got = describe_producers(b, asked)
        assert got[(topic, 0)] == (NONE, None, want)
        assert got[(idle, 0)] == (NONE, None, [])
        assert got[(topic, 1)][0] == UNKNOWN_TOPIC_OR_PARTITION
        assert got[("no-such-topic-dp", 0)][0] == UNKNOWN_TOPIC_OR_PARTITION
        assert got[(topic, 1)][2] == []
        b.kill9()
        b.start()
        harness.wait_for_topic(b.bootstrap, topic, 1)
