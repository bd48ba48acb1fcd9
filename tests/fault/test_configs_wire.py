"""Topic and broker configs over raw sockets.

APIs: DescribeConfigs (32, v0-4), AlterConfigs (33, v0-2),
IncrementalAlterConfigs (44, v0-1). Debian's clients (librdkafka 2.0.2,
confluent-kafka 1.7, kafka-python 2.0.2, KafkaJS 2.2.4) have no
IncrementalAlterConfigs, so every request is encoded here (kwire) and
every answer checked field by field against what Kafka answers:

  - every topic-level key: SET (source DYNAMIC_TOPIC_CONFIG, first
    synonym), DELETE back to its default, described with its synonyms;
  - sources and synonym order across all levels: static (--override at
    start), dynamic cluster default (BROKER ""), dynamic of this node
    (BROKER "<id>"), topic override;
  - APPEND / SUBTRACT on cleanup.policy, refused on a non-list key;
  - validate_only changes nothing; a multi-key change with one bad value
    changes nothing; invalid values and unknown keys get INVALID_CONFIG
    with a message naming the key and the reason;
  - AlterConfigs replaces the whole set;
  - changes survive a restart; a new segment.bytes rolls the active
    segment at once (a new .log file appears without a restart);
  - the BROKER_LOGGER root level.
"""

import time

import pytest

import harness
from kwire import (API_ALTER_CONFIGS, API_DESCRIBE_CONFIGS, API_INCREMENTAL_ALTER_CONFIGS,
                   CONFIG_FLEX_MIN, OP_APPEND, OP_DELETE, OP_SET, OP_SUBTRACT, RES_BROKER,
                   RES_BROKER_LOGGER, RES_TOPIC, Conn, alter_configs_body, build_batch,
                   describe_configs_body, incremental_alter_configs_body, parse_alter_configs,
                   parse_describe_configs, parse_produce_v3, produce_v3)

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_CONFIG = 40
INVALID_REQUEST = 42

SRC_TOPIC, SRC_DYN_BROKER, SRC_DYN_DEFAULT, SRC_STATIC, SRC_DEFAULT = 1, 2, 3, 4, 5

STATIC_RETENTION = "7200000"   # --override log.retention.ms at start

# A valid non-default value for every topic-level key (Kafka 3.9's list
# that applies to one node, plus the compression levels).
TOPIC_VALUES = {
    "cleanup.policy": "compact",
    "compression.gzip.level": "5",
    "compression.lz4.level": "3",
    "compression.type": "gzip",
    "compression.zstd.level": "10",
    "delete.retention.ms": "1000",
    "file.delete.delay.ms": "1000",
    "flush.messages": "1000",
    "flush.ms": "1000",
    "index.interval.bytes": "1000",
    "max.compaction.lag.ms": "100000",
    "max.message.bytes": "100000",
    "message.timestamp.after.max.ms": "100000",
    "message.timestamp.before.max.ms": "100000",
    "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.25",
    "min.compaction.lag.ms": "1000",
    "min.insync.replicas": "2",
    "preallocate": "true",
    "retention.bytes": "1000000",
    "retention.ms": "100000",
    "segment.bytes": "1000000",
    "segment.index.bytes": "100000",
    "segment.ms": "100000",
    "unclean.leader.election.enable": "true",
}


# ---------------------------------------------------------------- helpers

def describe(b, rtype, name, keys=None, version=4):
    body = describe_configs_body(version, [(rtype, name, keys)])
    with Conn(b.port) as c:
        resp = c.request(API_DESCRIBE_CONFIGS, version, body,
                         flexible=version >= CONFIG_FLEX_MIN[API_DESCRIBE_CONFIGS])
    res = parse_describe_configs(resp, version)
    assert len(res) == 1
    return res[0]


def topic_configs(b, topic, keys=None):
    d = describe(b, RES_TOPIC, topic, keys)
    assert d["error"] == NONE, d
    return d["configs"]


def incremental(b, resources, validate_only=False, version=1):
    """resources: [(type, name, [(key, op, value)])] -> [(error, message, type, name)]."""
    flex = version >= CONFIG_FLEX_MIN[API_INCREMENTAL_ALTER_CONFIGS]
    with Conn(b.port) as c:
        resp = c.request(API_INCREMENTAL_ALTER_CONFIGS, version,
                         incremental_alter_configs_body(version, resources, validate_only),
                         flexible=flex)
    return parse_alter_configs(resp, flex)


def incr_one(b, rtype, name, changes, validate_only=False, version=1):
    (err, msg, t, n), = incremental(b, [(rtype, name, changes)], validate_only, version)
    assert (t, n) == (rtype, name)
    return err, msg


def alter(b, rtype, name, pairs, validate_only=False, version=2):
    flex = version >= CONFIG_FLEX_MIN[API_ALTER_CONFIGS]
    with Conn(b.port) as c:
        resp = c.request(API_ALTER_CONFIGS, version,
                         alter_configs_body(version, [(rtype, name, pairs)], validate_only),
                         flexible=flex)
    (err, msg, t, n), = parse_alter_configs(resp, flex)
    assert (t, n) == (rtype, name)
    return err, msg


def set_topic(b, topic, **kv):
    changes = [(k.replace("_", "."), OP_SET, v) for k, v in kv.items()]
    assert incr_one(b, RES_TOPIC, topic, changes) == (NONE, None)


def segment_files(b, topic, partition=0):
    return sorted(p.name for p in (b.data_dir / f"{topic}-{partition}").glob("*.log"))


@pytest.fixture(scope="module")
def cbroker(_module_broker_factory):
    """One broker for the module, with one static topic-key synonym."""
    return _module_broker_factory(name="configs", **{"log.retention.ms": STATIC_RETENTION})


# ---------------------------------------------------------------- every key

def test_every_topic_key_set_described_deleted(cbroker, topic_name):
    t = topic_name()
    cbroker.create_topic(t)
    before = topic_configs(cbroker, t)
    assert set(before) == set(TOPIC_VALUES), "the described keys are exactly the topic keys"
    for k, e in before.items():
        assert e["source"] in (SRC_DEFAULT, SRC_STATIC), (k, e)
        assert e["value"] != TOPIC_VALUES[k], k
        assert not e["read_only"]
    changes = [(k, OP_SET, v) for k, v in TOPIC_VALUES.items()]
    assert incr_one(cbroker, RES_TOPIC, t, changes) == (NONE, None)
    after = topic_configs(cbroker, t)
    for k, v in TOPIC_VALUES.items():
        e = after[k]
        assert (e["value"], e["source"]) == (v, SRC_TOPIC), (k, e)
        assert e["synonyms"][0] == (k, v, SRC_TOPIC), (k, e["synonyms"])
        # then the broker synonym's entries (none for flush.ms: the broker's
        # log.flush.interval.ms is null, and Kafka lists no null synonym)
        assert all(s[2] in (SRC_STATIC, SRC_DEFAULT) for s in e["synonyms"][1:]), (k, e["synonyms"])
        assert len(e["synonyms"]) >= 2 or k == "flush.ms", (k, e["synonyms"])
    deletes = [(k, OP_DELETE, None) for k in TOPIC_VALUES]
    assert incr_one(cbroker, RES_TOPIC, t, deletes) == (NONE, None)
    again = topic_configs(cbroker, t)
    for k in TOPIC_VALUES:
        assert (again[k]["value"], again[k]["source"]) == (before[k]["value"], before[k]["source"]), k
    assert again["retention.ms"]["value"] == STATIC_RETENTION
    assert again["retention.ms"]["source"] == SRC_STATIC


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_describe_versions(cbroker, topic_name, version):
    t = topic_name()
    cbroker.create_topic(t, config={"retention.ms": "123456"})
    d = describe(cbroker, RES_TOPIC, t, ["retention.ms", "segment.bytes"], version=version)
    assert d["error"] == NONE and set(d["configs"]) == {"retention.ms", "segment.bytes"}
    r = d["configs"]["retention.ms"]
    assert r["value"] == "123456"
    if version == 0:
        assert r["is_default"] is False
    else:
        assert r["source"] == SRC_TOPIC
        assert r["synonyms"][:2] == [("retention.ms", "123456", SRC_TOPIC),
                                     ("log.retention.ms", STATIC_RETENTION, SRC_STATIC)]


# ---------------------------------------------------------------- sources

def test_sources_and_synonyms_across_levels(broker_factory, topic_name):
    b = broker_factory(**{"log.retention.ms": STATIC_RETENTION})
    t = topic_name()
    b.create_topic(t)
    node = str(1)

    def retention():
        e = topic_configs(b, t, ["retention.ms"])["retention.ms"]
        return e["value"], e["source"], e["synonyms"]

    static = ("log.retention.ms", STATIC_RETENTION, SRC_STATIC)
    dflt = ("log.retention.hours", "168", SRC_DEFAULT)  # Kafka: the alias whose default is not null
    assert retention() == (STATIC_RETENTION, SRC_STATIC, [static, dflt])

    assert incr_one(b, RES_BROKER, "", [("log.retention.ms", OP_SET, "5000000")]) == (NONE, None)
    dyn_default = ("log.retention.ms", "5000000", SRC_DYN_DEFAULT)
    assert retention() == ("5000000", SRC_DYN_DEFAULT, [dyn_default, static, dflt])

    assert incr_one(b, RES_BROKER, node, [("log.retention.ms", OP_SET, "6000000")]) == (NONE, None)
    dyn_node = ("log.retention.ms", "6000000", SRC_DYN_BROKER)
    assert retention() == ("6000000", SRC_DYN_BROKER, [dyn_node, dyn_default, static, dflt])

    set_topic(b, t, retention_ms="1000")
    assert retention() == ("1000", SRC_TOPIC,
                           [("retention.ms", "1000", SRC_TOPIC), dyn_node, dyn_default, static, dflt])

    # the broker resource: this node's value and source, read_only by key
    br = describe(b, RES_BROKER, node, ["log.retention.ms", "listeners", "log.cleaner.threads"])
    assert br["error"] == NONE
    lr = br["configs"]["log.retention.ms"]
    assert (lr["value"], lr["source"], lr["read_only"]) == ("6000000", SRC_DYN_BROKER, False)
    assert br["configs"]["listeners"]["read_only"] is True
    assert br["configs"]["log.cleaner.threads"]["read_only"] is False
    # "" lists the dynamic cluster defaults that are set
    d = describe(b, RES_BROKER, "")
    assert d["error"] == NONE
    assert {k: (e["value"], e["source"]) for k, e in d["configs"].items()} == \
        {"log.retention.ms": ("5000000", SRC_DYN_DEFAULT)}

    # deleting the node's value: the cluster default shows again
    assert incr_one(b, RES_BROKER, node, [("log.retention.ms", OP_DELETE, None)]) == (NONE, None)
    set_topic(b, t)  # no-op request: still answered NONE
    assert incr_one(b, RES_TOPIC, t, [("retention.ms", OP_DELETE, None)]) == (NONE, None)
    assert retention() == ("5000000", SRC_DYN_DEFAULT, [dyn_default, static, dflt])


# ---------------------------------------------------------------- lists

def test_append_subtract_cleanup_policy(cbroker, topic_name):
    t = topic_name()
    cbroker.create_topic(t)

    def policy():
        e = topic_configs(cbroker, t, ["cleanup.policy"])["cleanup.policy"]
        return e["value"], e["source"]

    assert policy() == ("delete", SRC_DEFAULT)
    assert incr_one(cbroker, RES_TOPIC, t, [("cleanup.policy", OP_APPEND, "compact")]) == (NONE, None)
    assert policy() == ("delete,compact", SRC_TOPIC)
    assert incr_one(cbroker, RES_TOPIC, t, [("cleanup.policy", OP_APPEND, "delete")]) == (NONE, None)
    assert policy() == ("delete,compact", SRC_TOPIC)
    assert incr_one(cbroker, RES_TOPIC, t, [("cleanup.policy", OP_SUBTRACT, "delete")]) == (NONE, None)
    assert policy() == ("compact", SRC_TOPIC)
    err, msg = incr_one(cbroker, RES_TOPIC, t, [("cleanup.policy", OP_SUBTRACT, "compact")])
    assert err == INVALID_CONFIG and "cleanup.policy" in msg
    assert policy() == ("compact", SRC_TOPIC)
    err, msg = incr_one(cbroker, RES_TOPIC, t, [("retention.ms", OP_APPEND, "5")])
    assert err == INVALID_REQUEST and "retention.ms" in msg and "list" in msg
    err, msg = incr_one(cbroker, RES_TOPIC, t, [("cleanup.policy", OP_SET, "compact,compact")])
    assert err == INVALID_CONFIG and "cleanup.policy" in msg


# ---------------------------------------------------------------- refusals

def test_validate_only_changes_nothing(cbroker, topic_name):
    t = topic_name()
    cbroker.create_topic(t)
    err, _ = incr_one(cbroker, RES_TOPIC, t, [("retention.ms", OP_SET, "5000")], validate_only=True)
    assert err == NONE
    assert topic_configs(cbroker, t, ["retention.ms"])["retention.ms"]["source"] == SRC_STATIC
    assert alter(cbroker, RES_TOPIC, t, [("segment.ms", "5000")], validate_only=True) == (NONE, None)
    assert topic_configs(cbroker, t, ["segment.ms"])["segment.ms"]["source"] == SRC_DEFAULT
    err, _ = incr_one(cbroker, RES_BROKER, "", [("log.segment.bytes", OP_SET, "100000")],
                      validate_only=True)
    assert err == NONE
    assert describe(cbroker, RES_BROKER, "")["configs"] == {}
    # validate_only still reports what is wrong
    err, msg = incr_one(cbroker, RES_TOPIC, t, [("retention.ms", OP_SET, "x")], validate_only=True)
    assert err == INVALID_CONFIG and "retention.ms" in msg


@pytest.mark.parametrize("key,value,reason", [
    ("retention.ms", "abc", "Not a number of type LONG"),
    ("segment.bytes", "13", "Value must be at least 14"),
    ("segment.bytes", "99999999999", "Not a number of type INT"),
    ("min.cleanable.dirty.ratio", "1.5", "Value must be no more than 1"),
    ("compression.type", "brotli", "String must be one of"),
    ("compression.zstd.level", "23", "Value must be no more than 22"),
    ("message.timestamp.type", "Now", "String must be one of"),
    ("preallocate", "maybe", "Expected value to be either true or false"),
])
def test_invalid_values_named(cbroker, topic_name, key, value, reason):
    t = topic_name()
    cbroker.create_topic(t)
    before = topic_configs(cbroker, t)
    changes = [("retention.bytes", OP_SET, "5000"), (key, OP_SET, value)]
    err, msg = incr_one(cbroker, RES_TOPIC, t, changes)
    assert err == INVALID_CONFIG
    assert msg.startswith(f"Invalid value {value} for configuration {key}: ") and reason in msg, msg
    assert topic_configs(cbroker, t) == before, "a refused change applies nothing"


def test_refused_requests(cbroker, topic_name):
    t = topic_name()
    cbroker.create_topic(t)
    err, msg = incr_one(cbroker, RES_TOPIC, t, [("no.such.key", OP_SET, "1")])
    assert (err, msg) == (INVALID_CONFIG, "Unknown topic config name: no.such.key")
    err, msg = incr_one(cbroker, RES_TOPIC, t, [("retention.ms", OP_SET, None)])
    assert err == INVALID_REQUEST and "retention.ms" in msg
    err, msg = incr_one(cbroker, RES_TOPIC, t, [("retention.ms", OP_SET, "1"), ("retention.ms", OP_SET, "2")])
    assert err == INVALID_REQUEST
    err, _ = incr_one(cbroker, RES_TOPIC, "no-such-topic-xyz", [("retention.ms", OP_SET, "1")])
    assert err == UNKNOWN_TOPIC_OR_PARTITION
    err, msg = incr_one(cbroker, RES_BROKER, "", [("listeners", OP_SET, "PLAINTEXT://:1")])
    assert (err, msg) == (INVALID_CONFIG, "Cannot update these configs dynamically: [listeners]")
    err, msg = incr_one(cbroker, RES_BROKER, "", [("log.retention.ms", OP_SET, "soon")])
    assert err == INVALID_CONFIG and msg.startswith("Invalid value soon for configuration log.retention.ms")
    err, _ = incr_one(cbroker, RES_BROKER, "7", [("log.retention.ms", OP_SET, "1")])
    assert err == INVALID_REQUEST
    err, _ = incr_one(cbroker, 16, "x", [("a", OP_SET, "1")])
    assert err == INVALID_REQUEST
    # internal topics may be altered, as in Kafka
    err, _ = incr_one(cbroker, RES_TOPIC, "__consumer_offsets", [("min.compaction.lag.ms", OP_SET, "0")],
                      validate_only=True)
    assert err in (NONE, UNKNOWN_TOPIC_OR_PARTITION)  # it exists once a group has been used
    # several resources: each gets its own answer
    res = incremental(cbroker, [(RES_TOPIC, t, [("retention.ms", OP_SET, "x")]),
                                (RES_TOPIC, t, [("segment.ms", OP_SET, "70000")])])
    assert [r[0] for r in res] == [INVALID_CONFIG, NONE]
    assert topic_configs(cbroker, t, ["segment.ms"])["segment.ms"]["value"] == "70000"


@pytest.mark.parametrize("version", [0, 1, 2])
def test_alter_configs_replaces_whole_set(cbroker, topic_name, version):
    t = topic_name()
    cbroker.create_topic(t, config={"retention.ms": "5000", "segment.ms": "60000"})
    assert alter(cbroker, RES_TOPIC, t, [("flush.messages", "10")], version=version) == (NONE, None)
    c = topic_configs(cbroker, t)
    assert {k for k, e in c.items() if e["source"] == SRC_TOPIC} == {"flush.messages"}
    err, msg = alter(cbroker, RES_TOPIC, t, [("flush.messages", None)], version=version)
    assert err == INVALID_REQUEST and "flush.messages" in msg
    err, msg = alter(cbroker, RES_TOPIC, t, [("flush.messages", "0")], version=version)
    assert err == INVALID_CONFIG and "flush.messages" in msg
    assert topic_configs(cbroker, t, ["flush.messages"])["flush.messages"]["value"] == "10"


@pytest.mark.parametrize("version", [0, 1])
def test_incremental_versions(cbroker, topic_name, version):
    t = topic_name()
    cbroker.create_topic(t)
    assert incr_one(cbroker, RES_TOPIC, t, [("segment.ms", OP_SET, "90000")], version=version) == (NONE, None)
    assert topic_configs(cbroker, t, ["segment.ms"])["segment.ms"]["value"] == "90000"


# ---------------------------------------------------------------- durability, effect

def test_changes_survive_restart(broker_factory, topic_name):
    b = broker_factory()
    t = topic_name()
    b.create_topic(t)
    set_topic(b, t, retention_ms="4242", cleanup_policy="compact,delete")
    assert incr_one(b, RES_BROKER, "", [("log.segment.bytes", OP_SET, "3000000")]) == (NONE, None)
    assert incr_one(b, RES_BROKER, "1", [("message.max.bytes", OP_SET, "2000000")]) == (NONE, None)
    want = topic_configs(b, t)
    b.stop()
    b.start()
    assert topic_configs(b, t) == want
    assert want["segment.bytes"]["value"] == "3000000"
    assert want["segment.bytes"]["source"] == SRC_DYN_DEFAULT
    assert want["max.message.bytes"]["source"] == SRC_DYN_BROKER
    b.kill9()
    b.start()
    assert topic_configs(b, t) == want


def produce(b, topic, n, size):
    with Conn(b.port) as c:
        for i in range(n):
            batch = build_batch([b"x" * size])
            resp = parse_produce_v3(c.request(0, 3, produce_v3(topic, {0: batch})))
            assert resp[(topic, 0)][0] == NONE


def test_segment_bytes_takes_effect_at_once(broker_factory, topic_name):
    b = broker_factory()
    t = topic_name()
    b.create_topic(t)
    produce(b, t, 20, 1000)
    assert len(segment_files(b, t)) == 1
    set_topic(b, t, segment_bytes="5000")
    produce(b, t, 20, 1000)
    deadline = time.monotonic() + harness.scaled(10)
    while len(segment_files(b, t)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(segment_files(b, t)) >= 4, segment_files(b, t)
    # a dynamic broker default reaches topics without their own override
    t2 = topic_name("b")
    b.create_topic(t2)
    assert incr_one(b, RES_BROKER, "", [("log.segment.bytes", OP_SET, "5000")]) == (NONE, None)
    produce(b, t2, 20, 1000)
    assert len(segment_files(b, t2)) >= 4, segment_files(b, t2)


# ---------------------------------------------------------------- logger

def test_broker_logger_root_level(cbroker):
    node = "1"
    err, _ = incr_one(cbroker, RES_BROKER_LOGGER, node, [("root", OP_SET, "DEBUG")])
    assert err == NONE
    d = describe(cbroker, RES_BROKER_LOGGER, node)
    assert d["configs"]["root"]["value"] == "DEBUG"
    err, _ = incr_one(cbroker, RES_BROKER_LOGGER, node, [("root", OP_SET, "LOUD")])
    assert err == INVALID_CONFIG
    err, _ = incr_one(cbroker, RES_BROKER_LOGGER, node, [("kafka.server", OP_SET, "INFO")])
    assert err == INVALID_CONFIG
    err, _ = incr_one(cbroker, RES_BROKER_LOGGER, node, [("root", OP_APPEND, "INFO")])
    assert err == INVALID_REQUEST
    assert incr_one(cbroker, RES_BROKER_LOGGER, node, [("root", OP_DELETE, None)]) == (NONE, None)
    assert describe(cbroker, RES_BROKER_LOGGER, node)["configs"]["root"]["value"] == "INFO"
