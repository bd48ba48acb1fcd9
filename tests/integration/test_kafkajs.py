"""KafkaJS 2.2.4 (node/, pinned in package.json) against the real broker:
the admin API (createTopics, listTopics, fetchTopicMetadata,
fetchTopicOffsets, deleteTopics) and producer.send with acks -1, keys,
headers and GZIP, read back byte for byte by a confluent-kafka consumer
using assign(). KafkaJS's consumer needs consumer groups: not tested here.

node_modules is installed on first use with `npm ci` (from
package-lock.json) if it is missing."""

import base64
import json
import random
import time

import pytest

import harness
from harness import HERE, run

NODE_DIR = HERE / "node"


def run_script(node, script, plan, tmp_path, timeout=90):
    plan_path = tmp_path / f"{script}.plan.json"
    plan_path.write_text(json.dumps(plan))
    cp = run([node, str(NODE_DIR / f"{script}.js"), str(plan_path)], timeout=timeout, check=False,
             cwd=str(NODE_DIR))
    err = cp.stderr.decode("utf-8", "replace")
    assert cp.returncode == 0, f"{script}.js exited {cp.returncode}:\n{err[-4000:]}"
    return json.loads(cp.stdout), err


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def test_admin(broker, node, tmp_path, topic_name):
    plan = {"bootstrap": broker.bootstrap, "a": topic_name("a"), "b": topic_name("b"),
            "v": topic_name("validate"), "rf3": topic_name("rf3")}
    out, _ = run_script(node, "admin", plan, tmp_path)
    a, b = plan["a"], plan["b"]

    assert out["create"] is True
    assert out["createAgain"] is False                    # TOPIC_ALREADY_EXISTS is not an error
    assert out["validateOnly"]["error"] is None, out["validateOnly"]
    rf3 = out["rf3"]["error"]
    assert rf3 is not None, out["rf3"]
    assert [e["type"] for e in rf3["errors"]] == ["INVALID_REPLICATION_FACTOR"], rf3
    # validate_only created nothing, the failed create neither.
    assert out["list"] == sorted([a, b]), out["list"]

    meta = {t["name"]: t for t in out["metadata"]["topics"]}
    assert sorted(meta) == sorted([a, b])
    for name, n in ((a, 3), (b, 1)):
        parts = sorted(meta[name]["partitions"], key=lambda p: p["partitionId"])
        assert [p["partitionId"] for p in parts] == list(range(n))
        for p in parts:
            assert p["partitionErrorCode"] == 0
            assert p["leader"] >= 0
            assert p["replicas"] == [p["leader"]] and p["isr"] == [p["leader"]]

    assert [(o["partition"], o["low"], o["high"], o["offset"]) for o in out["offsets"]] == [
        (0, "0", "5", "5"), (1, "0", "0", "0"), (2, "0", "3", "3")]

    assert out["delete"]["error"] is None, out["delete"]
    assert out["listAfterDelete"] == []
    harness.wait_for_topic_absent(broker.bootstrap, a)


def make_batches(rng, nparts, nbatches, per_batch, ts0):
    batches, expected = [], {p: [] for p in range(nparts)}
    i = 0
    for _ in range(nbatches):
        batch = []
        for _ in range(per_batch):
            p = rng.randrange(nparts)
            key = None if i % 37 == 3 else f"kjs-{i}-ключ-\U0001F511".encode()
            value = None if i % 29 == 5 else (b"" if i % 13 == 0 else
                                             f"{i}:ünïcødé:".encode() + rng.randbytes(rng.randrange(0, 400)))
            headers = [("idx", str(i).encode()), ("bin\u00fc", bytes([0, 255, i % 256])),
                       ("dup", b"first"), ("dup", b"second"), ("empty", b"")]
            ts = ts0 + i
            batch.append({"partition": p, "key": b64(key), "value": b64(value), "timestamp": ts,
                          "headers": {"idx": [b64(headers[0][1])], "bin\u00fc": [b64(headers[1][1])],
                                      "dup": [b64(b"first"), b64(b"second")], "empty": [b64(b"")]}})
            expected[p].append((key, value, headers, ts))
            i += 1
        batches.append(batch)
    return batches, expected


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_producer_send(module_broker, node, tmp_path, topic_name, compression):
    topic = topic_name(compression)
    nparts = 3
    module_broker.create_topic(topic, partitions=nparts)
    rng = random.Random(compression)
    ts0 = int(time.time() * 1000) - 10_000
    batches, expected = make_batches(rng, nparts, nbatches=20, per_batch=150, ts0=ts0)
    out, _ = run_script(node, "produce", {"bootstrap": module_broker.bootstrap, "topic": topic,
                                          "compression": compression, "batches": batches}, tmp_path)

    # Each send reports, per partition it touched, the base offset = records
    # already in that partition.
    count = {p: 0 for p in range(nparts)}
    assert len(out["metadata"]) == len(batches)
    for batch, md in zip(batches, out["metadata"]):
        in_batch = {p: sum(1 for m in batch if m["partition"] == p) for p in range(nparts)}
        got = {m["partition"]: m for m in md}
        assert sorted(got) == sorted(p for p, n in in_batch.items() if n), md
        for p, m in got.items():
            assert m["topicName"] == topic and m["errorCode"] == 0, m
            assert int(m["baseOffset"]) == count[p], (p, m, count)
        for p, n in in_batch.items():
            count[p] += n

    msgs = harness.consume_assigned(module_broker.bootstrap, topic, [count[p] for p in range(nparts)])
    for p in range(nparts):
        assert len(msgs[p]) == len(expected[p])
        for i, (m, (key, value, headers, ts)) in enumerate(zip(msgs[p], expected[p])):
            assert m.offset() == i
            assert m.key() == key, (p, i)
            assert m.value() == value, (p, i)
            assert m.headers() == headers, (p, i)
            assert m.timestamp() == (1, ts), (p, i)       # (CreateTime, ts)
