"""Topic and broker configs through real clients: confluent-kafka 1.7
(AdminClient describe_configs / alter_configs, librdkafka 2.0.2),
kafka-python 2.0.2 (KafkaAdminClient) and KafkaJS 2.2.4 (node/configs.js).

- every topic storage key can be set (a valid non-default value), is
  described with source DYNAMIC_TOPIC_CONFIG, survives a restart, and can be
  deleted back to the broker's value (STATIC_BROKER_CONFIG where the broker
  was started with that setting, else DEFAULT_CONFIG with Kafka's default);
- AlterConfigs replaces the whole override set (Kafka's semantics);
- invalid values (wrong type, out of range, bad enum or list element,
  unknown key) are refused with INVALID_CONFIG and a message naming the key,
  and change nothing;
- dynamic broker configs: log.retention.ms on BROKER "<node id>" and on
  BROKER "" (cluster default) show through a topic without an override with
  sources DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG, with the
  synonym chain in Kafka's precedence order, and survive a restart;
- a change takes effect at once: max.message.bytes lowered (topic or broker
  message.max.bytes) refuses a bigger record with MSG_SIZE_TOO_LARGE,
  message.timestamp.type switched to LogAppendTime rewrites timestamps,
  without a restart.

confluent-kafka returns synonyms as a dict keyed by name (entries of the
same name from several sources collapse), and librdkafka cannot address
BROKER "" (it wants an integer broker id); kafka-python returns them as a
list and sends BROKER "" as is, so the synonym order and the cluster
default are checked with kafka-python. kafka-python 2.0.2 decodes
DescribeConfigs v1+'s ConfigSource byte as a boolean it calls is_default, so
its top-level source is read from the first synonym instead."""

import json
import time

import pytest

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import KafkaError, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import ConfigResource, ConfigSource  # noqa: E402

import harness  # noqa: E402
from harness import HERE, run, scaled  # noqa: E402

T = scaled(20)  # admin request / operation timeout, seconds
LONG_MAX = "9223372036854775807"

DYN_TOPIC = ConfigSource.DYNAMIC_TOPIC_CONFIG.value
DYN_BROKER = ConfigSource.DYNAMIC_BROKER_CONFIG.value
DYN_DEFAULT = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
STATIC = ConfigSource.STATIC_BROKER_CONFIG.value
DEFAULT = ConfigSource.DEFAULT_CONFIG.value

# Every topic storage key: (Kafka's default, a valid value that is not the default).
TOPIC_KEYS = {
    "cleanup.policy": ("delete", "compact,delete"),
    "retention.ms": ("604800000", "3600000"),
    "retention.bytes": ("-1", "104857600"),
    "segment.bytes": ("1073741824", "16777216"),
    "segment.ms": ("604800000", "3600000"),
    "segment.index.bytes": ("10485760", "1048576"),
    "index.interval.bytes": ("4096", "8192"),
    "delete.retention.ms": ("86400000", "3600000"),
    "min.compaction.lag.ms": ("0", "1000"),
    "max.compaction.lag.ms": (LONG_MAX, "86400000"),
    "min.cleanable.dirty.ratio": ("0.5", "0.25"),
    "file.delete.delay.ms": ("60000", "1000"),
    "flush.messages": (LONG_MAX, "1000"),
    "flush.ms": (LONG_MAX, "1000"),
    "max.message.bytes": ("1048588", "2000000"),
    "message.timestamp.type": ("CreateTime", "LogAppendTime"),
    "message.timestamp.before.max.ms": (LONG_MAX, "86400000"),
    "message.timestamp.after.max.ms": (LONG_MAX, "3600000"),
    "compression.type": ("producer", "zstd"),
    "compression.gzip.level": ("-1", "5"),
    "compression.lz4.level": ("9", "12"),
    "compression.zstd.level": ("3", "10"),
}
CODECS = ["uncompressed", "gzip", "snappy", "lz4", "zstd", "producer"]

# Broker settings the static-fallback test starts with: topic key -> (broker key, value).
STATIC_OVERRIDES = {
    "retention.ms": ("log.retention.ms", "7200000"),
    "segment.bytes": ("log.segment.bytes", "33554432"),
    "compression.type": ("compression.type", "gzip"),
}

# Invalid topic values: (key, value). Each is refused with INVALID_CONFIG.
INVALID = [
    ("retention.ms", "abc"),                    # not a number
    ("retention.ms", "1.5"),                    # not a LONG
    ("segment.bytes", "99999999999"),           # beyond INT
    ("segment.bytes", "ten"),
    ("segment.ms", "0"),                        # at least 1
    ("delete.retention.ms", "-5"),              # at least 0
    ("min.cleanable.dirty.ratio", "1.5"),       # in [0, 1]
    ("min.cleanable.dirty.ratio", "half"),
    ("max.message.bytes", "-1"),                # at least 0
    ("message.timestamp.type", "WallClock"),    # enum
    ("compression.type", "brotli"),             # enum
    ("cleanup.policy", "shred"),                # list element
    ("compression.gzip.level", "10"),           # 1..9 or -1
    ("compression.lz4.level", "0"),             # 1..17
    ("compression.zstd.level", "23"),           # ..22
    ("no.such.config", "1"),                    # unknown key
]


# ---------------------------------------------------------------- helpers

def describe_topic(admin, name):
    res = ConfigResource("topic", name)
    return admin.describe_configs([res], request_timeout=T)[res].result(timeout=T)


def describe_broker(admin, node_id):
    res = ConfigResource("broker", str(node_id))
    return admin.describe_configs([res], request_timeout=T)[res].result(timeout=T)


def alter(admin, restype, name, configs):
    """AlterConfigs (replaces the resource's whole override set); raises
    KafkaException on a per-resource error."""
    res = ConfigResource(restype, name, set_config=dict(configs))
    admin.alter_configs([res], request_timeout=T)[res].result(timeout=T)


def alter_error(admin, restype, name, configs):
    """The KafkaError of an AlterConfigs that must fail."""
    with pytest.raises(KafkaException) as ei:
        alter(admin, restype, name, configs)
    return ei.value.args[0]


def view(entries, keys):
    """{key: (value, source)} of the given keys; (None, None) for a key the
    broker did not describe."""
    return {k: (entries[k].value, entries[k].source) if k in entries else (None, None)
            for k in keys}


def node_id(admin):
    (bid,) = admin.list_topics(timeout=T).brokers
    return bid


def kp_admin(broker):
    kadmin = pytest.importorskip("kafka.admin")
    return kadmin.KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="runnel-configs",
                                   request_timeout_ms=int(T * 1000))


def kp_entries(kp, restype, name):
    """kafka-python DescribeConfigs with synonyms: {key: (value, source, read_only,
    sensitive, [(syn name, syn value, syn source)])}; the source is the first
    synonym's (see the module docstring)."""
    from kafka.admin import ConfigResource as KpResource, ConfigResourceType
    rt = ConfigResourceType.TOPIC if restype == "topic" else ConfigResourceType.BROKER
    (resp,) = kp.describe_configs([KpResource(rt, name)], include_synonyms=True)
    (res,) = resp.resources
    assert res[0] == 0, res
    out = {}
    for key, value, read_only, _, sensitive, synonyms in res[4]:
        syn = [tuple(s) for s in synonyms]
        out[key] = (value, syn[0][2] if syn else None, read_only, sensitive, syn)
    return out


def kp_alter(kp, restype, name, configs):
    """kafka-python AlterConfigs; returns (error_code, error_message)."""
    from kafka.admin import ConfigResource as KpResource, ConfigResourceType
    rt = ConfigResourceType.TOPIC if restype == "topic" else ConfigResourceType.BROKER
    resp = kp.alter_configs([KpResource(rt, name, configs=dict(configs))])
    (res,) = resp.resources
    return res[0], res[1]


def produce_one(bootstrap, topic, value, timestamp=None):
    """Produces one record acks=all; returns (error or None, offset, timestamp)."""
    reports = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                  "message.timeout.ms": int(T * 1000)})
    kw = {"timestamp": timestamp} if timestamp is not None else {}
    p.produce(topic, value=value, on_delivery=lambda err, msg: reports.append(
        (err, msg.offset(), msg.timestamp())), **kw)
    assert p.flush(T) == 0
    (rep,) = reports
    return rep


# ---------------------------------------------------------------- every topic key

def test_every_topic_key_set_describe_delete_restart(broker_factory, topic_name):
    """Each key alone, then all at once, across restarts, then all deleted back
    to the broker's value (static where the broker was started with one)."""
    static = {bkey: v for bkey, v in STATIC_OVERRIDES.values()}
    broker = broker_factory(static)
    admin = broker.admin()
    name = topic_name()
    broker.create_topic(name, partitions=1)
    fallback = {k: (STATIC_OVERRIDES[k][1], STATIC) if k in STATIC_OVERRIDES else (d, DEFAULT)
                for k, (d, _) in TOPIC_KEYS.items()}
    assert view(describe_topic(admin, name), TOPIC_KEYS) == fallback

    # One key at a time: AlterConfigs replaces the whole set, so every other
    # key is back at the broker's value each time.
    for key, (_, value) in TOPIC_KEYS.items():
        alter(admin, "topic", name, {key: value})
        got = view(describe_topic(admin, name), TOPIC_KEYS)
        assert got == {**fallback, key: (value, DYN_TOPIC)}, key

    for codec in CODECS:
        alter(admin, "topic", name, {"compression.type": codec})
        got = describe_topic(admin, name)["compression.type"]
        assert (got.value, got.source) == (codec, DYN_TOPIC)

    every = {k: v for k, (_, v) in TOPIC_KEYS.items()}
    alter(admin, "topic", name, every)
    want = {k: (v, DYN_TOPIC) for k, v in every.items()}
    assert view(describe_topic(admin, name), TOPIC_KEYS) == want
    broker.restart()
    admin = broker.admin()
    assert view(describe_topic(admin, name), TOPIC_KEYS) == want

    alter(admin, "topic", name, {})
    assert view(describe_topic(admin, name), TOPIC_KEYS) == fallback
    broker.restart()
    admin = broker.admin()
    assert view(describe_topic(admin, name), TOPIC_KEYS) == fallback


def test_cleanup_policy_forms(module_broker, topic_name):
    """cleanup.policy is a list: either order, either element, described as given."""
    admin = module_broker.admin()
    name = topic_name()
    module_broker.create_topic(name, partitions=1)
    for policy in ("compact", "delete", "compact,delete", "delete,compact"):
        alter(admin, "topic", name, {"cleanup.policy": policy})
        e = describe_topic(admin, name)["cleanup.policy"]
        assert (e.value, e.source) == (policy, DYN_TOPIC)


# ---------------------------------------------------------------- invalid values

@pytest.mark.parametrize("key,value", INVALID, ids=[f"{k}={v}" for k, v in INVALID])
def test_invalid_topic_value_refused(module_broker, topic_name, key, value):
    admin = module_broker.admin()
    name = topic_name()
    module_broker.create_topic(name, partitions=1, config={"retention.ms": "3600000"})
    err = alter_error(admin, "topic", name, {"segment.ms": "7200000", key: value})
    assert err.code() == KafkaError.INVALID_CONFIG, err
    assert key in err.str(), err.str()
    # All or nothing: the old override stays, the valid key of the request was not applied.
    got = view(describe_topic(admin, name), ["retention.ms", "segment.ms"])
    assert got == {"retention.ms": ("3600000", DYN_TOPIC),
                   "segment.ms": ("604800000", DEFAULT)}


def test_validate_only_changes_nothing(module_broker, topic_name):
    admin = module_broker.admin()
    name = topic_name()
    module_broker.create_topic(name, partitions=1)
    res = ConfigResource("topic", name, set_config={"retention.ms": "1000"})
    admin.alter_configs([res], request_timeout=T, validate_only=True)[res].result(timeout=T)
    e = describe_topic(admin, name)["retention.ms"]
    assert (e.value, e.source) == ("604800000", DEFAULT)
    res = ConfigResource("topic", name, set_config={"retention.ms": "soon"})
    with pytest.raises(KafkaException) as ei:
        admin.alter_configs([res], request_timeout=T, validate_only=True)[res].result(timeout=T)
    assert ei.value.args[0].code() == KafkaError.INVALID_CONFIG


def test_unknown_topic(module_broker, topic_name):
    err = alter_error(module_broker.admin(), "topic", topic_name("missing"), {"retention.ms": "1"})
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


# ---------------------------------------------------------------- dynamic broker configs

def retention_chain(kp, name):
    e = kp_entries(kp, "topic", name)["retention.ms"]
    return e[0], e[1], e[4]


def test_dynamic_broker_config(broker_factory, topic_name):
    """log.retention.ms: static 7200000 < cluster default 5400000 < node 3600000,
    as a topic without an override sees them, with the synonym chain."""
    broker = broker_factory({"log.retention.ms": 7200000})
    admin = broker.admin()
    kp = kp_admin(broker)
    bid = node_id(admin)
    name = topic_name()
    broker.create_topic(name, partitions=1)
    static = ("log.retention.ms", "7200000", STATIC)
    default = ("log.retention.hours", "168", DEFAULT)
    try:
        assert retention_chain(kp, name) == ("7200000", STATIC, [static, default])

        assert kp_alter(kp, "broker", "", {"log.retention.ms": "5400000"})[0] == 0
        cluster = ("log.retention.ms", "5400000", DYN_DEFAULT)
        assert retention_chain(kp, name) == ("5400000", DYN_DEFAULT, [cluster, static, default])

        alter(admin, "broker", str(bid), {"log.retention.ms": "3600000"})
        node = ("log.retention.ms", "3600000", DYN_BROKER)
        assert retention_chain(kp, name) == ("3600000", DYN_BROKER, [node, cluster, static, default])
        e = describe_broker(admin, bid)["log.retention.ms"]
        assert (e.value, e.source, e.is_read_only) == ("3600000", DYN_BROKER, False)
        e = describe_topic(admin, name)["retention.ms"]
        assert (e.value, e.source) == ("3600000", DYN_BROKER)

        # A topic override still wins, and leads the chain.
        alter(admin, "topic", name, {"retention.ms": "60000"})
        assert retention_chain(kp, name) == ("60000", DYN_TOPIC, [
            ("retention.ms", "60000", DYN_TOPIC), node, cluster, static, default])
        alter(admin, "topic", name, {})

        kp.close()
        broker.restart()
        admin, kp = broker.admin(), kp_admin(broker)
        assert retention_chain(kp, name) == ("3600000", DYN_BROKER, [node, cluster, static, default])

        alter(admin, "broker", str(bid), {})          # drops the node's dynamic configs
        assert retention_chain(kp, name) == ("5400000", DYN_DEFAULT, [cluster, static, default])
        assert kp_alter(kp, "broker", "", {})[0] == 0
        assert retention_chain(kp, name) == ("7200000", STATIC, [static, default])
        kp.close()
        broker.restart()
        admin, kp = broker.admin(), kp_admin(broker)
        assert retention_chain(kp, name) == ("7200000", STATIC, [static, default])
    finally:
        kp.close()


def test_dynamic_broker_config_refused(module_broker):
    admin = module_broker.admin()
    bid = node_id(admin)
    err = alter_error(admin, "broker", str(bid), {"log.retention.ms": "abc"})
    assert err.code() == KafkaError.INVALID_CONFIG and "log.retention.ms" in err.str(), err
    err = alter_error(admin, "broker", str(bid), {"log.dirs": "/tmp/elsewhere"})
    assert err.code() == KafkaError.INVALID_CONFIG and "log.dirs" in err.str(), err
    e = describe_broker(admin, bid)["log.retention.ms"]
    assert e.source != DYN_BROKER


# ---------------------------------------------------------------- takes effect at once

def test_max_message_bytes_takes_effect_at_once(broker, topic_name):
    admin = broker.admin()
    name = topic_name()
    broker.create_topic(name, partitions=1)
    big = b"B" * 5000
    assert produce_one(broker.bootstrap, name, big)[0] is None

    alter(admin, "topic", name, {"max.message.bytes": "2000"})
    err = produce_one(broker.bootstrap, name, big)[0]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert produce_one(broker.bootstrap, name, b"s" * 100)[0] is None

    alter(admin, "topic", name, {})
    assert produce_one(broker.bootstrap, name, big)[0] is None

    # The broker's message.max.bytes is the fallback of a topic without override.
    alter(admin, "broker", str(node_id(admin)), {"message.max.bytes": "3000"})
    err = produce_one(broker.bootstrap, name, big)[0]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    alter(admin, "broker", str(node_id(admin)), {})
    err, offset, _ = produce_one(broker.bootstrap, name, big)
    assert err is None and offset == 3

    got = harness.consume_assigned(broker.bootstrap, name, [4])[0]
    assert [m.value() for m in got] == [big, b"s" * 100, big, big]


def test_timestamp_type_takes_effect_at_once(module_broker, topic_name):
    admin = module_broker.admin()
    name = topic_name()
    module_broker.create_topic(name, partitions=1)
    err, _, (tstype, ts) = produce_one(module_broker.bootstrap, name, b"a", timestamp=1000)
    assert err is None and (tstype, ts) == (ck.TIMESTAMP_CREATE_TIME, 1000)
    alter(admin, "topic", name, {"message.timestamp.type": "LogAppendTime"})
    t0 = int(time.time() * 1000)
    err, _, (tstype, ts) = produce_one(module_broker.bootstrap, name, b"b", timestamp=1000)
    t1 = int(time.time() * 1000)
    assert err is None and tstype == ck.TIMESTAMP_LOG_APPEND_TIME and t0 <= ts <= t1
    got = harness.consume_assigned(module_broker.bootstrap, name, [2])[0]
    assert [m.value() for m in got] == [b"a", b"b"]
    assert got[0].timestamp() == (ck.TIMESTAMP_CREATE_TIME, 1000)
    assert got[1].timestamp()[0] == ck.TIMESTAMP_LOG_APPEND_TIME
    assert t0 <= got[1].timestamp()[1] <= t1


# ---------------------------------------------------------------- kafka-python

def test_kafka_python_alter_describe(module_broker, topic_name):
    name = topic_name()
    module_broker.create_topic(name, partitions=1)
    kp = kp_admin(module_broker)
    try:
        sets = {"retention.ms": "3600000", "cleanup.policy": "compact",
                "compression.type": "lz4", "min.cleanable.dirty.ratio": "0.3"}
        assert kp_alter(kp, "topic", name, sets)[0] == 0
        entries = kp_entries(kp, "topic", name)
        for k, v in sets.items():
            value, source, read_only, sensitive, syn = entries[k]
            assert (value, source, read_only, sensitive) == (v, DYN_TOPIC, False, False), k
            assert syn[0] == (k, v, DYN_TOPIC), syn
        assert entries["segment.bytes"][:2] == ("1073741824", DEFAULT)

        code, msg = kp_alter(kp, "topic", name, {"retention.ms": "forever"})
        assert code == KafkaError.INVALID_CONFIG and "retention.ms" in msg, (code, msg)
        assert kp_entries(kp, "topic", name)["retention.ms"][:2] == ("3600000", DYN_TOPIC)

        assert kp_alter(kp, "topic", name, {})[0] == 0
        entries = kp_entries(kp, "topic", name)
        sources = describe_topic(module_broker.admin(), name)
        for k, (default, _) in TOPIC_KEYS.items():
            # A key whose broker synonym has no default (flush.ms: Kafka's
            # log.flush.interval.ms is null) has no synonyms to read the
            # source from: confluent-kafka's source stands in.
            source = entries[k][1] if entries[k][4] else sources[k].source
            assert (entries[k][0], source) == (default, DEFAULT), k
    finally:
        kp.close()


# ---------------------------------------------------------------- KafkaJS

def test_kafkajs_alter_describe(module_broker, node, tmp_path, topic_name):
    name = topic_name()
    module_broker.create_topic(name, partitions=1)
    nid = node_id(module_broker.admin())
    plan = {"bootstrap": module_broker.bootstrap, "topic": name, "nodeId": str(nid),
            "set": {"retention.ms": "3600000", "cleanup.policy": "compact,delete",
                    "compression.type": "snappy", "max.message.bytes": "500000"},
            "bad": {"segment.bytes": "lots"}}
    plan_path = tmp_path / "configs.plan.json"
    plan_path.write_text(json.dumps(plan))
    cp = run([node, str(HERE / "node" / "configs.js"), str(plan_path)], timeout=scaled(90),
             check=False, cwd=str(HERE / "node"))
    assert cp.returncode == 0, cp.stderr.decode("utf-8", "replace")[-4000:]
    out = json.loads(cp.stdout)

    assert out["alter"]["error"] is None, out["alter"]
    after = {e["configName"]: e for e in out["afterSet"]}
    for k, v in plan["set"].items():
        e = after[k]
        assert (e["configValue"], e["configSource"], e["readOnly"], e["isSensitive"]) == \
            (v, DYN_TOPIC, False, False), e
        assert e["configSynonyms"][0] == {"configName": k, "configValue": v,
                                          "configSource": DYN_TOPIC}, e
    assert after["segment.bytes"]["configSource"] == DEFAULT

    bad = out["bad"]["error"]
    assert bad is not None and bad["type"] == "INVALID_CONFIG", out["bad"]

    broker_entries = {e["configName"]: e for e in out["broker"]}
    assert broker_entries["log.retention.hours"]["configValue"] == "168"

    assert out["clear"]["error"] is None, out["clear"]
    cleared = {e["configName"]: e for e in out["afterClear"]}
    for k in plan["set"]:
        assert (cleared[k]["configValue"], cleared[k]["configSource"]) == \
            (TOPIC_KEYS[k][0], DEFAULT), cleared[k]
