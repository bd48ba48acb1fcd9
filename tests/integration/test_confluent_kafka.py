"""confluent-kafka (Debian's python3-confluent-kafka on librdkafka 2.0.2)
against the real broker: Producer acks=all with delivery callbacks, a
Consumer with assign() (group.id set because the API wants one; no
subscribe, no commits), and the AdminClient: create_topics (configs,
validate_only, error cases), delete_topics, create_partitions,
describe_configs (broker and topic), list_topics."""

import time

import pytest

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (ConfigResource, ConfigSource, NewPartitions,  # noqa: E402
                                   NewTopic)

import harness  # noqa: E402
from harness import scaled  # noqa: E402

T = scaled(20)  # admin request / operation timeout, seconds


def admin_of(broker):
    return broker.admin()


def result(fut):
    return fut.result(timeout=T)


def error_code(fut):
    """The KafkaError code a failed admin future carries (None on success)."""
    try:
        fut.result(timeout=T)
    except KafkaException as e:
        return e.args[0].code()
    return None


# ---- producer + consumer ----

def record_of(p, i):
    key = None if i % 41 == 1 else f"ck-{p}-{i}-\u00e9\u2603".encode()
    value = None if i % 43 == 2 else (b"" if i % 11 == 0 else
                                     f"val|{p}|{i}|".encode() + bytes((i + j) % 256 for j in range(i % 500)))
    # No header with a null value: confluent-kafka 1.7.0 (Debian 12) drops a
    # reference to None when it reads one back (Message.headers()), which
    # later aborts Python with "deallocating None". Null header values are
    # covered by test_librdkafka.py and test_kafka_python.py.
    headers = [("idx", str(i).encode()), ("h\u00fc", b"\x00\x01\xfe\xff"), ("empty", b"")]
    return key, value, headers


def produce(bootstrap, topic, nparts, per_part, ts0, codec="none"):
    """Produces per_part records to each partition; returns {p: [(key, value, headers, ts)]}
    after asserting every delivery report: no error, contiguous offsets in order."""
    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value()))

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "compression.codec": codec, "message.timeout.ms": int(scaled(60000))})
    sent = {q: [] for q in range(nparts)}
    for i in range(per_part):
        for q in range(nparts):
            key, value, headers = record_of(q, i)
            while True:
                try:
                    p.produce(topic, key=key, value=value, headers=headers, partition=q,
                              timestamp=ts0 + i, on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.05)
            sent[q].append((key, value, headers, ts0 + i))
        p.poll(0)
    left = p.flush(scaled(60))
    assert left == 0, f"{left} messages not delivered"
    assert len(reports) == nparts * per_part
    nxt = {q: 0 for q in range(nparts)}
    for err, t, q, off, key, value in reports:
        assert err is None, err
        assert t == topic
        assert off == nxt[q], f"partition {q}: offset {off}, expected {nxt[q]}"
        assert (key, value) == sent[q][off][:2]
        nxt[q] += 1
    return sent


def consume(bootstrap, topic, nparts, expected_counts):
    return harness.consume_assigned(bootstrap, topic, [expected_counts[q] for q in range(nparts)])


@pytest.mark.parametrize("codec", ["none", "lz4"])
def test_produce_assign_consume(module_broker, topic_name, codec):
    topic = topic_name(codec)
    nparts, per_part = 3, 3000
    module_broker.create_topic(topic, partitions=nparts)
    ts0 = int(time.time() * 1000) - 50_000
    sent = produce(module_broker.bootstrap, topic, nparts, per_part, ts0, codec)
    got = consume(module_broker.bootstrap, topic, nparts, {q: per_part for q in range(nparts)})
    for q in range(nparts):
        assert len(got[q]) == per_part
        for i, (m, (key, value, headers, ts)) in enumerate(zip(got[q], sent[q])):
            assert (m.topic(), m.partition(), m.offset()) == (topic, q, i)
            assert m.key() == key, (q, i)
            assert m.value() == value, (q, i)
            assert m.headers() == headers, (q, i)
            assert m.timestamp() == (ck.TIMESTAMP_CREATE_TIME, ts), (q, i)


# ---- admin ----

def test_create_topics(module_broker, topic_name):
    admin = admin_of(module_broker)
    plain, conf, val = topic_name("plain"), topic_name("conf"), topic_name("validate")
    futs = admin.create_topics([
        NewTopic(plain, num_partitions=3, replication_factor=1),
        NewTopic(conf, num_partitions=1, replication_factor=1,
                 config={"retention.ms": "3600000", "cleanup.policy": "compact",
                         "segment.bytes": "1048576"}),
    ], operation_timeout=T, request_timeout=T)
    assert {t: result(f) for t, f in futs.items()} == {plain: None, conf: None}
    harness.wait_for_topic(module_broker.bootstrap, plain, 3)
    harness.wait_for_topic(module_broker.bootstrap, conf, 1)

    # The topic's own configs come back from DescribeConfigs.
    entries = result(admin.describe_configs([ConfigResource("topic", conf)],
                                            request_timeout=T)[ConfigResource("topic", conf)])
    for k, v in (("retention.ms", "3600000"), ("cleanup.policy", "compact"),
                 ("segment.bytes", "1048576")):
        assert entries[k].value == v, (k, entries[k])
        assert entries[k].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, (k, entries[k])
        assert not entries[k].is_default

    # validate_only: accepted, nothing created.
    futs = admin.create_topics([NewTopic(val, num_partitions=2, replication_factor=1)],
                               validate_only=True, operation_timeout=T, request_timeout=T)
    assert result(futs[val]) is None
    assert val not in admin.list_topics(timeout=T).topics

    # Errors, each with Kafka's code.
    rf3 = NewTopic(topic_name("rf3"), num_partitions=1, replication_factor=3)
    dup = NewTopic(plain, num_partitions=1, replication_factor=1)
    badconf = NewTopic(topic_name("badconf"), num_partitions=1, replication_factor=1,
                       config={"retention.ms": "not-a-number"})
    badname = NewTopic("bad/name", num_partitions=1, replication_factor=1)
    for nt, code in ((rf3, KafkaError.INVALID_REPLICATION_FACTOR),
                     (dup, KafkaError.TOPIC_ALREADY_EXISTS),
                     (badconf, KafkaError.INVALID_CONFIG),
                     (badname, KafkaError.TOPIC_EXCEPTION)):
        futs = admin.create_topics([nt], operation_timeout=T, request_timeout=T)
        assert error_code(futs[nt.topic]) == code, nt
    names = admin.list_topics(timeout=T).topics
    for nt in (rf3, badconf, badname):
        assert nt.topic not in names
    assert len(names[plain].partitions) == 3     # the duplicate changed nothing


def test_create_topic_broker_defaults(broker_factory, topic_name):
    """num_partitions=-1 / replication_factor=-1 take num.partitions and
    default.replication.factor from the broker (CreateTopics v4)."""
    broker = broker_factory({"num.partitions": 4})
    name = topic_name()
    admin = broker.admin()   # keep a reference: the futures die with the client
    futs = admin.create_topics([NewTopic(name, num_partitions=-1, replication_factor=-1)],
                               operation_timeout=T, request_timeout=T)
    assert result(futs[name]) is None
    broker.wait_topic(name, 4)


def test_delete_topics(module_broker, topic_name):
    admin = admin_of(module_broker)
    a, b = topic_name("a"), topic_name("b")
    module_broker.create_topic(a, partitions=2)
    module_broker.create_topic(b, partitions=1)
    futs = admin.delete_topics([a], operation_timeout=T, request_timeout=T)
    assert result(futs[a]) is None
    harness.wait_for_topic_absent(module_broker.bootstrap, a)
    assert b in admin.list_topics(timeout=T).topics          # the other one stays
    futs = admin.delete_topics([a], operation_timeout=T, request_timeout=T)
    assert error_code(futs[a]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # A deleted name can be created again, empty.
    module_broker.create_topic(a, partitions=1)
    c = Consumer({"bootstrap.servers": module_broker.bootstrap, "group.id": "unused"})
    try:
        assert c.get_watermark_offsets(TopicPartition(a, 0), timeout=T) == (0, 0)
    finally:
        c.close()


def test_create_partitions(module_broker, topic_name):
    admin = admin_of(module_broker)
    name = topic_name()
    module_broker.create_topic(name, partitions=2)

    futs = admin.create_partitions([NewPartitions(name, 4)], validate_only=True,
                                   operation_timeout=T, request_timeout=T)
    assert result(futs[name]) is None
    assert len(admin.list_topics(timeout=T).topics[name].partitions) == 2

    futs = admin.create_partitions([NewPartitions(name, 5)], operation_timeout=T, request_timeout=T)
    assert result(futs[name]) is None
    harness.wait_for_topic(module_broker.bootstrap, name, 5)

    for total in (3, 5):   # fewer, or the same count: INVALID_PARTITIONS
        futs = admin.create_partitions([NewPartitions(name, total)], operation_timeout=T,
                                       request_timeout=T)
        assert error_code(futs[name]) == KafkaError.INVALID_PARTITIONS, total
    missing = topic_name("missing")
    futs = admin.create_partitions([NewPartitions(missing, 3)], operation_timeout=T, request_timeout=T)
    assert error_code(futs[missing]) == KafkaError.UNKNOWN_TOPIC_OR_PART

    # The new partitions take records.
    sent = produce(module_broker.bootstrap, name, 5, 20, int(time.time() * 1000))
    got = consume(module_broker.bootstrap, name, 5, {q: 20 for q in range(5)})
    for q in range(5):
        assert [(m.key(), m.value(), m.headers()) for m in got[q]] == [s[:3] for s in sent[q]]


def test_describe_configs(broker_factory, topic_name):
    broker = broker_factory({"log.retention.ms": 86400000, "num.partitions": 2})
    admin = broker.admin()
    md = admin.list_topics(timeout=T)
    (bid,) = md.brokers
    res = ConfigResource("broker", str(bid))
    entries = result(admin.describe_configs([res], request_timeout=T)[res])
    e = entries["log.retention.ms"]
    assert (e.value, e.source, e.is_default) == ("86400000", ConfigSource.STATIC_BROKER_CONFIG.value, False)
    e = entries["num.partitions"]
    assert (e.value, e.source) == ("2", ConfigSource.STATIC_BROKER_CONFIG.value)
    e = entries["log.segment.bytes"]
    assert (e.value, e.source, e.is_default) == ("1073741824", ConfigSource.DEFAULT_CONFIG.value, True)
    assert entries["log.dirs"].value == str(broker.data_dir)

    name = topic_name()
    broker.create_topic(name, partitions=1, config={"retention.bytes": "123456789"})
    res = ConfigResource("topic", name)
    entries = result(admin.describe_configs([res], request_timeout=T)[res])
    e = entries["retention.bytes"]
    assert (e.value, e.source, e.is_default) == ("123456789", ConfigSource.DYNAMIC_TOPIC_CONFIG.value, False)
    e = entries["retention.ms"]       # inherited from the broker's static setting
    assert (e.value, e.source) == ("86400000", ConfigSource.STATIC_BROKER_CONFIG.value)
    e = entries["segment.bytes"]      # inherited from the broker's default
    assert (e.value, e.source, e.is_default) == ("1073741824", ConfigSource.DEFAULT_CONFIG.value, True)

    res = ConfigResource("topic", topic_name("missing"))
    assert error_code(admin.describe_configs([res], request_timeout=T)[res]) == \
        KafkaError.UNKNOWN_TOPIC_OR_PART


def test_list_topics(module_broker, topic_name):
    admin = admin_of(module_broker)
    a, b = topic_name("a"), topic_name("b")
    module_broker.create_topic(a, partitions=3)
    module_broker.create_topic(b, partitions=1)
    md = admin.list_topics(timeout=T)
    assert len(md.brokers) == 1
    (bid, bmd), = md.brokers.items()
    assert (bmd.host, bmd.port) == ("127.0.0.1", module_broker.port)
    assert md.controller_id == bid
    assert md.cluster_id
    for name, n in ((a, 3), (b, 1)):
        t = md.topics[name]
        assert t.error is None
        assert sorted(t.partitions) == list(range(n))
        for pid, pmd in t.partitions.items():
            assert (pmd.id, pmd.leader, list(pmd.replicas), list(pmd.isrs), pmd.error) == \
                (pid, bid, [bid], [bid], None)
    one = admin.list_topics(topic=a, timeout=T)
    assert sorted(one.topics) == [a]


def test_topics_and_cluster_id_survive_restart(broker, topic_name):
    a = topic_name()
    broker.create_topic(a, partitions=3, config={"retention.ms": "7200000"})
    before = broker.admin().list_topics(timeout=T)
    broker.restart()
    admin = broker.admin()
    after = admin.list_topics(timeout=T)
    assert after.cluster_id == before.cluster_id and after.cluster_id
    assert sorted(after.topics[a].partitions) == [0, 1, 2]
    res = ConfigResource("topic", a)
    entries = result(admin.describe_configs([res], request_timeout=T)[res])
    assert (entries["retention.ms"].value, entries["retention.ms"].source) == \
        ("7200000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)


def test_log_append_time_and_message_size(module_broker, topic_name):
    """message.timestamp.type=LogAppendTime: the broker's clock replaces the
    producer's timestamp, in the delivery report and in what is read back.
    max.message.bytes: a bigger batch gets MSG_SIZE_TOO_LARGE, nothing is stored."""
    lat, small = topic_name("lat"), topic_name("small")
    module_broker.create_topic(lat, partitions=1, config={"message.timestamp.type": "LogAppendTime"})
    module_broker.create_topic(small, partitions=1, config={"max.message.bytes": "2000"})
    reports = []
    p = Producer({"bootstrap.servers": module_broker.bootstrap, "acks": "all", "linger.ms": 50})
    t0 = int(time.time() * 1000)
    for i in range(5):
        p.produce(lat, key=b"k%d" % i, value=b"v%d" % i, timestamp=1000 + i,
                  on_delivery=lambda err, msg: reports.append((err, msg.topic(), msg.offset(), msg.timestamp())))
    p.produce(small, value=b"x" * 5000,
              on_delivery=lambda err, msg: reports.append((err, msg.topic(), msg.offset(), None)))
    assert p.flush(T) == 0   # separate batches: the broker rejects a batch as a whole
    p.produce(small, value=b"y" * 100,
              on_delivery=lambda err, msg: reports.append((err, msg.topic(), msg.offset(), None)))
    assert p.flush(T) == 0
    t1 = int(time.time() * 1000)

    lat_reports = [r for r in reports if r[1] == lat]
    assert [r[0] for r in lat_reports] == [None] * 5
    assert [r[2] for r in lat_reports] == list(range(5))
    for _, _, _, (tstype, ts) in lat_reports:
        assert tstype == ck.TIMESTAMP_LOG_APPEND_TIME and t0 <= ts <= t1, (tstype, ts, t0, t1)
    got = harness.consume_assigned(module_broker.bootstrap, lat, [5])[0]
    assert [(m.key(), m.value()) for m in got] == [(b"k%d" % i, b"v%d" % i) for i in range(5)]
    for m in got:
        tstype, ts = m.timestamp()
        assert tstype == ck.TIMESTAMP_LOG_APPEND_TIME and t0 <= ts <= t1, (tstype, ts)

    small_reports = sorted((r for r in reports if r[1] == small), key=lambda r: r[0] is None)
    assert small_reports[0][0] is not None and \
        small_reports[0][0].code() == KafkaError.MSG_SIZE_TOO_LARGE, small_reports
    assert small_reports[1][0] is None and small_reports[1][2] == 0, small_reports
    got = harness.consume_assigned(module_broker.bootstrap, small, [1])[0]
    assert [m.value() for m in got] == [b"y" * 100]
