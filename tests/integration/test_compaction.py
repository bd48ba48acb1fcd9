"""Log compaction (cleanup.policy=compact) through the real broker with real
clients, and SIGKILL while the cleaner runs.

Load and full reads go through c/compact_load.c (librdkafka, compiled here):
`produce` writes N updates over K keys "k%05d" (value "v<seq>") plus a
tombstone for every tenth key and prints the latest record per key with its
offset; `read` reads partition 0 from the beginning to the end (check.crcs
on) and prints the same map as seen, plus record counts, whether offsets
increase, and the first record whose key was seen before (first_dup_offset).
A partition cleaned up to its active segment has no such record below the
active segment's base offset: that is how the tests see that a pass ran.

- test_million_updates_sigkill: the issue's test. 1,000,000 updates over
  10,000 keys + 1,000 tombstones, written with the cleaner off; the broker is
  then restarted with the cleaner on (throttled so a pass lasts seconds) and
  SIGKILLed three times: once at a random moment, twice at a random moment
  within 0.5 s after the cleaner began writing its output; after each kill
  a restart with the cleaner off must find no cleaner output left and read
  exactly the latest value per key; then the cleaning completes: exact
  state, offsets kept, disk far below the uncompacted size; two more rounds
  of updates let the tombstones expire (delete.retention.ms=2000) and
  vanish. RUNNEL_COMPACT_N sets N (default 1,000,000, also under
  sanitizers); RUNNEL_COMPACT_SEED the random seed (printed on failure).
- test_client_reads_compacted: kcat, kafka-python, confluent-kafka, KafkaJS
  and librdkafka (C) read the same compacted topic (offset gaps, tombstones)
  and see exactly the expected records.
- test_consumer_offsets_compacted: 1,000 synchronous offset commits shrink
  __consumer_offsets once cleaned; committed offsets survive SIGKILL and
  restart.
- test_dirty_ratio_and_lags: min.cleanable.dirty.ratio=0.99 leaves a log with
  a small dirty share alone, 0.01 does not; max.compaction.lag.ms forces the
  0.99 log clean; min.compaction.lag.ms of an hour keeps recent records.
"""

import json
import os
import random
import re
import shutil
import time

import pytest

from harness import HERE, run, scaled, unique_name

SRC = HERE / "c" / "compact_load.c"
NODE_DIR = HERE / "node"

# The cleaner wakes every 200 ms when idle; cleaned-away segments and their
# files go at once (the janitor looks every 200 ms).
CLEANER = {"log.cleaner.backoff.ms": 200, "log.retention.check.interval.ms": 200,
           "log.segment.delete.delay.ms": 0}

# The full million also under sanitizers: the broker's share of the run is
# small (about 20 s for this test with ASan+UBSan, 2 cores).
N_BIG = int(os.environ.get("RUNNEL_COMPACT_N") or 1_000_000)
K_BIG = 10_000
SEED = int(os.environ.get("RUNNEL_COMPACT_SEED") or random.SystemRandom().randrange(1 << 30))
SEGMENT_RE = re.compile(r"^\d{20}\.(log|index|timeindex|snapshot)$")


# ------------------------------------------------------------------ helpers

@pytest.fixture(scope="module")
def compact_load(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler (cc) on PATH")
    out = tmp_path_factory.mktemp("c") / "compact_load"
    run([cc, "-std=c17", "-Wall", "-Wextra", "-Werror", "-O2", "-g", "-o", str(out), str(SRC),
         "-lrdkafka"], timeout=120)
    return str(out)


def produce(tool, broker, topic, n, k, *flags, timeout=180):
    """compact_load produce; asserts every record was delivered, in order,
    with contiguous offsets. Returns the summary."""
    cp = run([tool, "produce", broker.bootstrap, topic, str(n), str(k), *map(str, flags)],
             timeout=timeout)
    s = json.loads(cp.stdout)
    assert s["delivered"] == s["produced"] and s["contiguous"], \
        {x: y for x, y in s.items() if x != "keys"}
    return s


def read(tool, broker, topic, timeout=120):
    """compact_load read: the whole partition 0. Returns the summary."""
    cp = run([tool, "read", broker.bootstrap, topic, "--timeout-ms", str(int(scaled(timeout) * 1000))],
             timeout=timeout + 30)
    return json.loads(cp.stdout)


def merged(*summaries):
    """The latest record per key over several produce runs."""
    out = {}
    for s in summaries:
        for key, (value, offset) in s["keys"].items():
            if key not in out or out[key][1] < offset:
                out[key] = [value, offset]
    return out


def brief(r):
    return {x: y for x, y in r.items() if x != "keys"}


def check_state(r, expected, tombstones, label):
    """Asserts that read summary r holds exactly the latest record of every
    key of expected (value and offset), nothing else, offsets increasing.
    tombstones: "kept" (a deleted key reads as its tombstone), "any"
    (tombstone or absent) or "gone" (absent)."""
    problems = []
    got = r["keys"]
    for key, want in expected.items():
        g = got.get(key)
        if want[0] is not None:
            ok = g == want
        elif tombstones == "kept":
            ok = g == want
        elif tombstones == "any":
            ok = g is None or g == want
        else:
            ok = g is None
        if not ok:
            problems.append(f"{key}: read {g}, want {want} (tombstones {tombstones})")
    extra = sorted(set(got) - set(expected))
    if extra:
        problems.append(f"{len(extra)} keys never produced: {extra[:5]}")
    assert not problems, (f"{label}: {len(problems)} wrong keys, e.g. {problems[:8]}; "
                          f"read {brief(r)}")
    assert r["increasing"] and r["foreign_records"] == 0, f"{label}: {brief(r)}"


def part_dir(broker, topic, partition=0):
    return broker.data_dir / f"{topic}-{partition}"


def disk_usage(d):
    """(bytes allocated on disk as du counts them, bytes of the .log files)."""
    du = logs = 0
    for f in d.iterdir():
        try:
            st = f.stat()
        except FileNotFoundError:   # deleted meanwhile
            continue
        du += st.st_blocks * 512
        if f.name.endswith(".log"):
            logs += st.st_size
    return du, logs


def active_base(d):
    """Base offset of the active (last) segment of partition dir d."""
    bases = [int(f.name[:20]) for f in d.iterdir() if re.match(r"^\d{20}\.log$", f.name)]
    assert bases, f"no segment in {d}: {sorted(os.listdir(d))}"
    return max(bases)


def non_segment_files(d):
    return sorted(f.name for f in d.iterdir() if not SEGMENT_RE.match(f.name))


def cleaned(r, d):
    """True when r shows no key twice below the active segment of dir d."""
    return r["first_dup_offset"] < 0 or r["first_dup_offset"] >= active_base(d)


def wait_until(cond, timeout, what):
    """Polls cond() (which returns a true value when done) up to timeout
    seconds (scaled); returns its value or fails with what()."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {scaled(timeout):.0f}s waiting for {what()}")
        time.sleep(0.1)


def wait_cleaned(tool, broker, topic, timeout, extra=lambda r: True):
    """Reads the topic until it is cleaned up to the active segment (and
    extra(r) holds); returns the last read."""
    d = part_dir(broker, topic)
    last = {}

    def done():
        last["r"] = read(tool, broker, topic)
        return cleaned(last["r"], d) and extra(last["r"]) and last["r"]

    return wait_until(done, timeout, lambda: (
        f"{topic} to be cleaned below its active segment {active_base(d)}: "
        f"{brief(last.get('r', {}))}; files {sorted(os.listdir(d))}"))


# ---------------------------------------------------- the test

BIG_TOPIC = {"cleanup.policy": "compact", "segment.bytes": 1048576,
             "min.cleanable.dirty.ratio": 0.01, "delete.retention.ms": 2000,
             "file.delete.delay.ms": 0}
ROUND = 60_000          # updates per later round: more than one 1 MiB segment


def log_since(b, offset):
    with open(b.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def cleaner_output(d):
    return [f for f in non_segment_files(d) if f.endswith((".cleaned", ".swap"))]


def kill_while_cleaning(tool, b, topic, expected, rng, kills, rate, baseline):
    """Starts b with the cleaner on, throttled to `rate` bytes/s, and SIGKILLs
    it `kills` times: first at a random moment after the start, then each
    time at a random moment within 0.5 s after the cleaner began writing
    its output (a *.cleaned file appears). After each kill, a start with
    the cleaner off must find no cleaner output left and read exactly the
    latest record of every key. Returns one note per kill: {delay, files
    the crash left (cleaner outputs, swaps, segments to delete), passes
    completed before the kill (the cleaner's INFO line), records read
    after it, whether fully cleaned, whether the kill hit a pass in
    progress}."""
    d = part_dir(b, topic)
    high = max(offset for _, offset in expected.values()) + 1
    notes = []
    records = None
    for i in range(kills):
        at = b.log_path.stat().st_size
        b.start({"log.cleaner.enable": True, "log.cleaner.io.max.bytes.per.second": rate})
        t0 = time.monotonic()
        if i > 0:
            wait_until(lambda: cleaner_output(d), 60,
                       lambda: f"the cleaner to write into {d}: {sorted(os.listdir(d))}")
        # the moment of the crash is what is being varied
        time.sleep(rng.uniform(0.2, 2.5) if i == 0 else rng.uniform(0, 0.5))
        b.kill9()
        delay = time.monotonic() - t0
        left = sorted(set(non_segment_files(d)) - baseline)
        passes = len(re.findall(rf"{re.escape(topic)}-0: cleaned offsets", log_since(b, at)))
        b.start({"log.cleaner.enable": False})
        assert cleaner_output(d) == [], f"recovery left cleaner files: {cleaner_output(d)}"
        r = read(tool, b, topic)
        check_state(r, expected, "any", f"after SIGKILL #{i + 1} at {delay:.2f}s (seed {SEED})")
        assert r["high"] == high, f"after SIGKILL #{i + 1}: {brief(r)}, high watermark {high} before"
        in_pass = any(f.endswith((".cleaned", ".swap")) for f in left) or (
            passes == 0 and records is not None and r["records"] < records)
        notes.append({"delay": round(delay, 2), "left": left, "passes": passes,
                      "records": r["records"], "cleaned": cleaned(r, d), "in_pass": in_pass})
        records = r["records"]
        b.stop()
    return notes


def test_million_updates_sigkill(broker_factory, compact_load, topic_name):
    rng = random.Random(SEED)
    b = broker_factory(dict(CLEANER, **{"log.cleaner.enable": False}))
    topic = topic_name("big")
    b.create_topic(topic, 1, config=BIG_TOPIC)
    d = part_dir(b, topic)

    t0 = time.monotonic()
    s1 = produce(compact_load, b, topic, N_BIG, K_BIG, "--seed", SEED)
    t_produce = time.monotonic() - t0
    assert s1["produced"] == N_BIG + K_BIG // 10 and s1["first_offset"] == 0
    expected = merged(s1)
    assert len(expected) == K_BIG
    du0, logs0 = disk_usage(d)
    baseline = set(non_segment_files(d))
    r0 = read(compact_load, b, topic)
    check_state(r0, expected, "kept", "before cleaning")
    assert r0["records"] == s1["produced"], brief(r0)
    b.stop()

    # SIGKILL while the cleaner runs. Throttled (it counts bytes read and
    # written) so that a pass over the log takes about 4 s, half of it
    # building the offset map, half rewriting: the kills land inside a pass.
    rate = max(1 << 20, logs0 // 2)
    notes = kill_while_cleaning(compact_load, b, topic, expected, rng, 3, rate, baseline)
    assert any(n["in_pass"] for n in notes), \
        f"no SIGKILL landed inside a cleaning pass (seed {SEED}): {notes}"

    # Clean to the end, unthrottled.
    b.start({"log.cleaner.enable": True, "log.cleaner.io.max.bytes.per.second": "1e15"})
    t1 = time.monotonic()
    r1 = wait_cleaned(compact_load, b, topic, 120)
    t_clean = time.monotonic() - t1
    check_state(r1, expected, "any", f"after cleaning (seed {SEED}, kills {notes})")
    # Disk: the cleaned segments hold about one record per key, at most
    # twice the bytes of K_BIG records as written; with the active segment
    # (up to 1 MiB) the whole dir is far below its uncompacted size.
    per_record = logs0 / s1["produced"]
    bound = 2 * K_BIG * per_record

    def shrunk():
        du, logs = disk_usage(d)
        below = logs - (d / f"{active_base(d):020d}.log").stat().st_size
        ok = below < bound and (du * 5 < du0 or N_BIG < 500_000)
        return ok and (du, logs, below)

    du1, logs1, below1 = wait_until(shrunk, 30, lambda: (
        f"{d} to shrink: .log bytes below the active segment under {bound:.0f}, du under "
        f"{du0 // 5} (uncompacted du {du0}): now {disk_usage(d)}, files {sorted(os.listdir(d))}"))
    assert r1["records"] < r0["records"] // 5, (r0["records"], brief(r1))
    assert r1["high"] == s1["produced"], brief(r1)

    # Updates of live keys roll the tombstones out of the active segment; once
    # delete.retention.ms has passed since they were cleaned, one more round
    # gives the cleaner a reason to run again, and it drops them.
    s2 = produce(compact_load, b, topic, ROUND, K_BIG, "--live-only", "--no-tombstones",
                 "--seed", SEED + 1, "--start-seq", s1["produced"])
    expected = merged(s1, s2)
    wait_cleaned(compact_load, b, topic, 60)
    time.sleep(BIG_TOPIC["delete.retention.ms"] / 1000 * 1.5)   # let the tombstones expire
    s3 = produce(compact_load, b, topic, ROUND, K_BIG, "--live-only", "--no-tombstones",
                 "--seed", SEED + 2, "--start-seq", s1["produced"] + s2["produced"])
    expected = merged(s1, s2, s3)
    r3 = wait_cleaned(compact_load, b, topic, 60, lambda r: r["tombstone_records"] == 0)
    check_state(r3, expected, "gone", f"after delete.retention.ms (seed {SEED})")
    live = sum(1 for v in expected.values() if v[0] is not None)
    assert live == K_BIG - K_BIG // 10
    assert r3["high"] == s1["produced"] + 2 * ROUND, brief(r3)
    wait_until(lambda: set(non_segment_files(d)) <= baseline, 10,
               lambda: f"cleaner and deleted files to go from {d}: {non_segment_files(d)}")
    print(f"compaction: {N_BIG} updates produced in {t_produce:.1f}s; du {du0} -> {du1} bytes "
          f"(.log {logs0} -> {logs1}, {below1} of them below the active segment); cleaned in {t_clean:.1f}s after {len(notes)} kills "
          f"{notes}; final read {brief(r3)}")

    # And the cleaned log survives one more SIGKILL as it is.
    b.kill9()
    b.start()
    check_state(read(compact_load, b, topic), expected, "gone", "after a final SIGKILL")


# ------------------------------------------------- every client reads it

CLIENT_TOPIC = {"cleanup.policy": "compact", "segment.bytes": 65536,
                "min.cleanable.dirty.ratio": 0.01, "file.delete.delay.ms": 0}
CLIENT_N, CLIENT_K = 20_000, 500


@pytest.fixture(scope="module")
def compaction_broker(_module_broker_factory):
    return _module_broker_factory(dict(CLEANER, **{"group.initial.rebalance.delay.ms": 0}),
                                  name="compaction-broker")


# gzip: the cleaner rebuilds a compressed batch it keeps part of (the one
# codec KafkaJS reads without plugins).
@pytest.fixture(scope="module", params=["none", "gzip"])
def compacted(request, compaction_broker, compact_load):
    """A cleaned topic: CLIENT_N updates over CLIENT_K keys and a tombstone
    for every tenth key (delete.retention.ms is a day, so they stay), in
    batches of 200 records compressed with the param's codec. Returns
    (broker, topic, expected, the C reader's summary)."""
    b = compaction_broker
    topic = unique_name(f"compacted-{request.param}")
    b.create_topic(topic, 1, config=CLIENT_TOPIC)
    s = produce(compact_load, b, topic, CLIENT_N, CLIENT_K, "--seed", SEED, "--batch", 200,
                "--codec", request.param)
    r = wait_cleaned(compact_load, b, topic, 60)
    check_state(r, s["keys"], "kept", "C reader")
    assert r["high"] - r["low"] > 2 * r["records"], f"too few gaps to test: {brief(r)}"
    codecs = {"none": 0, "gzip": 1}
    d = part_dir(b, topic)
    assert batch_codecs(d) == {codecs[request.param]}, (d, batch_codecs(d))
    return b, topic, s["keys"], r


def batch_codecs(d):
    """The set of compression codecs (attribute bits 0-2) of the batches
    in the segments of partition dir d."""
    out = set()
    for f in d.iterdir():
        if not re.match(r"^\d{20}\.log$", f.name):
            continue
        data, pos = f.read_bytes(), 0
        while pos + 23 <= len(data):
            length = int.from_bytes(data[pos + 8:pos + 12], "big")
            out.add(int.from_bytes(data[pos + 21:pos + 23], "big") & 7)
            pos += 12 + length
    return out


def summarize(records):
    """The reader summary of [(offset, key str, value str or None)]."""
    s = {"records": 0, "tombstone_records": 0, "dup_records": 0, "foreign_records": 0,
         "increasing": True, "first_offset": -1, "last_offset": -1, "keys": {}}
    for offset, key, value in records:
        if s["records"] and offset <= s["last_offset"]:
            s["increasing"] = False
        if not s["records"]:
            s["first_offset"] = offset
        s["last_offset"] = offset
        s["records"] += 1
        s["tombstone_records"] += value is None
        if key is None:
            s["foreign_records"] += 1
            continue
        s["dup_records"] += key in s["keys"]
        s["keys"][key] = [value, offset]
    return s


def read_kcat(b, topic, tmp_path, tool):
    cp = run(["kcat", "-C", "-b", b.bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e",
              "-q", "-Z", "-f", "%o %k %s\n"], timeout=60)
    recs = []
    for line in cp.stdout.decode().splitlines():
        o, k, v = line.split(" ")
        recs.append((int(o), k, None if v == "NULL" else v))
    return summarize(recs)


def read_kafka_python(b, topic, tmp_path, tool):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      fetch_max_wait_ms=100, max_partition_fetch_bytes=16 << 20)
    recs = []
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        end = c.end_offsets([tp])[tp]
        deadline = time.monotonic() + scaled(60)
        while c.position(tp) < end:
            assert time.monotonic() < deadline, f"kafka-python at {c.position(tp)} of {end}"
            for batch in c.poll(timeout_ms=500).values():
                recs += [(m.offset, m.key.decode(), None if m.value is None else m.value.decode())
                         for m in batch]
    finally:
        c.close()
    return summarize(recs)


def confluent_records(b, topic):
    """Every record of partition 0 from the beginning, through a
    confluent-kafka consumer: [(offset, key str, value str or None)]."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": unique_name("compacted-read"),
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "fetch.wait.max.ms": 100})
    recs = []
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + scaled(60)
        while True:
            assert time.monotonic() < deadline, f"confluent-kafka: no end after {len(recs)} records"
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise AssertionError(f"consumer error {m.error()}")
            recs.append((m.offset(), m.key().decode(),
                         None if m.value() is None else m.value().decode()))
    finally:
        c.close()
    return recs


def read_confluent(b, topic, tmp_path, tool):
    return summarize(confluent_records(b, topic))


def read_kafkajs(b, topic, tmp_path, node):
    plan = tmp_path / "read_compacted.plan.json"
    plan.write_text(json.dumps({"bootstrap": b.bootstrap, "topic": topic,
                                "groupId": unique_name("kafkajs-compacted"),
                                "timeoutMs": int(scaled(60) * 1000)}))
    cp = run([node, str(NODE_DIR / "read_compacted.js"), str(plan)], timeout=90,
             cwd=str(NODE_DIR))
    return json.loads(cp.stdout)


def read_librdkafka(b, topic, tmp_path, tool):
    return read(tool, b, topic)


READERS = {"kcat": read_kcat, "kafka-python": read_kafka_python, "confluent-kafka": read_confluent,
           "kafkajs": read_kafkajs, "librdkafka": read_librdkafka}


@pytest.mark.parametrize("client", list(READERS))
def test_client_reads_compacted(compacted, compact_load, tmp_path, client, request):
    # KafkaJS gets the node binary (the fixture runs npm ci on first use).
    tool = request.getfixturevalue("node") if client == "kafkajs" else compact_load
    b, topic, expected, ref = compacted
    got = READERS[client](b, topic, tmp_path, tool)
    check_state(got, expected, "kept", client)
    for field in ("records", "tombstone_records", "dup_records", "first_offset", "last_offset"):
        assert got[field] == ref[field], (f"{client}: {field} {got[field]}, librdkafka read "
                                          f"{ref[field]}; {brief(got)}")


def gap_offsets(b, topic):
    """Offsets the cleaner removed, below the active segment: the first and
    last such, the base of every segment that holds no record (whole
    segments may be emptied), and a few seeded random ones. Returns
    ([gap offsets], {offset: [key, value]} of every record, active base)."""
    d = part_dir(b, topic)
    ab = active_base(d)
    present = {o: [k, v] for o, k, v in confluent_records(b, topic)}
    gaps = [o for o in range(ab) if o not in present]
    bases = [int(f.name[:20]) for f in d.iterdir() if re.match(r"^\d{20}\.log$", f.name)]
    pick = {gaps[0], gaps[-1]} | {o for o in bases if o < ab and o not in present}
    pick |= set(random.Random(SEED).sample(gaps, min(5, len(gaps))))
    return sorted(pick), present


def first_from(c, kind, topic, offset):
    """The first record (offset, key, value) a consumer returns after being
    positioned at offset."""
    deadline = time.monotonic() + scaled(30)
    if kind == "confluent-kafka":
        from confluent_kafka import TopicPartition
        c.assign([TopicPartition(topic, 0, offset)])
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                return m.offset(), m.key().decode(), m.value() and m.value().decode()
            assert m is None or m.error().code() < 0, f"consumer error {m.error()}"
    else:
        from kafka import TopicPartition
        tp = TopicPartition(topic, 0)
        c.seek(tp, offset)
        while time.monotonic() < deadline:
            for batch in c.poll(timeout_ms=200, max_records=1).values():
                m = batch[0]
                return m.offset, m.key.decode(), m.value and m.value.decode()
    raise AssertionError(f"{kind}: nothing read from offset {offset}")


@pytest.mark.parametrize("kind", ["confluent-kafka", "kafka-python"])
def test_consume_from_removed_offset(compacted, kind):
    """A consumer positioned on an offset the cleaner removed (a committed
    offset can point there) gets the next record that is still there."""
    b, topic, _, _ = compacted
    gaps, present = gap_offsets(b, topic)
    if kind == "confluent-kafka":
        from confluent_kafka import Consumer
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": unique_name("gap"),
                      "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    else:
        from kafka import KafkaConsumer, TopicPartition
        c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                          fetch_max_wait_ms=100)
        c.assign([TopicPartition(topic, 0)])
    try:
        for g in gaps:
            want = min(o for o in present if o > g)
            got = first_from(c, kind, topic, g)
            assert got[0] == want and list(got[1:]) == present[want], \
                f"{kind} from removed offset {g}: first record {got}, want {want}: {present[want]}"
    finally:
        c.close()


# ------------------------------------------------------ __consumer_offsets

COMMITS = 1000


def committed(bootstrap, group, topic, nparts):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(nparts)], timeout=scaled(20))
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def commit_many(bootstrap, group, topic, nparts, rounds):
    """rounds synchronous commits of every partition; commit i sets partition
    p to i * nparts + p + 1. Returns the last offsets committed."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        for i in range(rounds):
            offs = [TopicPartition(topic, p, i * nparts + p + 1) for p in range(nparts)]
            for tp in c.commit(offsets=offs, asynchronous=False):
                assert tp.error is None, f"commit {i}: {tp}"
    finally:
        c.close()
    return {p: (rounds - 1) * nparts + p + 1 for p in range(nparts)}


def test_consumer_offsets_compacted(broker_factory, topic_name):
    b = broker_factory(dict(CLEANER, **{"log.cleaner.enable": False,
                                        "offsets.topic.num.partitions": 1,
                                        "offsets.topic.segment.bytes": 16384}))
    topic = topic_name("src")
    b.create_topic(topic, 4)
    # One commit early (its record sits in the oldest segment, which the
    # cleaner rewrites), then many by another group.
    early = commit_many(b.bootstrap, "early-group", topic, 4, 1)
    t0 = time.monotonic()
    busy = commit_many(b.bootstrap, "busy-group", topic, 4, COMMITS)
    t_commit = time.monotonic() - t0
    d = b.data_dir / "__consumer_offsets-0"
    du0, logs0 = disk_usage(d)
    nseg0 = sum(1 for f in d.iterdir() if f.name.endswith(".log"))
    assert nseg0 > 10, f"{COMMITS} commits made only {nseg0} segments of 16 KiB"

    b.stop()
    b.start({"log.cleaner.enable": True})
    du1, logs1 = wait_until(lambda: (lambda u: u[1] * 10 < logs0 and u)(disk_usage(d)), 60,
                            lambda: f"__consumer_offsets-0 to shrink below {logs0 // 10} .log bytes: "
                            f"{disk_usage(d)}, files {sorted(os.listdir(d))}")
    for group, want in (("early-group", early), ("busy-group", busy)):
        assert committed(b.bootstrap, group, topic, 4) == want, group
    b.kill9()
    b.start()
    for group, want in (("early-group", early), ("busy-group", busy)):
        got = committed(b.bootstrap, group, topic, 4)
        assert got == want, (f"{group} after cleaning (.log bytes {logs0} -> {logs1}, du {du0} -> "
                             f"{du1}) and SIGKILL: committed {got}, want {want}")
    print(f"__consumer_offsets: {COMMITS} commits in {t_commit:.1f}s, {nseg0} segments, "
          f".log bytes {logs0} -> {logs1}, du {du0} -> {du1}")


# ------------------------------------------------ dirty ratio and lags

RATIO_BASE = {"cleanup.policy": "compact", "segment.bytes": 16384, "file.delete.delay.ms": 0}
RATIO_TOPICS = {
    "low": {"min.cleanable.dirty.ratio": 0.01},
    "high": {"min.cleanable.dirty.ratio": 0.99},
    "maxlag": {"min.cleanable.dirty.ratio": 0.99, "max.compaction.lag.ms": 1000},
    "minlag": {"min.cleanable.dirty.ratio": 0.01, "min.compaction.lag.ms": 3_600_000},
}


def produce_py(b, topic, records):
    """records: [(key, value)] with acks=all; asserts every delivery."""
    from confluent_kafka import Producer
    errors = []
    # Small batches: a batch is never split, and the duplicates must land in
    # segments (16 KiB) other than the active one.
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5,
                  "batch.num.messages": 100, "enable.idempotence": False})
    for k, v in records:
        p.produce(topic, key=k, value=v, partition=0,
                  on_delivery=lambda err, m: err and errors.append(err))
        p.poll(0)
    assert p.flush(scaled(30)) == 0 and not errors, errors[:5]


def test_dirty_ratio_and_lags(broker_factory, compact_load):
    # Round 1 is written with the cleaner off: a pass in the middle of it
    # would leave "high" with a clean half and a dirty share below 0.99.
    b = broker_factory(dict(CLEANER, **{"log.cleaner.enable": False}))
    topics = {name: unique_name(f"ratio-{name}") for name in RATIO_TOPICS}
    for name, cfg in RATIO_TOPICS.items():
        b.create_topic(topics[name], 1, config=dict(RATIO_BASE, **cfg))
    dirs = {name: part_dir(b, t) for name, t in topics.items()}

    def state(name):
        r = read(compact_load, b, topics[name])
        return r, cleaned(r, dirs[name])

    # Round 1: 2,000 keys written twice, then 800 other keys (> 16 KiB) so
    # that every duplicate is below the active segment. Nothing is clean
    # yet: the dirty share is 1.
    round1 = ([(f"k{i:05d}", f"a{i}") for i in range(2000)] + [(f"k{i:05d}", f"b{i}") for i in range(2000)]
              + [(f"k{10000 + i:05d}", "f1") for i in range(800)])
    for t in topics.values():
        produce_py(b, t, round1)
    b.restart({"log.cleaner.enable": True})
    for name in ("low", "high", "maxlag"):
        r = wait_until(lambda: (lambda x: x[1] and x[0])(state(name)), 60,
                       lambda: f"{name} to be cleaned (dirty share 1): {brief(state(name)[0])}")
        assert r["keys"]["k00007"] == ["b7", 2007], r["keys"]["k00007"]
    # min.compaction.lag.ms of an hour: nothing of it is old enough.
    r, clean = state("minlag")
    assert not clean and r["dup_records"] >= 2000, \
        f"min.compaction.lag.ms=3600000 yet cleaned: {brief(r)}"

    # Round 2: 200 updates (a small dirty share next to ~50 KB clean), again
    # pushed below the active segment. The cleaner runs meanwhile: the dirty
    # share of "high" only grows towards its final value, well below 0.99.
    round2 = ([(f"k{i:05d}", f"c{i}") for i in range(200)]
              + [(f"k{20000 + i:05d}", "f2") for i in range(800)])
    for t in topics.values():
        produce_py(b, t, round2)
    for name in ("low", "maxlag"):
        r = wait_until(lambda: (lambda x: x[1] and x[0])(state(name)), 60,
                       lambda: f"{name} to be cleaned again: {brief(state(name)[0])}")
        assert r["keys"]["k00007"][0] == "c7" and r["keys"]["k00300"][0] == "b300", name
    # high: the same log as maxlag without the lag bound. Give the cleaner
    # many more wake-ups (backoff 200 ms) than it needed for the others.
    deadline = time.monotonic() + scaled(2.0)
    while time.monotonic() < deadline:
        for name, why in (("high", "min.cleanable.dirty.ratio=0.99 with a small dirty share"),
                          ("minlag", "min.compaction.lag.ms=3600000")):
            r, clean = state(name)
            assert not clean and r["dup_records"] >= 200, f"{name}: cleaned although {why}: {brief(r)}"
        time.sleep(0.2)
