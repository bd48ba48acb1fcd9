"""kill -9 under load, five times in a row, on one data dir.

A confluent-kafka producer (acks=all, linger 2 ms, no retries, no
idempotence) writes unique self-checking values round-robin to a
3-partition topic and records every acknowledged (partition, offset, value)
from its delivery reports. At a random moment 0.3-1.5 s into the round the
broker gets SIGKILL; the producer is stopped (what was in flight has an
unknown outcome), the broker restarts on the same data dir and port, and
every partition is read back in full:

  - every record acknowledged in any round so far is present, at its
    acknowledged offset, byte for byte;
  - offsets are contiguous from 0; every record present (acknowledged or
    not) is intact, in its partition, in production order, once;
  - the topic still exists with 3 partitions;
  - the broker logs its recovery; no sanitizer report (fixture).

The producer is restarted per round. Run once with one segment per
partition and once with 60 KB segments (the log rolls many times a round, so
kills land between a roll and its syncs). FAULT_SEED=<n> repeats a run's
timing.
"""

import os
import random
import re
import time

import pytest

import faultlib
import harness
from faultlib import AckProducer

ROUNDS = 5
PARTITIONS = 3


@pytest.mark.parametrize("segment_bytes", [None, 60000], ids=["one-segment", "rolling-segments"])
def test_kill9_under_load(broker_factory, topic_name, segment_bytes):
    seed = int(os.environ.get("FAULT_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    print(f"FAULT_SEED={seed}")
    b = broker_factory({} if segment_bytes is None else {"log.segment.bytes": segment_bytes})
    topic = topic_name("kill9")
    b.create_topic(topic, partitions=PARTITIONS)
    acked = {}
    history = []
    for r in range(ROUNDS):
        prod = AckProducer(b.bootstrap, topic, PARTITIONS, faultlib.round_tag(r), acks="all",
                           rate=6000).start()
        faultlib.wait_acks(prod, 1, timeout=20)   # under load before the clock starts
        delay = rng.uniform(0.3, 1.5)
        time.sleep(delay)
        b.kill9()
        prod.stop()
        assert not prod.errors, prod.errors
        faultlib.merge_acked(acked, prod)
        mark = faultlib.log_size(b)
        b.start()
        harness.wait_for_topic(b.bootstrap, topic, PARTITIONS)
        res = faultlib.check_log(b.bootstrap, topic, PARTITIONS, acked)
        history.append(f"round {r}: killed after {delay:.2f}s, {len(prod.acked)} acked, "
                       f"{prod.failed} unknown, log ends {res['hw']}, "
                       f"{res['unacked_present']} unacknowledged present")
        assert res["missing"] == [], (
            f"FAULT_SEED={seed}: acknowledged records lost after kill -9 in round {r}:\n"
            + "\n".join(f"  p{p} offset {o}: {why}" for p, o, why in res["missing"][:20])
            + "\n" + "\n".join(history))
        text = faultlib.log_since(b, mark)
        assert re.search(r"recover", text, re.I), (
            "no recovery line in the log after an unclean stop:\n" + text[-2000:])
    print("\n".join(history))
    total = sum(len(v) for v in acked.values())
    assert total >= ROUNDS, f"only {total} records acknowledged over {ROUNDS} rounds"
