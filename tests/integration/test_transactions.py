"""Transactions end to end (issue 4 part 2), with real clients.

  - confluent-kafka: a transactional producer commits and aborts; a
    read_committed consumer sees only the committed records, a
    read_uncommitted one sees everything (the markers take an offset each
    in every partition of a transaction);
  - consume-transform-produce loops with send_offsets_to_transaction, in
    confluent-kafka (in this process) and librdkafka C (c/rdk_txn.c, which
    first fills its input with an idempotent producer): the output holds
    every input record exactly once, and the group's committed offsets move
    only when a transaction commits (not when offsets are sent, not on abort);
  - KafkaJS (node/txn.js): send + sendOffsets + commit/abort; read back by
    confluent-kafka and by KafkaJS's own read_committed consumer;
  - kafka-python (no transactions): reads a topic holding committed and
    aborted data and control batches (read_uncommitted);
  - fencing: a second producer with the same transactional.id fences the
    first, whose commit fails; the second's transactions work;
  - timeout: a transaction left open past transaction.timeout.ms is aborted
    by the broker (its cleanup interval is set small with --override):
    read_committed consumers move past it, its data is never visible, the
    abandoned producer is fenced; also for a transaction that was open when
    the broker was SIGKILLed (recovered, then timed out);
  - LSO: a read_committed consumer stops at an open transaction (also
    before later non-transactional records) and continues after the commit;
  - restart: committed/aborted state, LSO and an open transaction survive a
    clean restart and SIGKILL; the open transaction commits afterwards.

Every check compares what is read with what the test generated, record by
record (offset, key, value), not just counts.
"""

import base64
import json
import shutil
import time
from pathlib import Path

import pytest

import harness
from harness import run, scaled

pytest.importorskip("confluent_kafka")
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,  # noqa: E402
                             KafkaException, Producer, TopicPartition)

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
NPARTS = 3
# What librdkafka reports when the coordinator says the producer's epoch is
# dead (PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH for older request versions).
FENCED = {"_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"}


@pytest.fixture(scope="module")
def tbroker(_module_broker_factory):
    """One broker for the module: groups form at once, and transactions
    past their timeout are looked for every 200 ms (Kafka: 10 s)."""
    return _module_broker_factory(
        name="txn-broker", group_initial_rebalance_delay_ms=0,
        transaction_abort_timed_out_transaction_cleanup_interval_ms=200)


# ---------------------------------------------------------------- helpers

def txn_producer(bootstrap, tid, **conf):
    """A confluent-kafka transactional producer after init_transactions()."""
    cfg = {"bootstrap.servers": bootstrap, "transactional.id": tid,
           "transaction.timeout.ms": 30000, "linger.ms": 5, "retry.backoff.ms": 50,
           "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500}
    cfg.update(conf)
    p = Producer(cfg)
    p.init_transactions(scaled(30))
    return p


def plain_producer(bootstrap, **conf):
    cfg = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    cfg.update(conf)
    return Producer(cfg)


def produce_all(p, topic, records):
    """records: [(partition, key, value)] (bytes or str)."""
    for part, k, v in records:
        while True:
            try:
                p.produce(topic, key=k, value=v, partition=part)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)


def flushed(p):
    left = p.flush(scaled(30))
    assert left == 0, f"{left} records not delivered"


def recs(tag, n, nparts=NPARTS):
    """n records spread over the partitions: (p, key, value) as bytes."""
    return [(i % nparts, f"{tag}-k{i}".encode(), f"{tag}-v{i}".encode()) for i in range(n)]


def by_part(records, nparts=NPARTS):
    """[(p, key, value)] -> {p: [(key, value)]} in order."""
    out = {p: [] for p in range(nparts)}
    for p, k, v in records:
        out[p].append((k, v))
    return out


def consumer(bootstrap, isolation, **conf):
    cfg = {"bootstrap.servers": bootstrap, "group.id": harness.unique_name("txn-reader"),
           "isolation.level": isolation, "enable.auto.commit": False,
           "enable.auto.offset.store": False, "enable.partition.eof": True,
           "fetch.wait.max.ms": 50}
    cfg.update(conf)
    return Consumer(cfg)


def watermarks(bootstrap, topic, part, isolation):
    """(low, high): high is the LSO for read_committed (ListOffsets with
    isolation level 1), the high watermark for read_uncommitted."""
    c = consumer(bootstrap, isolation)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, part), timeout=scaled(10))
    finally:
        c.close()


def read_all(bootstrap, topic, nparts=NPARTS, isolation="read_committed", timeout=30):
    """Everything a consumer with that isolation level reads from offset 0 up
    to each partition's end at call time (the LSO for read_committed, the
    high watermark otherwise): {p: [(offset, key, value)]}."""
    c = consumer(bootstrap, isolation)
    got = {p: [] for p in range(nparts)}
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=scaled(10))[1]
                for p in range(nparts)}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(nparts)])
        done = {p for p in range(nparts) if ends[p] == 0}
        deadline = time.monotonic() + scaled(timeout)
        while len(done) < nparts:
            assert time.monotonic() < deadline, (
                f"{isolation} read of {topic}: at their end {sorted(done)}, ends {ends}, "
                f"read {({p: len(v) for p, v in got.items()})}")
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if m.offset() >= ends[m.partition()]:
                        done.add(m.partition())
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            got[m.partition()].append((m.offset(), m.key(), m.value()))
    finally:
        c.close()
    return got


def kv(got):
    """{p: [(offset, key, value)]} -> {p: [(key, value)]}."""
    return {p: [(k, v) for _, k, v in rs] for p, rs in got.items()}


def committed(bootstrap, group, topic, nparts=NPARTS, c=None):
    """The group's committed offsets {p: offset} (-1001 = none), read with
    a read_uncommitted consumer (OffsetFetch without require_stable)."""
    own = c is None
    c = c or consumer(bootstrap, "read_uncommitted", **{"group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(nparts)], timeout=scaled(10))
        for tp in tps:
            assert tp.error is None, f"committed {tp}: {tp.error}"
        return {tp.partition: tp.offset for tp in tps}
    finally:
        if own:
            c.close()


def wait_committed(bootstrap, group, topic, want, nparts=NPARTS, c=None, timeout=20):
    """Polls the group's committed offsets until they equal `want`: the
    offsets of a committed transaction appear once its markers are written,
    which the coordinator does after answering EndTxn, as Kafka does."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        got = committed(bootstrap, group, topic, nparts, c)
        if got == want:
            return
        assert time.monotonic() < deadline, f"committed offsets {got}, want {want}"
        time.sleep(0.05)


def fill_input(bootstrap, topic, count, nparts=NPARTS, **conf):
    """Input record i: partition i % nparts, key k<i>, value v<i> (as the
    C program's fill does), by an idempotent producer with conf."""
    p = plain_producer(bootstrap, **conf)
    produce_all(p, topic, [(i % nparts, f"k{i}".encode(), f"v{i}".encode())
                           for i in range(count)])
    flushed(p)


def expect_copy(bootstrap, src, dst, group, count, nparts=NPARTS):
    """dst, read_committed, holds each input record exactly once, in input
    order per partition, as key '<p>:<input offset>' and value 'out:v<i>';
    the group's committed offsets equal the input's end offsets. Returns
    how many records dst holds in all (aborted copies and markers incl.)."""
    got = read_all(bootstrap, dst, nparts, "read_committed")
    ends = {}
    for p in range(nparts):
        want = [(f"{p}:{o}".encode(), f"out:v{i}".encode())
                for o, i in enumerate(range(p, count, nparts))]
        have = [(k, v) for _, k, v in got[p]]
        if have != want:
            keys = [k for k, _ in have]
            dups = len(keys) - len(set(keys))
            missing = sorted(set(k for k, _ in want) - set(keys))[:10]
            raise AssertionError(f"{dst} partition {p}: {len(have)} records, want {len(want)}; "
                                 f"{dups} duplicates, missing {missing}; first {have[:5]}")
        ends[p] = len(want)
    assert committed(bootstrap, group, src, nparts) == ends
    return sum(watermarks(bootstrap, dst, p, "read_uncommitted")[1] for p in range(nparts))


# ---------------------------------------------------------------- commit / abort

def test_commit_abort_isolation(tbroker, topic_name):
    b, topic = tbroker.bootstrap, topic_name()
    tbroker.create_topic(topic, partitions=NPARTS)
    p = txn_producer(b, harness.unique_name("tx-ca"))
    plan = [("c1", 12, True), ("a1", 9, False), ("c2", 6, True), ("a2", 3, False),
            ("c3", 30, True)]
    for tag, n, commit in plan:
        p.begin_transaction()
        produce_all(p, topic, recs(tag, n))
        if commit:
            p.commit_transaction(scaled(30))
        else:
            flushed(p)             # the aborted records are on the broker
            p.abort_transaction(scaled(30))
    every = [r for tag, n, _ in plan for r in recs(tag, n)]
    good = [r for tag, n, commit in plan if commit for r in recs(tag, n)]
    assert kv(read_all(b, topic, isolation="read_committed")) == by_part(good)
    assert kv(read_all(b, topic, isolation="read_uncommitted")) == by_part(every)
    # One marker per transaction in each partition (each took part in all).
    for part in range(NPARTS):
        n = len(by_part(every)[part])
        assert watermarks(b, topic, part, "read_uncommitted") == (0, n + len(plan))
        assert watermarks(b, topic, part, "read_committed") == (0, n + len(plan))


# ---------------------------------------------------------------- consume-transform-produce

def test_consume_transform_produce_confluent(tbroker, topic_name):
    """Subscribe + transactional copy, 100 records per transaction, every
    third transaction aborted after its offsets were sent. Before each
    commit the group's offsets are still the previous ones; after an abort
    they stay; after a commit they are the transaction's."""
    b, count = tbroker.bootstrap, 900
    src, dst, group = topic_name("in"), topic_name("out"), harness.unique_name("ctp")
    tbroker.create_topic(src, partitions=NPARTS)
    tbroker.create_topic(dst, partitions=NPARTS)
    fill_input(b, src, count)
    c = consumer(b, "read_committed", **{"group.id": group, "enable.partition.eof": False,
                                         "auto.offset.reset": "earliest"})
    checker = consumer(b, "read_uncommitted", **{"group.id": group})
    p = txn_producer(b, harness.unique_name("tx-ctp"))
    copied = txns = aborted = 0
    last = {q: -1001 for q in range(NPARTS)}
    try:
        c.subscribe([src])
        deadline = time.monotonic() + scaled(60)
        while copied < count:
            assert time.monotonic() < deadline, f"copied {copied} of {count}"
            msgs = c.consume(100, scaled(1))
            for m in msgs:
                assert not m.error(), m.error()
            if not msgs:
                continue
            p.begin_transaction()
            produce_all(p, dst, [(m.partition(), f"{m.partition()}:{m.offset()}".encode(),
                                  b"out:" + m.value()) for m in msgs])
            nxt = {}
            for m in msgs:
                nxt[m.partition()] = m.offset() + 1
            p.send_offsets_to_transaction([TopicPartition(src, q, o) for q, o in nxt.items()],
                                          c.consumer_group_metadata(), scaled(30))
            assert committed(b, group, src, c=checker) == last, "offsets visible before commit"
            if txns % 3 == 2:
                flushed(p)
                p.abort_transaction(scaled(30))
                assert committed(b, group, src, c=checker) == last, "offsets of an aborted txn"
                for tp in c.committed([TopicPartition(src, q) for q in nxt], timeout=scaled(10)):
                    c.seek(TopicPartition(src, tp.partition,
                                          tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
                aborted += 1
            else:
                p.commit_transaction(scaled(30))
                last.update(nxt)
                wait_committed(b, group, src, last, c=checker)
                copied += len(msgs)
            txns += 1
    finally:
        c.close()
        checker.close()
    assert aborted >= 2
    total = expect_copy(b, src, dst, group, count)
    assert total > count + txns      # aborted copies are stored, just invisible


def c_exe(tmp_path_factory, name):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler (cc) on PATH")
    out = tmp_path_factory.mktemp(name) / name
    run([cc, "-std=c17", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-o", str(out),
         str(HERE / "c" / f"{name}.c"), "-lrdkafka"], timeout=120)
    return str(out)


@pytest.fixture(scope="module")
def rdk_txn(tmp_path_factory):
    return c_exe(tmp_path_factory, "rdk_txn")


def test_consume_transform_produce_rdkafka_c(tbroker, rdk_txn, topic_name):
    """c/rdk_txn.c: idempotent fill of 3000 records, then a subscribe +
    transactional copy (200 per transaction, every 4th aborted and
    re-read from the committed offsets)."""
    b, count = tbroker.bootstrap, 3000
    src, dst, group = topic_name("in"), topic_name("out"), harness.unique_name("rdk-ctp")
    tbroker.create_topic(src, partitions=NPARTS)
    tbroker.create_topic(dst, partitions=NPARTS)
    cp = run([rdk_txn, b, src, dst, str(NPARTS), str(count), group,
              harness.unique_name("rdk-tx"), "200", "4"], timeout=120, check=False)
    out = cp.stdout.decode() + cp.stderr.decode("utf-8", "replace")
    assert cp.returncode == 0 and "rdk_txn: OK" in out, \
        f"rdk_txn exited {cp.returncode}:\n{out[-4000:]}"
    # the idempotent fill: exactly once, in order
    got = kv(read_all(b, src, isolation="read_uncommitted"))
    assert got == {p: [(f"k{i}".encode(), f"v{i}".encode()) for i in range(p, count, NPARTS)]
                   for p in range(NPARTS)}
    total = expect_copy(b, src, dst, group, count)
    assert total > count, "no aborted copy stored"
    print(out.strip().splitlines()[-1])


# ---------------------------------------------------------------- interleaved, many segments

def test_interleaved_transactions_across_segments(broker_factory, node, tmp_path, topic_name):
    """Three transactional producers interleave their records batch by batch
    in one partition of 2 KiB segments, 12 rounds, in each of which one of
    them aborts (one producer compresses with gzip, which KafkaJS reads): the
    aborted ranges overlap committed data of the others and span segment
    boundaries, so read_committed needs the per-producer aborted-transaction
    list across segments. confluent-kafka and KafkaJS (each filters aborted
    batches itself) read exactly the committed records, also after a
    SIGKILL (aborted-transaction index and LSO rebuilt by recovery)."""
    ROUNDS = 12
    bk = broker_factory(group_initial_rebalance_delay_ms=0)   # KafkaJS reads in a group
    b, topic = bk.bootstrap, topic_name()
    bk.create_topic(topic, partitions=1, config={"segment.bytes": 2048})
    prods = [txn_producer(b, harness.unique_name(f"tx-il{j}"), **{
        "linger.ms": 0, "compression.type": "gzip" if j == 2 else "none"}) for j in range(3)]
    committed_tags = set()
    for r in range(ROUNDS):
        for p in prods:
            p.begin_transaction()
        for i in range(4):
            for j, p in enumerate(prods):
                produce_all(p, topic, [(0, f"r{r}-p{j}-{i}".encode(), b"x" * 100)])
                flushed(p)     # one batch each: the producers' batches interleave
        for j, p in enumerate(prods):
            if (r + j) % 3 == 0:
                p.abort_transaction(scaled(30))
            else:
                p.commit_transaction(scaled(30))
                committed_tags.add(f"r{r}-p{j}-")
    every = read_all(b, topic, 1, "read_uncommitted")[0]
    assert len(every) == ROUNDS * 3 * 4
    good = [(k, v) for _, k, v in every if k.decode().rsplit("-", 1)[0] + "-" in committed_tags]
    assert len(good) == ROUNDS * 2 * 4
    segs = sorted(bk.data_dir.glob(f"{topic}-0/*.log"))
    assert len(segs) >= 10, f"{len(segs)} segments"

    def check():
        assert kv(read_all(b, topic, 1, "read_committed")) == {0: good}
        res = kafkajs(node, tmp_path, "consume.js", {
            "bootstrap": b, "topic": topic, "groupId": harness.unique_name("js-read"),
            "total": len(good), "timeoutMs": int(scaled(30000)),
            "outPath": str(tmp_path / "consumed.json")})
        assert res["count"] == len(good)
        seen = json.loads((tmp_path / "consumed.json").read_text())["records"]
        assert [(base64.b64decode(r["key"]), base64.b64decode(r["value"]))
                for r in sorted(seen, key=lambda r: int(r["offset"]))] == good

    check()
    bk.kill9()
    bk.start()
    check()
    print(f"interleaved: {len(every)} records, {len(good)} committed, {len(segs)} segments")


# ---------------------------------------------------------------- KafkaJS

def kafkajs(node, tmp_path, script, plan, timeout=120):
    path = tmp_path / (script + ".plan.json")
    path.write_text(json.dumps(plan))
    cp = run([node, str(NODE_DIR / script), str(path)], timeout=timeout, check=False,
             cwd=str(NODE_DIR))
    err = cp.stderr.decode("utf-8", "replace")
    assert cp.returncode == 0, f"{script} exited {cp.returncode}:\n{err[-4000:]}"
    return json.loads(cp.stdout)


def test_kafkajs_send_offsets_commit_abort(tbroker, node, tmp_path, topic_name):
    b = tbroker.bootstrap
    src, dst, group = topic_name("in"), topic_name("out"), harness.unique_name("js-grp")
    tbroker.create_topic(src, partitions=2)
    tbroker.create_topic(dst, partitions=2)
    fill_input(b, src, 20, nparts=2)

    def msgs(tag, n):
        return [{"partition": p, "key": k.decode(), "value": v.decode()}
                for p, k, v in recs(tag, n, 2)]

    steps = [
        {"messages": msgs("c1", 6), "offsets": [{"partition": 0, "offset": 2},
                                                {"partition": 1, "offset": 1}], "end": "commit"},
        {"messages": msgs("a1", 4), "offsets": [{"partition": 0, "offset": 9},
                                                {"partition": 1, "offset": 9}], "end": "abort"},
        {"messages": msgs("c2", 5), "offsets": [{"partition": 0, "offset": 4},
                                                {"partition": 1, "offset": 3}], "end": "commit"},
        {"messages": msgs("a2", 2), "offsets": None, "end": "abort"},
    ]
    out = kafkajs(node, tmp_path, "txn.js", {
        "bootstrap": b, "transactionalId": harness.unique_name("js-tx"), "topic": dst,
        "inTopic": src, "group": group, "steps": steps})
    assert [s["end"] for s in out["steps"]] == ["commit", "abort", "commit", "abort"]
    good = recs("c1", 6, 2) + recs("c2", 5, 2)
    every = recs("c1", 6, 2) + recs("a1", 4, 2) + recs("c2", 5, 2) + recs("a2", 2, 2)
    assert kv(read_all(b, dst, 2, "read_committed")) == by_part(good, 2)
    assert kv(read_all(b, dst, 2, "read_uncommitted")) == by_part(every, 2)
    assert committed(b, group, src, 2) == {0: 4, 1: 3}
    # KafkaJS's own consumer (read_committed by default) sees the same
    res = kafkajs(node, tmp_path, "consume.js", {
        "bootstrap": b, "topic": dst, "groupId": harness.unique_name("js-read"),
        "total": len(good), "timeoutMs": int(scaled(30000)),
        "outPath": str(tmp_path / "consumed.json")})
    assert res["count"] == len(good)
    seen = json.loads((tmp_path / "consumed.json").read_text())["records"]
    js = {p: [] for p in range(2)}
    for r in sorted(seen, key=lambda r: (r["p"], int(r["offset"]))):
        js[r["p"]].append((base64.b64decode(r["key"]), base64.b64decode(r["value"])))
    assert js == by_part(good, 2)


# ---------------------------------------------------------------- kafka-python

def test_kafka_python_reads_topic_with_markers(tbroker, topic_name):
    """kafka-python (read_uncommitted, no transactions) reads committed and
    aborted data across control batches without failing. kafka-python 2.0.2
    does not skip control batches: it hands their records (key = version
    int16 + type int16, 1 COMMIT / 0 ABORT; value = version int16 +
    coordinator epoch int32) to the application as it does against Apache
    Kafka; the test expects them at exactly the marker offsets, or none."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    b, topic = tbroker.bootstrap, topic_name()
    tbroker.create_topic(topic, partitions=1)
    p = txn_producer(b, harness.unique_name("tx-kp"))
    plan = [("c1", 5, True), ("a1", 4, False), ("c2", 3, True)]
    expect, markers, off = [], {}, 0
    for tag, n, commit in plan:
        p.begin_transaction()
        batch = recs(tag, n, 1)
        produce_all(p, topic, batch)
        flushed(p)
        (p.commit_transaction if commit else p.abort_transaction)(scaled(30))
        for _, k, v in batch:
            expect.append((off, k, v))
            off += 1
        markers[off] = b"\x00\x00\x00\x01" if commit else b"\x00\x00\x00\x00"
        off += 1
    plain = plain_producer(b)
    produce_all(plain, topic, [(0, b"plain-k", b"plain-v")])
    flushed(plain)
    expect.append((off, b"plain-k", b"plain-v"))
    end = off + 1
    kc = KafkaConsumer(bootstrap_servers=b, enable_auto_commit=False, group_id=None,
                       auto_offset_reset="earliest", consumer_timeout_ms=int(scaled(2000)))
    try:
        tp = KTP(topic, 0)
        kc.assign([tp])
        kc.seek_to_beginning(tp)
        got = []
        deadline = time.monotonic() + scaled(30)
        while kc.position(tp) < end and time.monotonic() < deadline:
            for rs in kc.poll(timeout_ms=200).values():
                got += [(r.offset, r.key, r.value) for r in rs]
        assert kc.position(tp) == end and kc.end_offsets([tp])[tp] == end
    finally:
        kc.close()
    data = [r for r in got if r[0] not in markers]
    ctrl = [r for r in got if r[0] in markers]
    assert data == expect
    if ctrl:   # kafka-python 2.0.2: every marker, as a record
        assert [(o, k) for o, k, _ in ctrl] == sorted(markers.items())
        assert all(len(v) == 6 and v[:2] == b"\x00\x00" for _, _, v in ctrl), ctrl
    print(f"kafka-python: {len(data)} data records, {len(ctrl)} control records")


# ---------------------------------------------------------------- fencing

def test_fencing_same_transactional_id(tbroker, topic_name):
    b, topic = tbroker.bootstrap, topic_name()
    tbroker.create_topic(topic, partitions=NPARTS)
    tid = harness.unique_name("tx-fence")
    p1 = txn_producer(b, tid)
    p1.begin_transaction()
    produce_all(p1, topic, recs("old", 9))
    flushed(p1)
    # The new instance's InitProducerId bumps the epoch and aborts p1's
    # open transaction (librdkafka retries CONCURRENT_TRANSACTIONS meanwhile).
    p2 = txn_producer(b, tid)
    with pytest.raises(KafkaException) as ei:
        p1.commit_transaction(scaled(30))
    err = ei.value.args[0]
    assert err.name() in FENCED and err.fatal(), f"first producer's commit: {err}"
    print(f"fenced producer's commit: {err.name()}: {err.str()}")
    for tag in ("new1", "new2"):
        p2.begin_transaction()
        produce_all(p2, topic, recs(tag, 6))
        p2.commit_transaction(scaled(30))
    good = recs("new1", 6) + recs("new2", 6)
    assert kv(read_all(b, topic, isolation="read_committed")) == by_part(good)
    assert kv(read_all(b, topic, isolation="read_uncommitted")) == by_part(recs("old", 9) + good)
    # the fenced producer cannot write in a new transaction either
    with pytest.raises(KafkaException) as ei:
        p1.begin_transaction()
    assert ei.value.args[0].fatal()


# ---------------------------------------------------------------- timeout

def test_timed_out_transaction_aborted_by_broker(tbroker, topic_name):
    """A transaction (timeout 3 s, x3 under sanitizers) left open: the broker aborts it (cleanup
    every 200 ms). Until then a read_committed consumer is stuck before it,
    also before a later committed transaction of another producer; then it
    reads on, the open transaction's data never shows, and its producer is
    fenced."""
    b, topic = tbroker.bootstrap, topic_name()
    tbroker.create_topic(topic, partitions=1)
    timeout_s = scaled(3)     # long enough for the other producer's steps below
    old = txn_producer(b, harness.unique_name("tx-old"),
                       **{"transaction.timeout.ms": int(timeout_s * 1000)})
    t_begin = time.monotonic()
    old.begin_transaction()
    produce_all(old, topic, recs("old", 5, 1))
    flushed(old)
    new = txn_producer(b, harness.unique_name("tx-new"))
    new.begin_transaction()
    produce_all(new, topic, recs("new", 4, 1))
    new.commit_transaction(scaled(30))
    assert watermarks(b, topic, 0, "read_committed")[1] == 0, "LSO not at the open transaction"
    c = consumer(b, "read_committed")
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = []
        deadline = time.monotonic() + scaled(30)
        while len(got) < 4:
            assert time.monotonic() < deadline, f"read_committed still stuck: {got}"
            m = c.poll(0.1)
            if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not m.error(), m.error()
            got.append((m.offset(), m.key(), m.value()))
        waited = time.monotonic() - t_begin
    finally:
        c.close()
    assert waited >= timeout_s - 0.1, \
        f"the open transaction ended after {waited:.2f} s, its timeout is {timeout_s} s"
    assert [(k, v) for _, k, v in got] == [(k, v) for _, k, v in recs("new", 4, 1)]
    assert got[0][0] == 5, "committed records after the aborted ones keep their offsets"
    assert kv(read_all(b, topic, 1, "read_committed")) == by_part(recs("new", 4, 1), 1)
    with pytest.raises(KafkaException) as ei:
        old.commit_transaction(scaled(30))
    err = ei.value.args[0]
    assert err.name() in FENCED and err.fatal(), f"timed-out producer's commit: {err}"
    print(f"timed-out producer's commit: {err.name()}: {err.str()}")
    # markers: new's COMMIT and the broker's ABORT of old
    assert watermarks(b, topic, 0, "read_uncommitted") == (0, 11)
    assert watermarks(b, topic, 0, "read_committed") == (0, 11)


def test_open_transaction_times_out_after_sigkill(broker_factory, topic_name):
    """The broker is SIGKILLed while a transaction is open; after the
    restart the recovered transaction still times out (its start time is
    durable): the broker aborts it, the LSO moves past it, its data never
    shows and its producer is fenced."""
    bk = broker_factory(transaction_abort_timed_out_transaction_cleanup_interval_ms=200)
    b, topic = bk.bootstrap, topic_name()
    bk.create_topic(topic, partitions=2)
    timeout_s = scaled(4)
    p = txn_producer(b, harness.unique_name("tx-hang"),
                     **{"transaction.timeout.ms": int(timeout_s * 1000)})
    t_begin = time.monotonic()
    p.begin_transaction()
    produce_all(p, topic, recs("hang", 10, 2))
    flushed(p)
    bk.kill9()
    bk.start()
    assert [watermarks(b, topic, q, "read_committed") for q in range(2)] == [(0, 0)] * 2
    deadline = time.monotonic() + timeout_s + scaled(15)
    while [watermarks(b, topic, q, "read_committed")[1] for q in range(2)] != [6, 6]:
        assert time.monotonic() < deadline, "the recovered open transaction was never aborted"
        time.sleep(0.1)
    waited = time.monotonic() - t_begin
    assert waited >= timeout_s - 0.1, f"aborted after {waited:.2f} s, timeout {timeout_s} s"
    assert [watermarks(b, topic, q, "read_uncommitted") for q in range(2)] == [(0, 6)] * 2
    assert kv(read_all(b, topic, 2, "read_committed")) == {0: [], 1: []}
    assert kv(read_all(b, topic, 2, "read_uncommitted")) == by_part(recs("hang", 10, 2), 2)
    with pytest.raises(KafkaException) as ei:
        p.commit_transaction(scaled(30))
    assert ei.value.args[0].name() in FENCED and ei.value.args[0].fatal(), ei.value.args[0]


# ---------------------------------------------------------------- LSO

def test_read_committed_waits_at_open_transaction(tbroker, topic_name):
    b, topic = tbroker.bootstrap, topic_name()
    tbroker.create_topic(topic, partitions=1)
    plain = plain_producer(b)
    produce_all(plain, topic, [(0, b"r0", b"r0"), (0, b"r1", b"r1")])
    flushed(plain)
    p = txn_producer(b, harness.unique_name("tx-lso"))
    p.begin_transaction()
    produce_all(p, topic, recs("t", 5, 1))         # offsets 2..6
    flushed(p)
    produce_all(plain, topic, [(0, b"r2", b"r2")])  # offset 7, after the open transaction
    flushed(plain)
    assert watermarks(b, topic, 0, "read_committed") == (0, 2)
    assert watermarks(b, topic, 0, "read_uncommitted") == (0, 8)
    c = consumer(b, "read_committed")
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got, eofs = [], []
        deadline = time.monotonic() + scaled(20)

        def poll_until(pred):
            while not pred():
                assert time.monotonic() < deadline, f"read {got}, EOFs at {eofs}"
                m = c.poll(0.1)
                if m is None:
                    continue
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    eofs.append(m.offset())
                    continue
                got.append((m.offset(), m.key(), m.value()))

        poll_until(lambda: eofs)
        # at its end at the LSO: nothing of the open transaction, nor r2
        assert got == [(0, b"r0", b"r0"), (1, b"r1", b"r1")] and eofs == [2]
        p.commit_transaction(scaled(30))
        poll_until(lambda: len(got) == 8 and len(eofs) >= 2)
        assert got[2:] == [(2 + i, k, v) for i, (_, k, v) in enumerate(recs("t", 5, 1))] + \
            [(7, b"r2", b"r2")]
        assert eofs[-1] == 9       # the COMMIT marker at 8
    finally:
        c.close()
    assert watermarks(b, topic, 0, "read_committed") == (0, 9)


# ---------------------------------------------------------------- restart

@pytest.mark.parametrize("how", ["restart", "sigkill"])
def test_state_survives_restart(broker_factory, topic_name, how):
    """Committed and aborted transactions, the LSO and an open transaction
    survive a clean restart / SIGKILL: the reads are the same afterwards,
    the open transaction still holds the LSO and commits once the broker is
    back (the same producer, reconnected); its transactional id can then be
    taken over by a new instance."""
    bk = broker_factory()
    b, topic = bk.bootstrap, topic_name()
    bk.create_topic(topic, partitions=2)
    p = txn_producer(b, harness.unique_name("tx-rs1"))
    for tag, commit in (("c1", True), ("a1", False), ("c2", True)):
        p.begin_transaction()
        produce_all(p, topic, recs(tag, 8, 2))
        flushed(p)
        (p.commit_transaction if commit else p.abort_transaction)(scaled(30))
    tid_open = harness.unique_name("tx-rs2")
    q = txn_producer(b, tid_open)
    q.begin_transaction()
    produce_all(q, topic, recs("open", 6, 2))
    flushed(q)
    good = recs("c1", 8, 2) + recs("c2", 8, 2)
    every = good[:8] + recs("a1", 8, 2) + good[8:] + recs("open", 6, 2)

    def state():
        return ([watermarks(b, topic, part, iso) for part in range(2)
                 for iso in ("read_committed", "read_uncommitted")],
                kv(read_all(b, topic, 2, "read_committed")),
                kv(read_all(b, topic, 2, "read_uncommitted")))

    before = state()
    # per partition: 3 x 4 records + 3 markers, then 3 open records: LSO 15, HW 18
    assert before[0] == [(0, 15), (0, 18)] * 2
    assert before[1] == by_part(good, 2) and before[2] == by_part(every, 2)
    if how == "restart":
        bk.restart()
    else:
        bk.kill9()
        bk.start()
    assert state() == before
    q.commit_transaction(scaled(60))
    assert kv(read_all(b, topic, 2, "read_committed")) == by_part(good + recs("open", 6, 2), 2)
    q2 = txn_producer(b, tid_open)
    q2.begin_transaction()
    produce_all(q2, topic, recs("after", 4, 2))
    q2.commit_transaction(scaled(30))
    assert kv(read_all(b, topic, 2, "read_committed")) == \
        by_part(good + recs("open", 6, 2) + recs("after", 4, 2), 2)
