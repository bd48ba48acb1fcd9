"""Consumers reading from the disk behind the log end (src/log/prefetch.c):
the broker reads ahead of them, and what they get is still exactly what
was produced. 40 MiB of 1 KiB records in one segment, read after a restart
(so every fetch reads the file, not batches just appended) by a
confluent-kafka consumer from the start and, at the same time, a
kafka-python consumer from the middle: two readers of one segment, each
crossing the 4 MiB chunks that trigger the read-ahead."""

import hashlib
import os
import threading

import pytest

ck = pytest.importorskip("confluent_kafka")
kp = pytest.importorskip("kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from harness import scaled  # noqa: E402

N = 40_000
SIZE = 1024


def value_of(i):
    head = f"{i:08d}|".encode()
    body = hashlib.sha256(head).digest() * (SIZE // 32)
    return head + body[:SIZE - len(head)]


def produce_all(bootstrap, topic):
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": int(scaled(60000))})
    for i in range(N):
        while True:
            try:
                p.produce(topic, value=value_of(i), partition=0,
                          on_delivery=lambda err, msg: err and errors.append(err))
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(scaled(60)) == 0
    assert not errors


def read_confluent(bootstrap, topic, start, out):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "readahead-ck",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, start)])
    got = []
    try:
        while len(got) < N - start:
            for m in c.consume(num_messages=1000, timeout=scaled(10)):
                assert m.error() is None, m.error()
                got.append((m.offset(), m.value()))
    finally:
        c.close()
    out["confluent"] = got


def read_kafka_python(bootstrap, topic, start, out):
    c = kp.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         consumer_timeout_ms=int(scaled(20000)))
    tp = kp.TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, start)
    got = []
    try:
        for m in c:
            got.append((m.offset, m.value))
            if len(got) == N - start:
                break
    finally:
        c.close()
    out["kafka-python"] = got


def thread_names(pid):
    names = set()
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                names.add(f.read().strip())
        except OSError:
            pass
    return names


def test_two_readers_behind_the_end_get_every_record(broker_factory, topic_name):
    b = broker_factory(log_segment_bytes=1 << 30)
    topic = topic_name("ra")
    b.create_topic(topic, partitions=1)
    produce_all(b.bootstrap, topic)
    b.restart()
    assert "runnel-prefetch" not in thread_names(b.pid)  # started on first need

    out = {}
    threads = [threading.Thread(target=read_confluent, args=(b.bootstrap, topic, 0, out)),
               threading.Thread(target=read_kafka_python, args=(b.bootstrap, topic, N // 2, out))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(120))
    assert set(out) == {"confluent", "kafka-python"}, f"a reader failed: {sorted(out)}"
    for name, start in (("confluent", 0), ("kafka-python", N // 2)):
        got = out[name]
        assert [o for o, _ in got] == list(range(start, N)), name
        bad = [o for o, v in got if v != value_of(o)]
        assert not bad, f"{name}: {len(bad)} records differ, first at offset {bad[0]}"
    # The reads crossed chunks of a segment on disk: the read-ahead ran.
    assert "runnel-prefetch" in thread_names(b.pid)
