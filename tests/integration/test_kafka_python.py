"""kafka-python 2.0.2 (Debian's python3-kafka) against the real broker:
broker-version inference, KafkaProducer acks=all (plain and gzip), a
KafkaConsumer with assign() and no group reading back byte for byte, and
KafkaAdminClient create/list/delete topics."""

import time

import pytest

kafka = pytest.importorskip("kafka")
import kafka.errors  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
from kafka.conn import BrokerConnection  # noqa: E402

import harness  # noqa: E402
from harness import scaled  # noqa: E402

assert kafka.__version__ == "2.0.2", kafka.__version__


def expected_inference(bootstrap):
    """The version kafka-python should infer, computed with its own table
    from an ApiVersions answer fetched here over a raw socket."""
    versions = harness.api_versions(bootstrap)
    return BrokerConnection._infer_broker_version_from_api_versions(None, versions)


def test_api_version_inference(module_broker):
    expected = expected_inference(module_broker.bootstrap)
    # Record batch v2 (magic 2) needs >= 0.11; anything lower means the
    # broker's ApiVersions would make kafka-python use old message formats.
    assert expected >= (0, 11, 0), expected
    producer = KafkaProducer(bootstrap_servers=module_broker.bootstrap, acks="all")
    try:
        assert producer.config["api_version"] == expected
    finally:
        producer.close(timeout=scaled(5))
    admin = KafkaAdminClient(bootstrap_servers=module_broker.bootstrap)
    try:
        assert admin.config["api_version"] == expected
        assert admin._client.check_version(timeout=scaled(5)) == expected
    finally:
        admin.close()


def record_of(partition, i, codec):
    key = None if i % 53 == 4 else (b"" if i % 61 == 5 else f"kp-{partition}-{i}-ключ".encode())
    if i % 47 == 3:
        value = None
    elif i % 9 == 0:
        value = b""
    else:
        value = (f"{codec}|{partition}|{i}|ünïcødé ☃|".encode()
                 + bytes((i * 7 + j) % 256 for j in range(i % 300)))
    if key is None and value is None:       # kafka-python wants one of them
        key = b"k"
    # kafka-python's send() accepts only bytes header values (no null).
    headers = [("idx", str(i).encode()), ("bin\u00fc", b"\x00\xff" + bytes([i % 256])),
               ("empty", b"")]
    return key, value, headers


@pytest.mark.parametrize("codec", [None, "gzip"])
def test_produce_assign_consume(module_broker, topic_name, codec):
    bootstrap = module_broker.bootstrap
    topic = topic_name(codec or "none")
    nparts, per_part = 3, 2000
    module_broker.create_topic(topic, partitions=nparts)
    ts0 = int(time.time() * 1000) - 100_000

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec,
                             linger_ms=5, request_timeout_ms=int(scaled(30000)))
    sent = {p: [] for p in range(nparts)}
    try:
        futures = []
        for i in range(per_part):
            for p in range(nparts):
                key, value, headers = record_of(p, i, codec)
                fut = producer.send(topic, key=key, value=value, headers=headers, partition=p,
                                    timestamp_ms=ts0 + i)
                futures.append((p, i, fut))
                sent[p].append((key, value, headers, ts0 + i))
        producer.flush(timeout=scaled(60))
        for p, i, fut in futures:
            md = fut.get(timeout=scaled(30))
            assert (md.topic, md.partition) == (topic, p)
            assert md.offset == i, f"partition {p}: record {i} got offset {md.offset}"
    finally:
        producer.close(timeout=scaled(10))

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", fetch_max_wait_ms=100)
    try:
        tps = [TopicPartition(topic, p) for p in range(nparts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got = {p: [] for p in range(nparts)}
        deadline = time.monotonic() + scaled(60)
        while sum(map(len, got.values())) < nparts * per_part and time.monotonic() < deadline:
            for tp, recs in consumer.poll(timeout_ms=200).items():
                assert tp.topic == topic
                got[tp.partition].extend(recs)
        # Nothing beyond what was sent.
        extra = consumer.poll(timeout_ms=300)
        assert not any(extra.values()), extra
        assert consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
        assert consumer.end_offsets(tps) == {tp: per_part for tp in tps}
    finally:
        consumer.close()

    for p in range(nparts):
        assert len(got[p]) == per_part, f"partition {p}: {len(got[p])} of {per_part} records"
        for i, (r, (key, value, headers, ts)) in enumerate(zip(got[p], sent[p])):
            assert r.offset == i
            assert r.key == key, (p, i)
            assert r.value == value, (p, i)
            assert [tuple(h) for h in r.headers] == [tuple(h) for h in headers], (p, i)
            assert (r.timestamp, r.timestamp_type) == (ts, 0), (p, i)


def _errors(resp, field):
    return {t[0]: t[1] for t in getattr(resp, field)}


def test_admin_create_list_delete(module_broker, topic_name):
    admin = KafkaAdminClient(bootstrap_servers=module_broker.bootstrap,
                             request_timeout_ms=int(scaled(30000)))
    a, b = topic_name("a"), topic_name("b")
    try:
        resp = admin.create_topics([
            NewTopic(a, num_partitions=4, replication_factor=1),
            NewTopic(b, num_partitions=1, replication_factor=1,
                     topic_configs={"retention.ms": "3600000", "cleanup.policy": "delete"}),
        ], timeout_ms=int(scaled(10000)))
        assert _errors(resp, "topic_errors") == {a: 0, b: 0}, resp
        harness.wait_for_topic(module_broker.bootstrap, a, 4)
        harness.wait_for_topic(module_broker.bootstrap, b, 1)

        # Creating it again: TOPIC_ALREADY_EXISTS (36); kafka-python raises
        # the error of the first topic that has one.
        with pytest.raises(kafka.errors.TopicAlreadyExistsError) as ei:
            admin.create_topics([NewTopic(a, num_partitions=1, replication_factor=1)])
        assert "error_code=36" in str(ei.value)
        with pytest.raises(kafka.errors.InvalidReplicationFactorError):
            admin.create_topics([NewTopic(topic_name("rf3"), num_partitions=1, replication_factor=3)])

        assert {a, b} <= set(admin.list_topics())
        desc = {t["topic"]: t for t in admin.describe_topics([a, b])}
        assert sorted(p["partition"] for p in desc[a]["partitions"]) == [0, 1, 2, 3]
        assert desc[a]["error_code"] == 0 and desc[b]["error_code"] == 0
        cluster = admin.describe_cluster()
        assert [(br["host"], br["port"]) for br in cluster["brokers"]] == [
            ("127.0.0.1", module_broker.port)]
        assert cluster["controller_id"] == cluster["brokers"][0]["node_id"]

        consumer = KafkaConsumer(bootstrap_servers=module_broker.bootstrap, group_id=None)
        try:
            assert consumer.partitions_for_topic(a) == {0, 1, 2, 3}
            assert {a, b} <= consumer.topics()
        finally:
            consumer.close()

        resp = admin.delete_topics([a, b], timeout_ms=int(scaled(10000)))
        assert _errors(resp, "topic_error_codes") == {a: 0, b: 0}, resp
        harness.wait_for_topic_absent(module_broker.bootstrap, a)
        harness.wait_for_topic_absent(module_broker.bootstrap, b)
        assert not {a, b} & set(admin.list_topics())

        # Deleting it again: UNKNOWN_TOPIC_OR_PARTITION (3).
        with pytest.raises(kafka.errors.UnknownTopicOrPartitionError):
            admin.delete_topics([a], timeout_ms=int(scaled(10000)))
    finally:
        admin.close()
