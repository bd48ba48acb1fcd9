"""DeleteRecords (key 21, v0-2) over raw sockets, and what follows from a
moved log start offset.

Every request is encoded by hand (kwire.delete_records_body; v2 is the
flexible version) and every answer is checked field by field:

  - Offset inside the log: NONE and LowWatermark = that offset; ListOffsets
    EARLIEST answers it, Fetch below it answers OFFSET_OUT_OF_RANGE with
    log_start_offset = it, Fetch at it answers the records from it;
  - Offset -1: the high watermark; Offset > high watermark or < -1:
    OFFSET_OUT_OF_RANGE with LowWatermark -1; an offset below the current
    start: NONE, the start unchanged;
  - unknown topic and partition out of range: UNKNOWN_TOPIC_OR_PARTITION;
    an internal topic: INVALID_TOPIC_EXCEPTION;
  - several topics and partitions in one request, answered in order;
  - whole segments below the new start leave the partition directory
    (file.delete.delay.ms=0);
  - the start survives a clean restart and kill -9 right after the answer
    (log-start-offset-checkpoint is written before answering).
"""

import itertools
import time

import pytest

import harness
import kwire
from kwire import Conn, Reader, Writer

NONE = 0
OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17

API_DELETE_RECORDS = kwire.API_DELETE_RECORDS
BATCHES, PER_BATCH = 10, 10          # offsets 0..99 per partition
TOPIC_CFG = {"segment.bytes": 1024, "file.delete.delay.ms": 0}

_corr = itertools.count(1)


# ---------------------------------------------------------------- requests

def request(port, key, version, body, flexible=False):
    with Conn(port, timeout=harness.scaled(10)) as c:
        return c.request(key, version, body, corr=next(_corr), flexible=flexible)


def delete_records(b, version, topics, timeout_ms=5000):
    body = kwire.delete_records_body(version, topics, timeout_ms)
    resp = request(b.port, API_DELETE_RECORDS, version, body, flexible=version >= 2)
    throttle, parts = kwire.parse_delete_records(resp, version)
    assert throttle == 0
    return parts


def earliest(b, topic, partition=0):
    """ListOffsets v1, timestamp -2 (EARLIEST) -> (error, offset)."""
    w = Writer().i32(-1)
    w.array([topic], lambda w, t: w.string(t).array(
        [partition], lambda w, p: w.i32(p).i64(-2)))
    r = Reader(request(b.port, kwire.API_LIST_OFFSETS, 1, w.bytes()))
    out = []
    r.array(lambda r: (r.string(), r.array(lambda r: out.append((r.i32(), r.i16(), r.i64(), r.i64())))))
    r.done()
    (_p, err, _ts, off), = out
    return err, off


def fetch_v5(b, topic, partition, offset):
    """Fetch v5 -> (error, high watermark, log start offset, records)."""
    w = Writer().i32(-1).i32(0).i32(0).i32(1 << 20).i8(0)
    w.array([topic], lambda w, t: w.string(t).array(
        [partition], lambda w, p: w.i32(p).i64(offset).i64(-1).i32(1 << 20)))
    r = Reader(request(b.port, kwire.API_FETCH, 5, w.bytes()))
    r.i32()  # throttle
    out = []

    def part(r):
        idx, err, hw, _lso, start = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
        r.array(lambda r: (r.i64(), r.i64()))
        out.append((err, hw, start, r.bytes32() or b""))

    r.array(lambda r: (r.string(), r.array(part)))
    r.done()
    return out[0]


def produce(b, topic, partition):
    for i in range(BATCHES):
        batch = kwire.build_batch([f"{partition}-{i}-{j}".encode() * 4 for j in range(PER_BATCH)])
        resp = request(b.port, kwire.API_PRODUCE, 3, kwire.produce_v3(topic, {partition: batch}))
        (err, base), = kwire.parse_produce_v3(resp).values()
        assert (err, base) == (NONE, i * PER_BATCH)


def kwire_records(records):
    """[(offset, value)] of a fetched record set."""
    return [(rec[0], rec[2]) for bt in kwire.parse_batches(records) for rec in bt["records"]]


def wait_until(cond, timeout):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def make_topic(b, name, partitions=1):
    b.create_topic(name, partitions=partitions, config=TOPIC_CFG)
    for p in range(partitions):
        produce(b, name, p)


def seg_bases(b, topic, partition=0, ext=".log"):
    d = b.data_dir / f"{topic}-{partition}"
    return sorted(int(f.name[:20]) for f in d.iterdir() if f.name.endswith(ext))


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("version", [0, 1, 2])
def test_delete_inside_the_log_moves_the_start(module_broker, topic_name, version):
    b, t = module_broker, topic_name()
    make_topic(b, t)
    assert len(seg_bases(b, t)) > 3
    assert delete_records(b, version, [(t, [(0, 25)])]) == [(t, 0, 25, NONE)]
    assert earliest(b, t) == (NONE, 25)
    err, hw, start, _ = fetch_v5(b, t, 0, 10)
    assert (err, hw, start) == (OFFSET_OUT_OF_RANGE, 100, 25)
    err, hw, start, recs = fetch_v5(b, t, 0, 25)
    assert (err, hw, start) == (NONE, 100, 25)
    offs = [o for o, _v in kwire_records(recs)]
    assert offs and offs[0] <= 25 < offs[-1]      # the batch holding 25, whole
    # Lower than the start: nothing changes.
    assert delete_records(b, version, [(t, [(0, 7)])]) == [(t, 0, 25, NONE)]
    # The same offset again: idempotent.
    assert delete_records(b, version, [(t, [(0, 25)])]) == [(t, 0, 25, NONE)]
    # Segments wholly below 25 leave the directory (delay 0: at once).
    bases = seg_bases(b, t)
    assert bases[0] <= 25 and (len(bases) == 1 or bases[1] > 25), bases
    assert wait_until(lambda: seg_bases(b, t, ext=".log.deleted") == [], harness.scaled(10))


@pytest.mark.parametrize("version", [0, 2])
def test_minus_one_is_the_high_watermark(module_broker, topic_name, version):
    b, t = module_broker, topic_name()
    make_topic(b, t)
    assert delete_records(b, version, [(t, [(0, -1)])]) == [(t, 0, 100, NONE)]
    assert earliest(b, t) == (NONE, 100)
    err, hw, start, recs = fetch_v5(b, t, 0, 100)
    assert (err, hw, start, recs) == (NONE, 100, 100, b"")
    assert seg_bases(b, t)[-1] <= 100               # the active segment stays
    # Appends go on at 100.
    resp = request(b.port, kwire.API_PRODUCE, 3, kwire.produce_v3(t, {0: kwire.build_batch([b"next"])}))
    assert list(kwire.parse_produce_v3(resp).values()) == [(NONE, 100)]


@pytest.mark.parametrize("version", [0, 1, 2])
def test_errors(module_broker, topic_name, version):
    b, t = module_broker, topic_name()
    make_topic(b, t, partitions=2)
    missing = topic_name("missing")
    got = delete_records(b, version, [
        (t, [(0, 101), (1, -2), (2, 5), (-1, 5), (1, 30)]),
        (missing, [(0, 1)]),
    ])
    assert got == [
        (t, 0, -1, OFFSET_OUT_OF_RANGE),
        (t, 1, -1, OFFSET_OUT_OF_RANGE),
        (t, 2, -1, UNKNOWN_TOPIC_OR_PARTITION),
        (t, -1, -1, UNKNOWN_TOPIC_OR_PARTITION),
        (t, 1, 30, NONE),
        (missing, 0, -1, UNKNOWN_TOPIC_OR_PARTITION),
    ]
    assert earliest(b, t, 0) == (NONE, 0)
    assert earliest(b, t, 1) == (NONE, 30)


def test_internal_topic_refused(module_broker, topic_name):
    b = module_broker
    # A "__" name is internal (Kafka's convention); CreateTopics accepts one.
    t = "__" + topic_name()
    make_topic(b, t)
    got = delete_records(b, 2, [(t, [(0, -1)]), (t, [(0, 10)])])
    assert got == [(t, 0, -1, INVALID_TOPIC_EXCEPTION), (t, 0, -1, INVALID_TOPIC_EXCEPTION)]
    assert earliest(b, t) == (NONE, 0)


def test_many_topics_answered_in_order(module_broker, topic_name):
    b = module_broker
    t1, t2 = topic_name("a"), topic_name("b")
    make_topic(b, t1, partitions=2)
    make_topic(b, t2)
    got = delete_records(b, 2, [(t2, [(0, 40)]), (t1, [(1, 60), (0, 10)])])
    assert got == [(t2, 0, 40, NONE), (t1, 1, 60, NONE), (t1, 0, 10, NONE)]


def test_api_versions_advertises_delete_records(module_broker):
    resp = request(module_broker.port, kwire.API_API_VERSIONS, 0, b"")
    err, keys, _ = kwire.parse_api_versions(resp, 0)
    assert err == NONE and keys[API_DELETE_RECORDS] == (0, 2)


@pytest.mark.parametrize("how", ["clean", "kill9"])
def test_start_survives_restart(broker, topic_name, how):
    b, t = broker, topic_name()
    make_topic(b, t)
    assert delete_records(b, 2, [(t, [(0, 37)])]) == [(t, 0, 37, NONE)]
    if how == "clean":
        b.stop()
        b.start()
    else:
        b.kill9()
        b.start()
    assert earliest(b, t) == (NONE, 37)
    err, _hw, start, _ = fetch_v5(b, t, 0, 36)
    assert (err, start) == (OFFSET_OUT_OF_RANGE, 37)
    err, hw, start, recs = fetch_v5(b, t, 0, 37)
    assert (err, hw, start) == (NONE, 100, 37)
    assert 37 in [o for o, _v in kwire_records(recs)]
    text = (b.data_dir / "log-start-offset-checkpoint").read_text()
    assert f"\n{t} 0 37\n" in text
