"""Retention and the log start offset through the real broker, with real
clients (confluent-kafka and kafka-python on the consumer side, kcat for
ListOffsets, rnl for DeleteRecords).

One broker serves the module with log.retention.check.interval.ms=200, so
the janitor runs five times a second. Topics use segment.bytes=16384 and
file.delete.delay.ms=100, and records of ~1 KB in batches of at most five
records, so 300 records make some 20 segments.

  - time retention: records stamped ten minutes ago are removed with their
    segments, newer ones stay; the earliest offset (ListOffsets via
    confluent-kafka and kcat) follows the first remaining segment;
  - with everything expired the active segment still stays;
  - size retention: the log keeps at least retention.bytes, and less than
    retention.bytes plus its first segment;
  - a consumer behind the start: OFFSET_OUT_OF_RANGE, then reset per
    auto.offset.reset (earliest: from the new start; latest: waits at the
    end; error/none: the client reports it) — confluent-kafka with assign()
    and with a committed offset, kafka-python with assign() + seek();
  - rnl topic trim (DeleteRecords): --before-offset, --before-time,
    --all, --partition, errors; the start survives a restart.
"""

import datetime
import os
import subprocess
import time

import pytest

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

import harness  # noqa: E402
from harness import RNL_BIN, run, scaled  # noqa: E402

T = scaled(20)
SEG = 16384
VALUE = b"v" * 1000
TOPIC_CFG = {"segment.bytes": SEG, "file.delete.delay.ms": 100}


@pytest.fixture(scope="module")
def rbroker(_module_broker_factory):
    return _module_broker_factory({"log.retention.check.interval.ms": 200}, name="retention-broker")


# ---------------------------------------------------------------- helpers

def produce(b, topic, n, ts_of, partition=0):
    """Produces n records (timestamp ts_of(i)) to one partition, acks=all."""
    errors = []
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 0,
                  "batch.num.messages": 5, "message.timeout.ms": int(scaled(60000))})
    for i in range(n):
        p.produce(topic, value=VALUE, key=str(i).encode(), partition=partition, timestamp=ts_of(i),
                  on_delivery=lambda err, _m: err and errors.append(err))
        p.poll(0)
    assert p.flush(T) == 0
    assert errors == []


def watermarks(b, topic, partition=0):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=T)
    finally:
        c.close()


def kcat_earliest(b, topic, partition=0):
    """ListOffsets EARLIEST (-2) through kcat's query mode."""
    cp = run(["kcat", "-b", b.bootstrap, "-Q", "-t", f"{topic}:{partition}:-2"], timeout=T)
    # "<topic> [<partition>] offset <n>"
    return int(cp.stdout.decode().split("offset")[1].split()[0])


def seg_files(b, topic, partition=0):
    """{base offset: size} of the live .log files, and the count of
    .deleted files."""
    d = b.data_dir / f"{topic}-{partition}"
    logs, deleted = {}, 0
    for f in os.listdir(d):
        if f.endswith(".log"):
            try:
                logs[int(f[:20])] = (d / f).stat().st_size
            except FileNotFoundError:    # renamed meanwhile: count it as in flux
                deleted += 1
        elif f.endswith(".deleted"):
            deleted += 1
    return logs, deleted


def wait_for(cond, what, timeout=None):
    deadline = time.monotonic() + (timeout or T)
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def first_message(c, timeout=None):
    deadline = time.monotonic() + (timeout or T)
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None:
            return m
    return None


def rnl(b, *args, check=True):
    return run([RNL_BIN, "--brokers", b.bootstrap, "--timeout", str(int(T * 1000)), *args],
               check=check, timeout=T * 3)


def trimmed_start(b, topic, n, partitions=1):
    """A topic of n records per partition whose start was moved to 137 on
    partition 0 (inside a segment) with rnl topic trim."""
    b.create_topic(topic, partitions=partitions, config=TOPIC_CFG)
    now = int(time.time() * 1000)
    for p in range(partitions):
        produce(b, topic, n, lambda i: now, partition=p)
    out = rnl(b, "topic", "trim", topic, "--partition", "0", "--before-offset", "137").stdout.decode()
    assert out.splitlines()[1].split() == ["0", "137"], out
    return 137


# ---------------------------------------------------------------- retention

def test_time_retention_follows_the_largest_timestamp(rbroker, topic_name):
    b, t = rbroker, topic_name()
    b.create_topic(t, config=dict(TOPIC_CFG, **{"retention.ms": 60000}))
    old = int(time.time() * 1000) - 600000
    produce(b, t, 200, lambda i: old + i)
    produce(b, t, 100, lambda i: int(time.time() * 1000))
    # The segments holding only old records go; the one holding offset 200
    # (the first new record) stays. (A pass may run while the records are
    # produced: wait for the final state.)
    def final():
        logs, deleted = seg_files(b, t)
        bases = sorted(logs)
        return deleted == 0 and 0 < bases[0] <= 200 and (len(bases) == 1 or bases[1] > 200) and bases
    bases = wait_for(final, "old segments to be removed")
    assert watermarks(b, t) == (bases[0], 300)
    assert kcat_earliest(b, t) == bases[0]
    # Stable: nothing more expires within a minute.
    time.sleep(1)
    assert sorted(seg_files(b, t)[0]) == bases


def test_active_segment_is_never_deleted(rbroker, topic_name):
    b, t = rbroker, topic_name()
    b.create_topic(t, config=dict(TOPIC_CFG, **{"retention.ms": 1000}))
    old = int(time.time() * 1000) - 600000
    produce(b, t, 100, lambda i: old)
    logs = wait_for(lambda: (lambda s: len(s[0]) == 1 and s[1] == 0 and s[0])(seg_files(b, t)),
                    "all but the active segment to be removed")
    (base, size), = logs.items()
    assert 0 < base < 100 and size > 0
    # Five more retention passes: the expired active segment stays.
    time.sleep(1)
    assert seg_files(b, t)[0] == logs
    assert watermarks(b, t) == (base, 100)
    # New data goes on in it (or after it).
    produce(b, t, 1, lambda i: int(time.time() * 1000))
    assert watermarks(b, t) == (base, 101)


def test_size_retention(rbroker, topic_name):
    b, t = rbroker, topic_name()
    limit = 50000
    b.create_topic(t, config=dict(TOPIC_CFG, **{"retention.bytes": limit}))
    produce(b, t, 300, lambda i: int(time.time() * 1000))

    def settled():
        logs, deleted = seg_files(b, t)
        total = sum(logs.values())
        return deleted == 0 and total - logs[min(logs)] < limit and logs
    logs = wait_for(settled, "size retention")
    assert sum(logs.values()) >= limit
    assert watermarks(b, t) == (min(logs), 300)


def test_restart_keeps_retention_start(broker_factory, topic_name):
    b = broker_factory({"log.retention.check.interval.ms": 200})
    t = topic_name()
    b.create_topic(t, config=dict(TOPIC_CFG, **{"retention.bytes": 30000}))
    produce(b, t, 200, lambda i: int(time.time() * 1000))
    logs = wait_for(lambda: (lambda s: s[1] == 0 and sum(s[0].values()) - s[0][min(s[0])] < 30000
                             and s[0])(seg_files(b, t)), "size retention")
    b.stop()
    b.start()
    assert watermarks(b, t) == (min(logs), 200)


# ---------------------------------------------------------------- consumers behind the start

def test_confluent_assign_behind_start_resets_earliest(rbroker, topic_name):
    b, t = rbroker, topic_name()
    start = trimmed_start(b, t, 300)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": topic_name("g"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(t, 0, 5)])
        m = first_message(c)
        assert m is not None and m.error() is None
        assert m.offset() == start
    finally:
        c.close()


def test_confluent_assign_behind_start_resets_latest(rbroker, topic_name):
    b, t = rbroker, topic_name()
    trimmed_start(b, t, 300)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": topic_name("g"),
                  "auto.offset.reset": "latest", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(t, 0, 5)])
        assert first_message(c, timeout=scaled(2)) is None   # waits at the end
        produce(b, t, 1, lambda i: int(time.time() * 1000))
        m = first_message(c)
        assert m is not None and m.error() is None and m.offset() == 300
    finally:
        c.close()


def test_confluent_offset_reset_error_reports_out_of_range(rbroker, topic_name):
    b, t = rbroker, topic_name()
    trimmed_start(b, t, 300)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": topic_name("g"),
                  "auto.offset.reset": "error", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(t, 0, 5)])
        m = first_message(c)
        assert m is not None and m.error() is not None
        assert m.error().code() == KafkaError._AUTO_OFFSET_RESET
        assert "out of range" in m.error().str().lower()
    finally:
        c.close()


def test_confluent_committed_offset_behind_start(rbroker, topic_name):
    b, t = rbroker, topic_name()
    start = trimmed_start(b, t, 300)
    group = topic_name("g")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(t, 0, 10)], asynchronous=False)
    finally:
        c.close()
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([t])
        m = first_message(c, timeout=scaled(30))
        assert m is not None and m.error() is None
        assert m.offset() == start
    finally:
        c.close()


def test_kafka_python_seek_behind_start(rbroker, topic_name):
    kafka = pytest.importorskip("kafka")
    import kafka.errors
    b, t = rbroker, topic_name()
    start = trimmed_start(b, t, 300)
    tp = kafka.TopicPartition(t, 0)
    c = kafka.KafkaConsumer(bootstrap_servers=b.bootstrap, auto_offset_reset="earliest",
                            enable_auto_commit=False)
    try:
        c.assign([tp])
        c.seek(tp, 3)
        got = []
        deadline = time.monotonic() + T
        while not got and time.monotonic() < deadline:
            got = c.poll(timeout_ms=200).get(tp, [])
        assert got and got[0].offset == start
    finally:
        c.close()
    # No reset policy: the client raises OffsetOutOfRangeError.
    c = kafka.KafkaConsumer(bootstrap_servers=b.bootstrap, auto_offset_reset="none",
                            enable_auto_commit=False)
    try:
        c.assign([tp])
        c.seek(tp, 3)
        with pytest.raises(kafka.errors.OffsetOutOfRangeError):
            deadline = time.monotonic() + T
            while time.monotonic() < deadline:
                c.poll(timeout_ms=200)
    finally:
        c.close()


# ---------------------------------------------------------------- rnl topic trim

def test_rnl_trim(rbroker, topic_name):
    b, t = rbroker, topic_name()
    b.create_topic(t, partitions=2, config=dict(TOPIC_CFG, **{"retention.ms": -1}))
    ts0 = 1700000000000   # 2023: older than the default retention.ms
    for p in range(2):
        produce(b, t, 300, lambda i: ts0 + 1000 * i, partition=p)
    seg_before = len(seg_files(b, t)[0])
    # --before-offset on one partition.
    out = rnl(b, "topic", "trim", t, "--partition", "1", "--before-offset", "120").stdout.decode()
    assert out.splitlines() == ["PARTITION  LOW_WATERMARK", "1          120",
                                f'trimmed 1 partition(s) of topic "{t}"']
    assert watermarks(b, t, 1) == (120, 300)
    assert watermarks(b, t, 0) == (0, 300)
    # --before-time (ISO 8601, UTC): the first record at or after it.
    when = datetime.datetime.fromtimestamp((ts0 + 150000) / 1000, datetime.timezone.utc)
    out = rnl(b, "topic", "trim", t, "--partition", "0", "--before-time",
              when.strftime("%Y-%m-%dT%H:%M:%S.000Z")).stdout.decode()
    assert out.splitlines()[1].split() == ["0", "150"]
    # ... and as ms since the epoch, on both partitions.
    out = rnl(b, "topic", "trim", t, "--before-time", str(ts0 + 160500)).stdout.decode()
    assert sorted(out.splitlines()[1:3]) == ["0          161", "1          161"]
    assert kcat_earliest(b, t, 0) == 161
    # A lower offset changes nothing.
    out = rnl(b, "topic", "trim", t, "--before-offset", "5").stdout.decode()
    assert sorted(out.splitlines()[1:3]) == ["0          161", "1          161"]
    # Past the high watermark: refused, exit 1.
    cp = rnl(b, "topic", "trim", t, "--partition", "0", "--before-offset", "301", check=False)
    assert cp.returncode == 1
    assert "OFFSET_OUT_OF_RANGE" in cp.stderr.decode()
    # --all: everything, segments included (only the active ones stay).
    out = rnl(b, "topic", "trim", t, "--all").stdout.decode()
    assert sorted(out.splitlines()[1:3]) == ["0          300", "1          300"]
    assert watermarks(b, t, 0) == (300, 300)
    logs = wait_for(lambda: (lambda s: len(s[0]) == 1 and s[1] == 0 and s[0])(seg_files(b, t)),
                    "trimmed segments to be removed")
    assert seg_before > 5 and max(logs) <= 300


def test_rnl_trim_errors(rbroker, topic_name):
    b = rbroker
    missing = topic_name("missing")
    cp = rnl(b, "topic", "trim", missing, "--all", check=False)
    assert cp.returncode == 1 and "does not exist" in cp.stderr.decode()
    t = topic_name()
    b.create_topic(t, config=TOPIC_CFG)
    for args in (["topic", "trim", t], ["topic", "trim", t, "--all", "--before-offset", "3"],
                 ["topic", "trim", t, "--before-time", "yesterday"],
                 ["topic", "trim", "--all"]):
        cp = rnl(b, *args, check=False)
        assert cp.returncode == 2, (args, cp.stderr)
    cp = rnl(b, "topic", "trim", t, "--partition", "7", "--all", check=False)
    assert cp.returncode == 1 and "no partition 7" in cp.stderr.decode()


def test_trim_survives_restart(broker_factory, topic_name):
    b = broker_factory()
    t = topic_name()
    start = trimmed_start(b, t, 300)
    b.stop()
    b.start()
    assert watermarks(b, t) == (start, 300)
    assert kcat_earliest(b, t) == start
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": topic_name("g"),
                  "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(t, 0, 0)])
        m = first_message(c)
        assert m is not None and m.error() is None and m.offset() == start
    finally:
        c.close()


def test_rnl_built():
    assert os.access(RNL_BIN, os.X_OK), f"{RNL_BIN} missing"
    assert subprocess.run([RNL_BIN, "topic", "--help"], capture_output=True).stdout.count(b"trim") >= 1
