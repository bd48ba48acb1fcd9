"""kcat (librdkafka 2.0.2) against the real broker: metadata listing, 100,000
keyed records with headers over 3 partitions, compressed produce, nulls.

Records are written with kcat -P (one process per partition, -p N, fixed -H
headers per process) from generated input split by a 3-byte delimiter that
never occurs in a record, so values may hold newlines, ':' and any byte.
They are read back with kcat -C -e and a length-prefixed -f format, so the
output parses unambiguously and is compared byte for byte.
"""

import json
import random
import re
import subprocess
import time

import pytest

from harness import run, scaled

KCAT = "kcat"
DELIM = b"\x1e\x1f\x1e"        # message delimiter for kcat -P -D; never in a record
FMT = "P%p O%o T%T K%K:%k V%S:%s H%h\n"
REC_RE = re.compile(rb"P(\d+) O(\d+) T(-?\d+) K(-?\d+):")
VAL_RE = re.compile(rb" V(-?\d+):")
HDR_RE = re.compile(rb" H([^\n]*)\n")


def kcat(bootstrap, *args):
    return [KCAT, "-b", bootstrap, "-X", "socket.timeout.ms=%d" % scaled(10000), *args]


def parse_kcat(out):
    """Parses FMT output into dicts {p, o, ts, key, value, headers}.
    key/value None = null (kcat prints length -1)."""
    recs, pos = [], 0
    while pos < len(out):
        m = REC_RE.match(out, pos)
        assert m, f"unparsable kcat output at byte {pos}: {out[pos:pos + 120]!r}"
        p, o, ts, klen = (int(x) for x in m.groups())
        pos = m.end()
        key = None if klen < 0 else out[pos:pos + klen]
        pos += max(klen, 0)
        m = VAL_RE.match(out, pos)
        assert m, f"bad value field at byte {pos}: {out[pos:pos + 120]!r}"
        vlen = int(m.group(1))
        pos = m.end()
        value = None if vlen < 0 else out[pos:pos + vlen]
        pos += max(vlen, 0)
        m = HDR_RE.match(out, pos)
        assert m, f"bad header field at byte {pos}: {out[pos:pos + 120]!r}"
        pos = m.end()
        hdrs = [tuple(h.split(b"=", 1)) for h in m.group(1).split(b",")] if m.group(1) else []
        recs.append(dict(p=p, o=o, ts=ts, key=key, value=value, headers=hdrs))
    return recs


def consume_all(bootstrap, topic, *extra, timeout=120):
    cp = run(kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", FMT, *extra),
             timeout=timeout)
    return parse_kcat(cp.stdout)


def produce_file(bootstrap, topic, partition, path, headers=(), extra=()):
    """Runs kcat -P for one partition; returns the Popen (not waited)."""
    cmd = kcat(bootstrap, "-P", "-t", topic, "-p", str(partition), "-K", ":", "-D", DELIM.decode(),
               "-X", "acks=all", "-l", str(path), *extra)
    for k, v in headers:
        cmd += ["-H", f"{k}={v}"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_procs(procs, timeout):
    """Waits for every kcat; kills them all on timeout. Asserts success."""
    deadline = time.monotonic() + scaled(timeout)
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
            assert p.returncode == 0, f"{p.args} exited {p.returncode}: {err[-2000:]!r}"
            assert b"Delivery failed" not in err and b"ERROR" not in err, err[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def make_records(rng, partition, n):
    """Distinctive keyed records: non-ASCII, empty keys and values, binary
    bytes, embedded newlines and ':' (only the first ':' splits the key)."""
    recs = []
    for i in range(n):
        key = f"k{partition}-{i:06d}-ключ-🔑".encode()
        if i % 97 == 0:
            key = b""                                    # empty, not null
        if i % 50 == 7:
            value = b""
        elif i % 10 == 3:
            value = f"multi\nline:{i}\r\n☃ ünïcødé 日本語".encode()
        elif i % 10 == 5:
            value = bytes(rng.choice(range(0, 0x1e)) for _ in range(rng.randrange(1, 40))) + b"\xff\x00"
        else:
            value = (f"v{partition}:{i}:" + "é" * (i % 13)).encode() + b"x" * rng.randrange(0, 200)
        recs.append((key, value))
    return recs


def write_input(path, recs):
    with open(path, "wb") as f:
        for key, value in recs:
            assert b":" not in key and DELIM not in key and DELIM not in value
            f.write(key + b":" + value + DELIM)


def assert_partition(got, expected, partition, headers, t0, t1):
    assert len(got) == len(expected), (
        f"partition {partition}: {len(got)} records back, {len(expected)} sent")
    for i, (r, (key, value)) in enumerate(zip(got, expected)):
        assert r["p"] == partition
        assert r["o"] == i, f"partition {partition}: record #{i} has offset {r['o']}"
        assert r["key"] == key, f"p{partition} o{i}: key {r['key']!r} != {key!r}"
        assert r["value"] == value, f"p{partition} o{i}: value {r['value']!r} != {value!r}"
        assert r["headers"] == headers, f"p{partition} o{i}: headers {r['headers']!r}"
        assert t0 - 60_000 <= r["ts"] <= t1 + 60_000, f"p{partition} o{i}: timestamp {r['ts']}"


def test_metadata_listing(broker):
    t1 = "kcat-meta-one"
    t3 = "kcat-meta-three"
    broker.create_topic(t1, partitions=1)
    broker.create_topic(t3, partitions=3)

    md = json.loads(run(kcat(broker.bootstrap, "-L", "-J")).stdout)
    assert len(md["brokers"]) == 1, md["brokers"]
    bid = md["brokers"][0]["id"]
    assert md["brokers"][0]["name"] == broker.bootstrap
    topics = {t["topic"]: t for t in md["topics"]}
    for name, n in ((t1, 1), (t3, 3)):
        assert name in topics, sorted(topics)
        parts = sorted(topics[name]["partitions"], key=lambda p: p["partition"])
        assert [p["partition"] for p in parts] == list(range(n))
        for p in parts:
            assert p["leader"] == bid
            assert [r["id"] for r in p["replicas"]] == [bid]
            assert [r["id"] for r in p["isrs"]] == [bid]
            assert "error" not in p, p

    text = run(kcat(broker.bootstrap, "-L")).stdout.decode()
    assert " 1 brokers:\n" in text
    assert f"  broker {bid} at {broker.bootstrap}" in text
    assert f'  topic "{t3}" with 3 partitions:\n' in text
    assert f'  topic "{t1}" with 1 partitions:\n' in text
    for i in range(3):
        assert f"    partition {i}, leader {bid}, replicas: {bid}, isrs: {bid}\n" in text

    # One topic only.
    text = run(kcat(broker.bootstrap, "-L", "-t", t1)).stdout.decode()
    assert f'topic "{t1}" with 1 partitions:' in text
    assert t3 not in text


def test_100k_keyed_records_with_headers(broker, tmp_path):
    topic = "kcat-100k"
    nparts, total = 3, 100_000
    broker.create_topic(topic, partitions=nparts)
    rng = random.Random(20240611)
    sizes = [total // nparts + (1 if p < total % nparts else 0) for p in range(nparts)]
    expected, headers, procs = {}, {}, []
    t0 = int(time.time() * 1000)
    for p in range(nparts):
        expected[p] = make_records(rng, p, sizes[p])
        headers[p] = [(b"part", str(p).encode()), (b"run", b"r%08x" % rng.getrandbits(32)),
                      ("ü".encode(), "☃".encode()), (b"empty", b"")]
        path = tmp_path / f"in-{p}.bin"
        write_input(path, expected[p])
        procs.append(produce_file(broker.bootstrap, topic, p, path,
                                  [(k.decode(), v.decode()) for k, v in headers[p]]))
    wait_procs(procs, timeout=120)
    t1 = int(time.time() * 1000)

    recs = consume_all(broker.bootstrap, topic)
    assert len(recs) == total
    by_part = {p: [r for r in recs if r["p"] == p] for p in range(nparts)}
    assert sorted(by_part) == list(range(nparts)) and sum(map(len, by_part.values())) == total
    for p in range(nparts):
        assert_partition(by_part[p], expected[p], p, headers[p], t0, t1)

    # Acknowledged (acks=all) records survive a kill -9 and the restart.
    broker.kill9()
    broker.start()
    again = consume_all(broker.bootstrap, topic)
    assert len(again) == total
    for p in range(nparts):
        assert [r for r in again if r["p"] == p] == by_part[p], (
            f"partition {p}: records read after kill -9 + restart differ")

    # Reads from the middle of a batch start exactly at the asked offset.
    for p, off in ((0, 12_345), (1, 33_000), (2, sizes[2] - 3)):
        got = consume_all(broker.bootstrap, topic, "-p", str(p), "-o", str(off), "-c", "3")
        assert [(r["o"], r["key"], r["value"]) for r in got] == [
            (off + i, *expected[p][off + i]) for i in range(3)]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_produce_roundtrip(module_broker, tmp_path, topic_name, codec):
    broker = module_broker
    topic = topic_name(codec)
    broker.create_topic(topic, partitions=2)
    rng = random.Random(codec)
    expected = {p: make_records(rng, p, 5000) for p in range(2)}
    hdrs = [(b"codec", codec.encode())]
    procs = []
    t0 = int(time.time() * 1000)
    for p in range(2):
        path = tmp_path / f"in-{p}.bin"
        write_input(path, expected[p])
        procs.append(produce_file(broker.bootstrap, topic, p, path, [("codec", codec)],
                                  extra=("-z", codec, "-X", "linger.ms=20")))
    wait_procs(procs, timeout=60)
    t1 = int(time.time() * 1000)
    recs = consume_all(broker.bootstrap, topic)
    for p in range(2):
        assert_partition([r for r in recs if r["p"] == p], expected[p], p, hdrs, t0, t1)
    assert len(recs) == 10_000


def test_null_keys_and_values(module_broker, topic_name):
    """A line without the key delimiter has a null key; with -Z an empty key
    or value is sent as null (a null value is a tombstone)."""
    broker = module_broker
    topic = topic_name()
    broker.create_topic(topic, partitions=1)
    data = b"no-key-here\nk1:\n:\nk2:v2\n:only-value\n"
    run(kcat(broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K", ":", "-Z", "-X", "acks=all"),
        input=data)
    got = [(r["o"], r["key"], r["value"], r["headers"]) for r in consume_all(broker.bootstrap, topic)]
    assert got == [
        (0, None, b"no-key-here", []),
        (1, b"k1", None, []),
        (2, None, None, []),
        (3, b"k2", b"v2", []),
        (4, None, b"only-value", []),
    ]


def test_many_segments_survive_kill9(broker_factory, tmp_path):
    """With 64 KiB segments the partition spans many segment files (named
    by their 20-digit base offset, as Kafka does); reads cross segment
    boundaries, and everything is still there after kill -9 and restart."""
    broker = broker_factory(log_segment_bytes=65536)
    topic = "kcat-segments"
    broker.create_topic(topic, partitions=1)
    rng = random.Random(7)
    expected = make_records(rng, 0, 20_000)
    path = tmp_path / "in.bin"
    write_input(path, expected)
    t0 = int(time.time() * 1000)
    # Batches of <= 200 records (~30 KiB) so that segments roll often: a
    # batch is never split, a bigger one would fill a segment alone.
    wait_procs([produce_file(broker.bootstrap, topic, 0, path, [("seg", "1")],
                             extra=("-X", "batch.num.messages=200"))], timeout=60)
    t1 = int(time.time() * 1000)
    hdrs = [(b"seg", b"1")]
    assert_partition(consume_all(broker.bootstrap, topic), expected, 0, hdrs, t0, t1)

    pdirs = [d for d in broker.data_dir.iterdir() if d.name == f"{topic}-0"]
    assert len(pdirs) == 1, sorted(p.name for p in broker.data_dir.iterdir())
    logs = sorted(f.name for f in pdirs[0].iterdir() if f.suffix == ".log")
    assert len(logs) > 10, logs
    sizes = [(pdirs[0] / n).stat().st_size for n in logs]
    assert max(sizes[:-1]) <= 65536 and min(sizes[:-1]) > 65536 // 4, list(zip(logs, sizes))
    assert logs[0] == "0" * 20 + ".log"
    assert all(re.fullmatch(r"\d{20}\.log", n) for n in logs), logs

    broker.kill9()
    broker.start()
    assert_partition(consume_all(broker.bootstrap, topic), expected, 0, hdrs, t0, t1)
    # Reads that start inside later segments.
    for off in (5_000, 12_345, 19_999):
        got = consume_all(broker.bootstrap, topic, "-p", "0", "-o", str(off), "-c", "1")
        assert [(r["o"], r["key"], r["value"]) for r in got] == [(off, *expected[off])]
