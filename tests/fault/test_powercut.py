"""Power cuts, modelled by the LD_PRELOAD shim in shim/powercut.c
(docs/faults.md). kill -9 keeps the page cache, so it cannot catch a missing
fdatasync; here, after SIGKILL, the data dir is replaced by what the shim
recorded as durable (file contents as of their last fsync/fdatasync,
directory entries as of their directory's last fsync), and the broker is
restarted *without* the shim on what is left.

  test_shim_model            the shim itself, on a scripted process: what was
                             not synced is gone, what was is there
  test_powercut_acks_all     acks=all acknowledgements survive power cuts,
                             and so does the topic they were written to
  test_powercut_acks1_loses  negative control: acks=1 with no flush policy
                             loses acknowledged records — proof that the
                             cut drops unsynced data, so the acks=all test
                             would catch an early acknowledgement
  test_powercut_offset_commits  acknowledged OffsetCommits survive power
                             cuts (answering before the fdatasync fails it:
                             checked by hand with the wait removed)
"""

import os
import random
import re
import subprocess
import sys
import time

import pytest

import faultlib
import harness
from faultlib import AckProducer
from harness import scaled

PARTITIONS = 3


# ---------------------------------------------------------------- the shim alone

SCRIPT = r"""
import os, sys
D = sys.argv[1]
def put(name, data, sync):
    fd = os.open(os.path.join(D, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, data)
    if sync:
        os.fdatasync(fd)
    os.close(fd)
def syncdir(p):
    fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)
put("old", b"+unsynced", False)         # existed before: keeps its old content
put("a", b"synced", True); syncdir(D)   # content and name durable
put("a", b"+later", False)              # lost
put("nodir", b"x", True)                # content synced, name never: gone
os.mkdir(os.path.join(D, "sub"))        # a directory whose parent is never synced: gone
put("sub/s", b"s", True); syncdir(os.path.join(D, "sub"))
put("t.tmp", b"checkpoint", True); os.rename(os.path.join(D, "t.tmp"), os.path.join(D, "t"))
syncdir(D)                               # rename durable (and "nodir", "sub" now too)
fd = os.open(os.path.join(D, "big"), os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"A" * 600000, 0); os.fsync(fd); syncdir(D)
os.pwrite(fd, b"B" * 10, 1000); os.fdatasync(fd)   # incremental copy
os.pwrite(fd, b"C" * 10, 2000)                     # not synced
os.close(fd)
fd = os.open(os.path.join(D, "dsync"), os.O_WRONLY | os.O_CREAT | os.O_DSYNC, 0o644)
os.write(fd, b"odsync"); os.close(fd); syncdir(D)
# from here on the directory is never synced again
put("u.tmp", b"new", True); os.rename(os.path.join(D, "u.tmp"), os.path.join(D, "t"))   # not durable
os.unlink(os.path.join(D, "gone-not"))  # unlink without a directory sync: still there
put("after", b"never", True)            # content synced, name not: gone
print("script done")
"""


def test_shim_model(powercut_shim, tmp_path):
    data, shadow = tmp_path / "data", tmp_path / "shadow"
    data.mkdir()
    (data / "old").write_bytes(b"old")
    (data / "gone-not").write_bytes(b"still")
    env = dict(os.environ, **faultlib.shim_env(powercut_shim, data, shadow))
    cp = subprocess.run(["/usr/bin/python3", "-c", SCRIPT, str(data)], env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=scaled(60))
    assert cp.returncode == 0 and b"script done" in cp.stdout, cp.stdout.decode()
    assert faultlib.shim_errors(shadow) == ""
    faultlib.powercut_apply(data, shadow)
    files = {p: (data / p).read_bytes() for p in faultlib.tree(data)}
    big = files.pop("big")
    assert files == {"old": b"old", "a": b"synced", "nodir": b"x", "sub/s": b"s",
                     "t": b"checkpoint", "gone-not": b"still", "dsync": b"odsync"}
    assert big == b"A" * 1000 + b"B" * 10 + b"A" * (600000 - 1010)


# ---------------------------------------------------------------- the broker

def cut_and_restart(b, shadow):
    """After SIGKILL: apply the cut, then start the broker without the shim.
    Returns (cut stats, the broker log since the restart)."""
    assert not b.running
    errors = faultlib.shim_errors(shadow)
    assert errors == "", "powercut shim reported errors:\n" + errors
    before = faultlib.tree(b.data_dir)
    stats = faultlib.powercut_apply(b.data_dir, shadow)
    after = faultlib.tree(b.data_dir)
    lost = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    mark = faultlib.log_size(b)
    with open(b.log_path, "a") as f:
        f.write(f"==== fault test: power cut: {stats}; files changed (size before, after): {lost}\n")
    b.start()
    return stats, faultlib.log_since(b, mark)


def produce_then_kill(b, topic, tag, acks, seconds, extra=None):
    """Produces under load for `seconds` after the first acknowledgement,
    then SIGKILLs the broker; returns the stopped AckProducer."""
    prod = AckProducer(b.bootstrap, topic, PARTITIONS, tag, acks=acks, rate=4000, extra=extra).start()
    faultlib.wait_acks(prod, 1, timeout=30)
    time.sleep(seconds)
    b.kill9()
    prod.stop()
    assert not prod.errors, prod.errors
    return prod


@pytest.mark.parametrize("segment_bytes", [None, 40000], ids=["one-segment", "rolling-segments"])
def test_powercut_acks_all(broker_factory, topic_name, powercut_shim, tmp_path, segment_bytes):
    """Two rounds: run under the shim, produce acks=all, SIGKILL, cut,
    restart without the shim, check. With small segments the log rolls many
    times a round: new segment files and their directory entries, index
    files and the recovery-point checkpoint (written after rolls) must all
    be durable before what they cover is acknowledged."""
    seed = int(os.environ.get("FAULT_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    print(f"FAULT_SEED={seed}")
    b = broker_factory({} if segment_bytes is None else {"log.segment.bytes": segment_bytes},
                       start=False)
    topic = topic_name("pcut")
    acked = {}
    history = []
    for r in range(2):
        shadow = tmp_path / f"shadow{r}"
        faultlib.start_with_shim(b, powercut_shim, shadow)
        if r == 0:
            # created under the shim: the topic itself must survive the cut
            b.create_topic(topic, partitions=PARTITIONS)
        seconds = rng.uniform(0.5, 1.5)
        prod = produce_then_kill(b, topic, faultlib.round_tag(r), "all", seconds)
        faultlib.merge_acked(acked, prod)
        stats, text = cut_and_restart(b, shadow)
        md = b.admin().list_topics(timeout=scaled(10))
        assert topic in md.topics, (f"round {r}: topic {topic} gone after the power cut although "
                                    f"{len(prod.acked)} records in it were acknowledged with acks=all "
                                    f"(topics: {sorted(md.topics)})")
        harness.wait_for_topic(b.bootstrap, topic, PARTITIONS)
        res = faultlib.check_log(b.bootstrap, topic, PARTITIONS, acked)
        history.append(f"round {r}: {seconds:.2f}s, {len(prod.acked)} acked, {prod.failed} unknown, "
                       f"cut {stats}, log ends {res['hw']}")
        assert res["missing"] == [], (
            f"FAULT_SEED={seed}: acks=all records lost in a power cut (round {r}):\n"
            + "\n".join(f"  p{p} offset {o}: {why}" for p, o, why in res["missing"][:20])
            + "\n" + "\n".join(history))
        assert re.search(r"recover", text, re.I), "no recovery line after the power cut:\n" + text[-2000:]
        b.kill9()
    print("\n".join(history))


def test_powercut_acks1_loses(broker_factory, topic_name, powercut_shim, tmp_path):
    """Negative control. acks=1 answers from the page cache; with no flush
    policy set, a power cut must lose some of those acknowledged records.
    If nothing is lost, either the shim does not drop unsynced data (and the
    acks=all test proves nothing) or the broker syncs acks=1 data anyway."""
    b = broker_factory(start=False)
    topic = topic_name("pcut1")
    b.start()
    b.create_topic(topic, partitions=PARTITIONS)
    b.stop()   # the topic is on disk for sure
    shadow = tmp_path / "shadow"
    faultlib.start_with_shim(b, powercut_shim, shadow)
    prod = produce_then_kill(b, topic, faultlib.round_tag(0), "1", 1.0)
    assert len(prod.acked) > 0
    stats, _ = cut_and_restart(b, shadow)
    harness.wait_for_topic(b.bootstrap, topic, PARTITIONS)
    res = faultlib.check_log(b.bootstrap, topic, PARTITIONS, faultlib.merge_acked({}, prod))
    print(f"acks=1: {len(prod.acked)} acknowledged, {len(res['missing'])} lost, cut {stats}, "
          f"log ends {res['hw']}")
    assert len(res["missing"]) > 0, (
        f"all {len(prod.acked)} acks=1 records survived the cut (cut {stats}): the shim's model "
        "did not drop unsynced data, or the broker fsyncs acks=1 writes")


def test_powercut_admin_operations(broker_factory, topic_name, powercut_shim, tmp_path):
    """Metadata changes acknowledged under the shim survive a power cut:
    a topic created, a topic deleted (it must not come back, and its data
    must not be served), partitions added — and acks=all records written to
    the new partitions."""
    from confluent_kafka.admin import NewPartitions
    b = broker_factory(start=False)
    doomed, grown, fresh = topic_name("doomed"), topic_name("grown"), topic_name("fresh")
    b.start()
    b.create_topic(doomed, partitions=1)
    b.create_topic(grown, partitions=2)
    b.stop()
    shadow = tmp_path / "shadow"
    faultlib.start_with_shim(b, powercut_shim, shadow)
    admin = b.admin()
    T = scaled(20)
    admin.delete_topics([doomed], operation_timeout=T, request_timeout=T)[doomed].result(timeout=T)
    harness.wait_for_topic_absent(b.bootstrap, doomed)
    admin.create_partitions([NewPartitions(grown, PARTITIONS)], operation_timeout=T,
                            request_timeout=T)[grown].result(timeout=T)
    harness.wait_for_topic(b.bootstrap, grown, PARTITIONS)
    b.create_topic(fresh, partitions=1)
    prod = produce_then_kill(b, grown, faultlib.round_tag(0), "all", 0.5)
    cut_and_restart(b, shadow)
    md = b.admin().list_topics(timeout=T)
    assert doomed not in md.topics, "a deleted topic came back after the power cut"
    assert fresh in md.topics, "a created topic was lost in the power cut"
    harness.wait_for_topic(b.bootstrap, grown, PARTITIONS)
    res = faultlib.check_log(b.bootstrap, grown, PARTITIONS, faultlib.merge_acked({}, prod))
    assert res["missing"] == [], res["missing"][:20]
    assert all(res["hw"][p] > 0 for p in range(PARTITIONS)), res["hw"]
    leftovers = [p.name for p in b.data_dir.iterdir() if p.name.startswith(doomed)]
    print(f"deleted topic's folders left after the cut and restart: {leftovers}")


def test_powercut_offset_commits(broker_factory, topic_name, powercut_shim, tmp_path):
    """Committed offsets are durable when OffsetCommit is answered: under the
    shim, clients commit increasing offsets synchronously as fast as they
    can (the first commit also creates __consumer_offsets), the broker is
    SIGKILLed, the cut applied, and after the restart every group's
    committed offset is at least the last one acknowledged (and no more
    than the last one sent)."""
    import threading
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    b = broker_factory(start=False)
    topic = topic_name("pcommit")
    b.start()
    b.create_topic(topic, partitions=PARTITIONS)
    b.stop()
    shadow = tmp_path / "shadow"
    faultlib.start_with_shim(b, powercut_shim, shadow)
    groups = [f"{topic}-g{i}" for i in range(3)]
    acked = {(g, p): -1 for g in groups for p in range(PARTITIONS)}
    sent = dict(acked)
    stop = threading.Event()

    def committer(group):
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group,
                      "enable.auto.commit": False, "socket.timeout.ms": 3000})
        i = 0
        try:
            while not stop.is_set():
                i += 1
                tps = [TopicPartition(topic, p, i * 10 + p) for p in range(PARTITIONS)]
                for p in range(PARTITIONS):
                    sent[(group, p)] = i * 10 + p
                try:
                    res = c.commit(offsets=tps, asynchronous=False)
                except KafkaException:
                    return  # the broker is gone
                for tp in res:
                    if tp.error is None:
                        acked[(group, tp.partition)] = tp.offset
        finally:
            threading.Thread(target=c.close, daemon=True).start()

    threads = [threading.Thread(target=committer, args=(g,), daemon=True) for g in groups]
    for t in threads:
        t.start()
    deadline = time.monotonic() + scaled(30)
    while min(acked.values()) < 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert min(acked.values()) >= 0, f"no commit acknowledged: {acked}"
    time.sleep(0.7)
    b.kill9()
    stop.set()
    snapshot = dict(acked)
    stats, _ = cut_and_restart(b, shadow)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": groups[0], "enable.auto.commit": False})
    try:
        bad = []
        for g in groups:
            c2 = Consumer({"bootstrap.servers": b.bootstrap, "group.id": g, "enable.auto.commit": False})
            got = c2.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=scaled(20))
            c2.close()
            for tp in got:
                lo, hi = snapshot[(g, tp.partition)], sent[(g, tp.partition)]
                if not (lo <= tp.offset <= hi):
                    bad.append(f"{g} p{tp.partition}: committed {tp.offset}, acknowledged {lo}, last sent {hi}")
        print(f"acknowledged commits per group/partition before the cut: {snapshot}; cut {stats}")
        assert not bad, "offset commits lost in a power cut:\n" + "\n".join(bad)
    finally:
        c.close()
