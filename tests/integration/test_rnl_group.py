"""rnl group list|describe|delete|seek (tools/rnl/group.c) against the real
runnel broker.

Every test starts its own broker (group.initial.rebalance.delay.ms=0, so a
consumer's join is not held back) and sets up one KNOWN state with
confluent-kafka: a topic with 3 partitions holding exactly 10/20/30 records
(record i of every partition has timestamp BASE_TS + i s), and a group that
committed offset 4 on partition 0, 20 on partition 1 and nothing on
partition 2 (commit() without subscribing: a group with no members, state
Empty, protocol type ""). The tests then check rnl's output EXACTLY: the
describe table and JSON (lag 6/0/-), list, seek with every --to-* mode
dry-run (nothing changes) and for real (committed() sees the new offsets),
seek refused while a subscribed consumer holds the group, delete, and the
one-line errors.
"""

import json
import os
import time

import pytest

from harness import RNL_BIN, run, scaled

TIMEOUT_MS = int(scaled(10000))
COUNTS = (10, 20, 30)            # records in partitions 0, 1, 2
COMMITS = (4, 20, None)          # the group's committed offsets
BASE_TS = 1_600_000_000_000      # 2020-09-13T12:26:40Z, timestamp of record 0


@pytest.fixture(scope="module", autouse=True)
def _rnl_built():
    if not os.access(RNL_BIN, os.X_OK):
        pytest.fail(f"{RNL_BIN} missing: build it with `make build/rnl` (or set RNL_BIN)")


@pytest.fixture
def gbroker(broker_factory):
    return broker_factory(group_initial_rebalance_delay_ms=0)


# ---------------------------------------------------------------- helpers

def rnl(b, *args, status=0, env=None):
    """Runs `rnl --brokers B --timeout T ARGS`; asserts the exit status and
    returns (stdout, stderr) as text."""
    cmd = [b.rnl, "--brokers", b.bootstrap, "--timeout", str(TIMEOUT_MS), *args]
    cp = run(cmd, check=False, timeout=60, env=env)
    out, err = cp.stdout.decode(), cp.stderr.decode()
    assert cp.returncode == status, (f"rnl {' '.join(args)}: exit {cp.returncode}, want {status}\n"
                                     f"stdout: {out}\nstderr: {err}")
    return out, err


def table(rows):
    """Formats rows as rnl prints a table: left-aligned, two spaces apart,
    the last column unpadded."""
    widths = [max(len(str(r[c])) for r in rows) for c in range(len(rows[0]))]
    return "".join("  ".join(str(v).ljust(w) for v, w in zip(r[:-1], widths)) + f"  {r[-1]}\n"
                   for r in rows)


def dash(v):
    return "-" if v is None else v


def consumer(b, group, **conf):
    from confluent_kafka import Consumer
    c = {"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
         "socket.timeout.ms": int(scaled(10000))}
    c.update(conf)
    return Consumer(c)


def commit(b, group, topic, offsets):
    """Commits {partition: offset} for group without joining it."""
    from confluent_kafka import TopicPartition
    c = consumer(b, group)
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                 asynchronous=False)
    finally:
        c.close()


def committed(b, group, topic):
    """The group's committed offsets of partitions 0..2 (None: none)."""
    from confluent_kafka import TopicPartition
    c = consumer(b, group)
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(len(COUNTS))],
                          timeout=scaled(20))
    finally:
        c.close()
    assert all(tp.error is None for tp in tps), tps
    return [tp.offset if tp.offset >= 0 else None for tp in tps]


def known_state(b, topic_name):
    """Creates the topic with COUNTS records and the group with COMMITS.
    Returns (topic, group)."""
    from confluent_kafka import Producer
    topic, group = topic_name("t"), topic_name("g")
    b.create_topic(topic, partitions=len(COUNTS))
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    for part, n in enumerate(COUNTS):
        for i in range(n):
            p.produce(topic, value=f"p{part}-{i}".encode(), partition=part,
                      timestamp=BASE_TS + i * 1000)
    assert p.flush(scaled(30)) == 0
    commit(b, group, topic, {p: o for p, o in enumerate(COMMITS) if o is not None})
    assert committed(b, group, topic) == list(COMMITS)
    return topic, group


def coordinator(b):
    """The one broker's (id, host, port) as Metadata names it."""
    md = b.admin().list_topics(timeout=scaled(10))
    (node,) = md.brokers.values()
    return node.id, node.host, node.port


def seek_table(topic, old, new, parts=range(len(COUNTS))):
    return table([("TOPIC", "PARTITION", "OLD", "NEW")]
                 + [(topic, p, dash(old[p]), new[p]) for p in parts])


def describe_json(b, *groups):
    out, _ = rnl(b, "group", "describe", *groups, "--json")
    assert out.endswith("\n") and out.count("\n") == 1, out
    return json.loads(out)


def wait_assigned(c, timeout=20):
    deadline = time.monotonic() + scaled(timeout)
    while not c.assignment():
        assert time.monotonic() < deadline, "consumer got no assignment"
        c.poll(0.1)
    return c.assignment()


# ---------------------------------------------------------------- describe / list

def test_describe_exact(gbroker, topic_name):
    b = gbroker
    topic, group = known_state(b, topic_name)
    cid, host, port = coordinator(b)

    doc = describe_json(b, group)
    assert doc == {"groups": [{
        "group": group, "state": "Empty", "protocol_type": "", "assignor": "",
        "coordinator": {"id": cid, "host": host, "port": port},
        "members": [],
        "offsets": [
            {"topic": topic, "partition": 0, "current_offset": 4, "log_end_offset": 10,
             "lag": 6, "consumer_id": None, "host": None, "client_id": None},
            {"topic": topic, "partition": 1, "current_offset": 20, "log_end_offset": 20,
             "lag": 0, "consumer_id": None, "host": None, "client_id": None},
            {"topic": topic, "partition": 2, "current_offset": None, "log_end_offset": 30,
             "lag": None, "consumer_id": None, "host": None, "client_id": None},
        ]}]}

    out, err = rnl(b, "group", "describe", group)
    assert err == ""
    assert out == (
        f'group "{group}": state Empty, protocol type -, assignor -, '
        f"coordinator {cid} ({host}:{port})\n"
        "members: none\n"
        + table([("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                  "CONSUMER-ID", "HOST", "CLIENT-ID"),
                 (topic, 0, 4, 10, 6, "-", "-", "-"),
                 (topic, 1, 20, 20, 0, "-", "-", "-"),
                 (topic, 2, "-", 30, "-", "-", "-", "-")]))

    # Several groups: one block each, in the order given; an unknown
    # group is Dead with nothing to show (as Kafka describes it).
    missing = topic_name("missing")
    out, _ = rnl(b, "group", "describe", group, missing)
    blocks = out.split("\n\n")
    assert len(blocks) == 2 and blocks[0] + "\n" == rnl(b, "group", "describe", group)[0]
    assert blocks[1] == (f'group "{missing}": state Dead, protocol type -, assignor -, '
                         f"coordinator {cid} ({host}:{port})\nmembers: none\noffsets: none\n")
    doc = describe_json(b, group, missing)
    assert [g["group"] for g in doc["groups"]] == [group, missing]
    assert doc["groups"][1]["state"] == "Dead" and doc["groups"][1]["offsets"] == []


def test_list(gbroker, topic_name):
    b = gbroker
    _, group = known_state(b, topic_name)
    out, _ = rnl(b, "group", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["GROUP", "STATE", "PROTOCOL-TYPE"]
    assert [group, "Empty", "-"] in [line.split() for line in lines[1:]]

    doc = json.loads(rnl(b, "group", "list", "--json")[0])
    assert {"group": group, "state": "Empty", "protocol_type": ""} in doc["groups"]
    assert [g["group"] for g in doc["groups"]] == sorted(g["group"] for g in doc["groups"])

    for states, listed in (("empty", True), ("Stable,Dead", False), ("Stable,EMPTY", True)):
        doc = json.loads(rnl(b, "group", "list", "--state", states, "--json")[0])
        assert (group in [g["group"] for g in doc["groups"]]) == listed, states


# ---------------------------------------------------------------- seek

def test_seek_dry_run_changes_nothing(gbroker, topic_name):
    b = gbroker
    topic, group = known_state(b, topic_name)
    old = list(COMMITS)
    cases = [
        (["--to-earliest"], [0, 0, 0], None),
        (["--to-latest"], [10, 20, 30], None),
        (["--to-offset", "15"], [10, 15, 15], "past the latest"),
        (["--to-offset", "0"], [0, 0, 0], None),
        (["--to-datetime", "2020-09-13T12:26:45Z"], [5, 5, 5], None),
        (["--to-datetime", "2020-09-13T14:26:45.001+02:00"], [6, 6, 6], None),
        (["--to-datetime", str(BASE_TS + 15_000)], [10, 15, 15], None),
        (["--to-datetime", "2030-01-01T00:00:00Z"], [10, 20, 30], None),
    ]
    for to, new, warning in cases:
        out, err = rnl(b, "group", "seek", group, "--topic", topic, *to, "--dry-run")
        assert out == seek_table(topic, old, new), to
        assert err.splitlines()[-1] == f'dry run: offsets of group "{group}" not changed', err
        if warning:
            assert f"rnl: warning: {topic}:0: offset 15 is past the latest offset 10; using 10" \
                in err
        else:
            assert err.count("\n") == 1, err

    # A time without a zone is local time, as kafka-consumer-groups reads it.
    out, _ = rnl(b, "group", "seek", group, "--topic", f"{topic}:2", "--to-datetime",
                 "2020-09-13T12:26:47", "--dry-run", env=dict(os.environ, TZ="UTC"))
    assert out == seek_table(topic, old, [None, None, 7], parts=[2])
    out, _ = rnl(b, "group", "seek", group, "--all-topics", "--to-earliest", "--dry-run", "--json")
    assert json.loads(out) == {"group": group, "dry_run": True, "offsets": [
        {"topic": topic, "partition": p, "old": old[p], "new": 0} for p in range(3)]}
    assert committed(b, group, topic) == old


def test_seek_commits(gbroker, topic_name):
    b = gbroker
    topic, group = known_state(b, topic_name)

    out, err = rnl(b, "group", "seek", group, "--topic", topic, "--to-earliest")
    assert out == seek_table(topic, COMMITS, [0, 0, 0])
    assert err == f'committed 3 offsets for group "{group}"\n'
    assert committed(b, group, topic) == [0, 0, 0]

    out, _ = rnl(b, "group", "seek", group, "-t", f"{topic}:2,1", "--to-offset", "7")
    assert out == seek_table(topic, [0, 0, 0], [None, 7, 7], parts=[1, 2])
    assert committed(b, group, topic) == [0, 7, 7]

    out, _ = rnl(b, "group", "seek", group, "-t", f"{topic}:0", "--to-datetime",
                 "2020-09-13T12:26:43Z", "--json")
    assert json.loads(out) == {"group": group, "dry_run": False, "offsets": [
        {"topic": topic, "partition": 0, "old": 0, "new": 3}]}
    assert committed(b, group, topic) == [3, 7, 7]

    rnl(b, "group", "seek", group, "--all-topics", "--to-latest")
    assert committed(b, group, topic) == [10, 20, 30]
    lags = [o["lag"] for o in describe_json(b, group)["groups"][0]["offsets"]]
    assert lags == [0, 0, 0]

    # A group that does not exist (Dead) may be given offsets: it is created.
    fresh = topic_name("fresh")
    rnl(b, "group", "seek", fresh, "-t", f"{topic}:1", "--to-offset", "12")
    assert committed(b, fresh, topic) == [None, 12, None]


def test_seek_refused_while_consumer_active(gbroker, topic_name):
    b = gbroker
    topic, group = known_state(b, topic_name)
    c = consumer(b, group, **{"client.id": "rnl-test-active", "session.timeout.ms": 6000})
    try:
        c.subscribe([topic])
        wait_assigned(c)
        doc = describe_json(b, group)["groups"][0]
        assert doc["state"] == "Stable" and doc["protocol_type"] == "consumer"
        assert doc["assignor"] in ("range", "roundrobin", "cooperative-sticky")
        (m,) = doc["members"]
        assert m["client_id"] == "rnl-test-active" and m["instance_id"] is None
        assert m["consumer_id"].startswith("rnl-test-active-") and m["host"]
        assert m["assignment"] == [{"topic": topic, "partition": p} for p in range(3)]
        assert [(o["consumer_id"], o["client_id"], o["lag"]) for o in doc["offsets"]] == \
            [(m["consumer_id"], "rnl-test-active", lag) for lag in (6, 0, None)]
        out, _ = rnl(b, "group", "describe", group)
        assert out.splitlines()[1:4] == ["members: 1"] + table([
            ("CONSUMER-ID", "INSTANCE-ID", "HOST", "CLIENT-ID", "ASSIGNMENT"),
            (m["consumer_id"], "-", m["host"], "rnl-test-active", f"{topic}:0,1,2")]
        ).splitlines()

        _, err = rnl(b, "group", "seek", group, "--all-topics", "--to-earliest", status=1)
        assert err == (f'rnl: seek group "{group}": the group is Stable with 1 member: '
                       f'{m["consumer_id"]} (client rnl-test-active, host {m["host"]}); '
                       "offsets can only be reset while it is Empty or Dead "
                       "(stop its consumers first)\n")
        rnl(b, "group", "seek", group, "--all-topics", "--to-earliest", "--dry-run", status=1)
        _, err = rnl(b, "group", "delete", group, status=1)
        assert err == (f'rnl: delete group "{group}": NON_EMPTY_GROUP '
                       "(The group is not empty)\n")
        doc = json.loads(rnl(b, "group", "list", "--state", "Stable", "--json")[0])
        assert {"group": group, "state": "Stable", "protocol_type": "consumer"} in doc["groups"]
    finally:
        c.close()
    assert committed(b, group, topic) == list(COMMITS)
    # Once the consumer has left, the group is Empty and seek goes through.
    rnl(b, "group", "seek", group, "--all-topics", "--to-earliest")
    assert committed(b, group, topic) == [0, 0, 0]


# ---------------------------------------------------------------- delete

def test_delete(gbroker, topic_name):
    b = gbroker
    topic, group = known_state(b, topic_name)
    out, err = rnl(b, "group", "delete", group)
    assert (out, err) == (f'deleted group "{group}"\n', "")
    doc = describe_json(b, group)["groups"][0]
    assert (doc["state"], doc["members"], doc["offsets"]) == ("Dead", [], [])
    assert group not in rnl(b, "group", "list")[0].split()
    assert committed(b, group, topic) == [None, None, None]

    missing = topic_name("missing")
    _, err = rnl(b, "group", "delete", missing, status=1)
    assert err == f'rnl: delete group "{missing}": GROUP_ID_NOT_FOUND (The group id does not exist)\n'

    # Each group gets its own verdict; one failure makes the exit status 1.
    other = topic_name("other")
    commit(b, other, topic, {0: 1})
    out, err = rnl(b, "group", "delete", missing, other, status=1)
    assert out == f'deleted group "{other}"\n'
    assert err.startswith(f'rnl: delete group "{missing}": GROUP_ID_NOT_FOUND') and \
        err.count("\n") == 1


# ---------------------------------------------------------------- errors

def test_seek_unknown_topic_and_partition(gbroker, topic_name):
    b = gbroker
    topic, group = known_state(b, topic_name)
    nosuch = topic_name("nosuch")
    _, err = rnl(b, "group", "seek", group, "-t", nosuch, "--to-earliest", status=1)
    assert err == f'rnl: topic "{nosuch}" does not exist\n'
    _, err = rnl(b, "group", "seek", group, "-t", f"{topic}:3", "--to-earliest", status=1)
    assert err == f'rnl: topic "{topic}" has no partition 3 (it has 3)\n'
    empty = topic_name("empty")
    _, err = rnl(b, "group", "seek", empty, "--all-topics", "--to-earliest", status=1)
    assert err == (f'rnl: seek group "{empty}": the group has no committed offsets '
                   "(nothing for --all-topics)\n")
    assert committed(b, group, topic) == list(COMMITS)


@pytest.mark.parametrize("args", [
    ["group"],
    ["group", "frob"],
    ["group", "describe"],
    ["group", "delete"],
    ["group", "list", "--state", "Sleeping"],
    ["group", "list", "extra"],
    ["group", "seek", "g", "--to-earliest"],
    ["group", "seek", "g", "-t", "t"],
    ["group", "seek", "-t", "t", "--to-earliest"],
    ["group", "seek", "g", "-t", "t", "--all-topics", "--to-earliest"],
    ["group", "seek", "g", "-t", "t", "--to-earliest", "--to-latest"],
    ["group", "seek", "g", "-t", "t:x", "--to-earliest"],
    ["group", "seek", "g", "-t", "t:", "--to-earliest"],
    ["group", "seek", "g", "-t", "t", "--to-offset", "-1"],
    ["group", "seek", "g", "-t", "t", "--to-datetime", "yesterday"],
    ["group", "seek", "g", "-t", "t", "--to-datetime", "2021-02-30T00:00:00Z"],
    ["group", "seek", "g", "-t", "t", "--to-datetime", "2021-01-01T25:00:00Z"],
])
def test_usage_errors(args):
    cp = run([RNL_BIN, "--brokers", "127.0.0.1:1", *args], check=False, timeout=10)
    assert cp.returncode == 2, f"rnl {args}: exit {cp.returncode}; {cp.stderr!r}"
    assert cp.stderr.startswith(b"rnl: "), cp.stderr


@pytest.mark.parametrize("args", [["group", "--help"], ["group", "seek", "--help"]])
def test_help(args):
    cp = run([RNL_BIN, *args], timeout=10)
    assert cp.stdout.startswith(b"usage: rnl group list"), cp.stdout


@pytest.mark.parametrize("verb", [["list"], ["describe", "g"], ["delete", "g"],
                                  ["seek", "g", "--all-topics", "--to-earliest"]])
def test_mock_says_unavailable(verb):
    # librdkafka 2.0.2's mock cluster has no group APIs (see docs/rnl.md).
    cp = run([RNL_BIN, "--mock", "group", *verb], check=False, timeout=20)
    assert cp.returncode == 1, cp.stderr
    assert cp.stderr.decode() == (f"rnl: group {verb[0]}: not available from the mock cluster "
                                  "(it has no group APIs)\n")
