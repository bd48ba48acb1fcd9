"""rnl txn list|describe and rnl topic describe --producers (tools/rnl/txn*.c,
topic_producers.c; raw ListTransactions, DescribeTransactions,
FindCoordinator and DescribeProducers over tools/rnl/wire.c) against the real
runnel broker.

One module broker. The module fixture drives transactions with
confluent-kafka and remembers what it did: on a 2-partition topic one
transaction COMMITTED (3 records to partition 0, 2 to partition 1), one
ABORTED (2 records to partition 0), one left OPEN (2 records to partition 1),
each with its own transaction.timeout.ms; on a second topic an idempotent,
non-transactional producer writes 4 records. Every record has an explicit
timestamp and its offset comes from the delivery report, so the producer
table (last sequence, last timestamp, open transaction's first offset) and
the transaction states, timeouts, start time and partitions are checked
EXACTLY against what was done, as table and as JSON. A last test opens and
aborts a transaction and follows it through Ongoing -> CompleteAbort.
"""

import json
import os
import time

import pytest

from harness import free_port, run, scaled, unique_name, RNL_BIN

TIMEOUT_MS = int(scaled(10000))
BASE_TS = 1_700_000_000_000      # record timestamps: BASE_TS + i


@pytest.fixture(scope="module", autouse=True)
def _rnl_built():
    if not os.access(RNL_BIN, os.X_OK):
        pytest.fail(f"{RNL_BIN} missing: build it with `make build/rnl` (or set RNL_BIN)")


# ---------------------------------------------------------------- helpers

def rnl(b, *args, status=0):
    """Runs `rnl --brokers B --timeout T ARGS`; asserts the exit status and
    returns (stdout, stderr) as text."""
    cmd = [RNL_BIN, "--brokers", b.bootstrap, "--timeout", str(TIMEOUT_MS), *args]
    cp = run(cmd, check=False, timeout=60)
    out, err = cp.stdout.decode(), cp.stderr.decode()
    assert cp.returncode == status, (f"rnl {' '.join(args)}: exit {cp.returncode}, want {status}\n"
                                     f"stdout: {out}\nstderr: {err}")
    return out, err


def rnl_json(b, *args):
    out, _ = rnl(b, *args, "--json")
    assert out.endswith("\n") and out.count("\n") == 1, out
    return json.loads(out)


def table(rows):
    """rows as rnl prints a table: left-aligned, two spaces apart, the last
    column unpadded."""
    widths = [max(len(str(r[c])) for r in rows) for c in range(len(rows[0]))]
    return "".join("  ".join(str(v).ljust(w) for v, w in zip(r[:-1], widths)) + f"  {r[-1]}\n"
                   for r in rows)


def dash(v):
    return "-" if v is None else v


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def producer(b, **conf):
    from confluent_kafka import Producer
    c = {"bootstrap.servers": b.bootstrap, "linger.ms": 5,
         "socket.timeout.ms": int(scaled(10000))}
    c.update(conf)
    return Producer(c)


def send(p, topic, partition, n, sent):
    """Produces n records to (topic, partition) with timestamps BASE_TS + i
    and flushes; appends their offsets (from the delivery reports) to sent
    and returns them."""
    got = []

    def on_delivery(err, msg):
        assert err is None, err
        got.append(msg.offset())
    for i in range(n):
        p.produce(topic, value=f"v{i}".encode(), partition=partition,
                  timestamp=BASE_TS + i, on_delivery=on_delivery)
    assert p.flush(scaled(30)) == 0
    assert len(got) == n
    sent.extend(got)
    return got


def txn_producer(b, tid, timeout_ms):
    p = producer(b, **{"transactional.id": tid, "transaction.timeout.ms": timeout_ms})
    p.init_transactions(scaled(30))
    return p


def wait_states(b, want):
    """Polls `txn list --json` until every id in want {tid: state} has its
    state; returns the listing {tid: entry}."""
    deadline = time.monotonic() + scaled(15)
    while True:
        got = {t["transactional_id"]: t for t in rnl_json(b, "txn", "list")["transactions"]}
        if all(got.get(t, {}).get("state") == s for t, s in want.items()):
            return got
        assert time.monotonic() < deadline, f"states {want} never reached: {got}"
        time.sleep(0.1)


def producers_by_partition(b, topic):
    doc = rnl_json(b, "topic", "describe", topic, "--producers")
    assert doc["topic"] == topic
    for p in doc["partitions"]:
        assert p["error"] is None, p
    return {p["partition"]: p["producers"] for p in doc["partitions"]}


# ---------------------------------------------------------------- the known state

class State:
    pass


@pytest.fixture(scope="module")
def txns(module_broker):
    b = module_broker
    s = State()
    s.b = b
    s.topic, s.itopic = unique_name("txt"), unique_name("idem")
    s.commit, s.abort, s.open = unique_name("tx-c"), unique_name("tx-a"), unique_name("tx-o")
    b.create_topic(s.topic, partitions=2)
    b.create_topic(s.itopic, partitions=1)

    pc = txn_producer(b, s.commit, 30000)
    pc.begin_transaction()
    s.commit_p0 = send(pc, s.topic, 0, 3, [])
    s.commit_p1 = send(pc, s.topic, 1, 2, [])
    s.markers_t0 = int(time.time() * 1000)
    pc.commit_transaction(scaled(30))

    pa = txn_producer(b, s.abort, 31000)
    pa.begin_transaction()
    s.abort_p0 = send(pa, s.topic, 0, 2, [])
    pa.abort_transaction(scaled(30))

    po = txn_producer(b, s.open, 45000)
    po.begin_transaction()
    s.open_t0 = int(time.time() * 1000)
    s.open_p1 = send(po, s.topic, 1, 2, [])
    s.open_t1 = int(time.time() * 1000)

    pi = producer(b, **{"enable.idempotence": True})
    s.idem = send(pi, s.itopic, 0, 4, [])

    s.list = wait_states(b, {s.commit: "CompleteCommit", s.abort: "CompleteAbort",
                             s.open: "Ongoing"})
    s.markers_t1 = int(time.time() * 1000)
    s.pid = {t: s.list[t]["producer_id"] for t in (s.commit, s.abort, s.open)}
    yield s
    po.abort_transaction(scaled(30))


# ---------------------------------------------------------------- txn list

def test_list_table_and_json(txns):
    s, b = txns, txns.b
    assert len(set(s.pid.values())) == 3, s.pid
    rows = sorted([(s.commit, 1, s.pid[s.commit], "CompleteCommit"),
                   (s.abort, 1, s.pid[s.abort], "CompleteAbort"),
                   (s.open, 1, s.pid[s.open], "Ongoing")])
    out, err = rnl(b, "txn", "list")
    assert out == table([("TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE")] + rows)
    assert err == ""
    doc = rnl_json(b, "txn", "list")
    assert doc == {"transactions": [{"transactional_id": t, "coordinator": c, "producer_id": p,
                                     "state": st} for t, c, p, st in rows]}


def test_list_filters(txns):
    s, b = txns, txns.b

    def ids(*args):
        return [t["transactional_id"] for t in rnl_json(b, "txn", "list", *args)["transactions"]]
    assert ids("--state", "ongoing") == [s.open]
    assert ids("--state", "CompleteCommit,CompleteAbort") == sorted([s.commit, s.abort])
    assert ids("--state", "CompleteCommit", "-s", "Ongoing") == sorted([s.commit, s.open])
    assert ids("--state", "PrepareCommit") == []
    assert ids("--producer-id", str(s.pid[s.abort])) == [s.abort]
    assert ids("-p", str(s.pid[s.abort]), "-p", str(s.pid[s.open])) == sorted([s.abort, s.open])
    assert ids("--producer-id", str(s.pid[s.abort]), "--state", "Ongoing") == []
    out, _ = rnl(b, "txn", "list", "--state", "Ongoing")
    assert out == table([("TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE"),
                         (s.open, 1, s.pid[s.open], "Ongoing")])


# ---------------------------------------------------------------- txn describe

def test_describe_json(txns):
    s, b = txns, txns.b
    doc = rnl_json(b, "txn", "describe", s.open, s.commit, s.abort, s.open)
    got = doc["transactions"]
    assert [t["transactional_id"] for t in got] == [s.open, s.commit, s.abort]
    o, c, a = got
    assert (o["coordinator"], o["state"], o["producer_id"], o["producer_epoch"],
            o["timeout_ms"]) == (1, "Ongoing", s.pid[s.open], 0, 45000)
    assert o["partitions"] == [{"topic": s.topic, "partition": 1}]
    # The coordinator starts the transaction when the first partition is
    # added (the first produce), between these two wall-clock readings.
    assert s.open_t0 - 1000 <= o["start_time_ms"] <= s.open_t1 + 1000, (o, s.open_t0)
    assert o["age_ms"] >= 0
    assert (c["state"], c["producer_id"], c["producer_epoch"], c["timeout_ms"],
            c["partitions"]) == ("CompleteCommit", s.pid[s.commit], 0, 30000, [])
    assert (a["state"], a["producer_id"], a["producer_epoch"], a["timeout_ms"],
            a["partitions"]) == ("CompleteAbort", s.pid[s.abort], 0, 31000, [])


def test_describe_table(txns):
    s, b = txns, txns.b
    doc = rnl_json(b, "txn", "describe", s.commit, s.open)
    start = {t["transactional_id"]: t["start_time_ms"] for t in doc["transactions"]}
    out, err = rnl(b, "txn", "describe", s.commit, s.open)
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "EPOCH",
                                "STATE", "TIMEOUT-MS", "START-TIME", "AGE", "PARTITIONS"]
    assert len(lines) == 3
    c, o = (line.split() for line in lines[1:])
    want_c = [s.commit, "1", str(s.pid[s.commit]), "0", "CompleteCommit", "30000"]
    assert c[:6] == want_c and c[6] == (iso(start[s.commit]) if start[s.commit] is not None
                                        else "-")
    assert c[8] == "-"
    assert o[:6] == [s.open, "1", str(s.pid[s.open]), "0", "Ongoing", "45000"]
    assert o[6] == iso(start[s.open])
    assert o[7].endswith("s") and float(o[7][:-1]) >= 0
    assert o[8] == f"{s.topic}:1"


def test_describe_unknown_id(txns):
    s, b = txns, txns.b
    out, err = rnl(b, "txn", "describe", "nosuch-tid", s.abort, status=1)
    assert err == 'rnl: describe transaction "nosuch-tid": TRANSACTIONAL_ID_NOT_FOUND\n'
    assert out.splitlines()[1].split()[:5] == [s.abort, "1", str(s.pid[s.abort]), "0",
                                               "CompleteAbort"]
    out, err = rnl(b, "txn", "describe", "nosuch-tid", status=1)
    assert (out, err) == ("", 'rnl: describe transaction "nosuch-tid": TRANSACTIONAL_ID_NOT_FOUND\n')
    out, err = rnl(b, "txn", "describe", "nosuch-tid", "--json", status=1)
    assert json.loads(out) == {"transactions": []}


# ---------------------------------------------------------------- describe --producers

def test_producers_transactional(txns):
    s, b = txns, txns.b
    pc, pa, po = s.pid[s.commit], s.pid[s.abort], s.pid[s.open]
    # Committed and aborted: their markers (coordinator epoch 0) closed the
    # transaction; the open one has no marker yet and its transaction starts
    # at its first record.
    want = {
        0: sorted([(pc, 0, 2, BASE_TS + 2, 0, None), (pa, 0, 1, BASE_TS + 1, 0, None)]),
        1: sorted([(pc, 0, 1, BASE_TS + 1, 0, None),
                   (po, 0, 1, BASE_TS + 1, None, s.open_p1[0])]),
    }
    keys = ("producer_id", "epoch", "last_sequence", "last_timestamp", "coordinator_epoch",
            "current_txn_start_offset")
    got = producers_by_partition(b, s.topic)
    assert sorted(got) == [0, 1]
    for p, rows in want.items():
        assert len(got[p]) == len(rows), got
        for e, r in zip(got[p], rows):
            w = dict(zip(keys, r))
            # Kafka's ProducerAppendInfo.appendEndTxnMarker sets lastTimestamp
            # to the marker's (wall-clock) timestamp; runnel keeps the last
            # batch's max timestamp. Either, and nothing else, for a producer
            # a marker closed.
            if w["coordinator_epoch"] is not None and e["last_timestamp"] != w["last_timestamp"]:
                assert s.markers_t0 - 1000 <= e["last_timestamp"] <= s.markers_t1 + 1000, e
                w["last_timestamp"] = e["last_timestamp"]
            assert e == w
    shown = [(p, *map(dash, (e[k] for k in keys))) for p, rows in got.items() for e in rows]
    out, err = rnl(b, "topic", "describe", s.topic, "--producers")
    assert err == ""
    assert out == table([("PARTITION", "PRODUCER-ID", "EPOCH", "LAST-SEQUENCE",
                          "LAST-TIMESTAMP", "COORDINATOR-EPOCH", "TXN-START-OFFSET")] + shown)


def test_producers_idempotent(txns):
    s, b = txns, txns.b
    got = producers_by_partition(b, s.itopic)
    assert list(got) == [0] and len(got[0]) == 1, got
    (e,) = got[0]
    assert e["producer_id"] not in s.pid.values()
    assert e == {"producer_id": e["producer_id"], "epoch": 0, "last_sequence": 3,
                 "last_timestamp": BASE_TS + 3, "coordinator_epoch": None,
                 "current_txn_start_offset": None}
    out, _ = rnl(b, "topic", "describe", s.itopic, "--producers")
    assert out == table([("PARTITION", "PRODUCER-ID", "EPOCH", "LAST-SEQUENCE",
                          "LAST-TIMESTAMP", "COORDINATOR-EPOCH", "TXN-START-OFFSET"),
                         (0, e["producer_id"], 0, 3, BASE_TS + 3, "-", "-")])


def test_producers_none(module_broker):
    b = module_broker
    topic = unique_name("empty")
    b.create_topic(topic, partitions=2)
    out, _ = rnl(b, "topic", "describe", topic, "--producers")
    assert out == "producers: none\n"
    assert rnl_json(b, "topic", "describe", topic, "--producers") == {
        "topic": topic, "partitions": [{"partition": 0, "error": None, "producers": []},
                                       {"partition": 1, "error": None, "producers": []}]}


def test_open_then_abort(module_broker):
    """One transaction through its life: Ongoing with its partition and
    first offset, then aborted: CompleteAbort, partitions cleared, the
    partition's producer entry closed by the marker."""
    b = module_broker
    topic, tid = unique_name("life"), unique_name("tx-l")
    b.create_topic(topic, partitions=1)
    p = txn_producer(b, tid, 40000)
    p.begin_transaction()
    (first, _) = send(p, topic, 0, 2, [])
    pid = wait_states(b, {tid: "Ongoing"})[tid]["producer_id"]
    (e,) = producers_by_partition(b, topic)[0]
    assert (e["producer_id"], e["current_txn_start_offset"], e["coordinator_epoch"]) == (
        pid, first, None)
    (d,) = rnl_json(b, "txn", "describe", tid)["transactions"]
    assert (d["state"], d["partitions"]) == ("Ongoing", [{"topic": topic, "partition": 0}])
    p.abort_transaction(scaled(30))
    wait_states(b, {tid: "CompleteAbort"})
    (d,) = rnl_json(b, "txn", "describe", tid)["transactions"]
    assert (d["state"], d["producer_id"], d["partitions"]) == ("CompleteAbort", pid, [])
    (e,) = producers_by_partition(b, topic)[0]
    assert (e["producer_id"], e["current_txn_start_offset"], e["coordinator_epoch"]) == (
        pid, None, 0)
    ids = [t["transactional_id"]
           for t in rnl_json(b, "txn", "list", "--state", "Ongoing")["transactions"]]
    assert tid not in ids


# ---------------------------------------------------------------- errors

def test_usage_errors(module_broker):
    b = module_broker
    _, err = rnl(b, "txn", "list", "--state", "Bogus", status=2)
    assert err.startswith("rnl: --state: unknown state 'Bogus'")
    _, err = rnl(b, "txn", "list", "--producer-id", "x", status=2)
    assert "--producer-id: 'x' is not a number" in err
    _, err = rnl(b, "txn", "describe", status=2)
    assert err.startswith("rnl: txn describe needs at least one transactional id")
    _, err = rnl(b, "txn", "frob", status=2)
    assert err.startswith("rnl: unknown txn command 'frob'")
    out, _ = rnl(b, "txn", "--help")
    assert out.startswith("usage: rnl txn list")
    _, err = rnl(b, "topic", "describe", "nosuch", "--producers", status=1)
    assert err == 'rnl: topic "nosuch" does not exist\n'


def test_unreachable_broker():
    port = free_port()
    for args in (["txn", "list"], ["txn", "describe", "x"],
                 ["topic", "describe", "t", "--producers"]):
        cp = run([RNL_BIN, "--brokers", f"127.0.0.1:{port}", "--timeout", "1000", *args],
                 check=False, timeout=60)
        assert cp.returncode == 1, args
        assert cp.stderr.decode().startswith(
            f"rnl: cannot reach broker at 127.0.0.1:{port} (timed out after 1s)"), cp.stderr
