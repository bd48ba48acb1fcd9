"""rnl, the command line (tools/rnl, built on librdkafka), end to end against
the real runnel broker.

Every test runs build/rnl (RNL_BIN; `broker.rnl`) as a subprocess and checks
its stdout, stderr and exit status (0 ok, 1 failed operation, 2 usage):
topic create/list/describe/add-partitions/delete, produce 1000 keyed records
with headers and read them back with a --format that shows partition,
offset, key, value, headers and size, --from OFFSET/-N/end/@TIMESTAMP,
--count, --partition, every compression codec, cluster info, and the
one-line errors for an unknown topic and an unreachable broker.

Most tests share one broker (module_broker) and use their own topics.
"""

import os
import subprocess
import time

import pytest

from harness import RNL_BIN, free_port, run, scaled

TIMEOUT_MS = int(scaled(10000))
SEP = "\t"
FMT = "%p\\t%o\\t%k\\t%v\\t%h\\t%s\\n"   # rnl turns \t and \n into tab and newline


@pytest.fixture(scope="module", autouse=True)
def _rnl_built():
    if not os.access(RNL_BIN, os.X_OK):
        pytest.fail(f"{RNL_BIN} missing: build it with `make build/rnl` (or set RNL_BIN)")


def rnl(broker, *args, input=None, check=True, timeout=60, env=None):
    """Runs `rnl --brokers <broker> --timeout T ARGS`; returns the
    CompletedProcess (bytes). check=True asserts exit status 0."""
    cmd = [broker.rnl, "--brokers", broker.bootstrap, "--timeout", str(TIMEOUT_MS), *args]
    return run(cmd, input=input, check=check, timeout=timeout, env=env)


def rnl_fails(broker_or_none, *args, status=1, input=None, bootstrap=None, timeout=60):
    """Runs rnl expecting exit `status`; returns stderr as text."""
    if broker_or_none is not None:
        cp = rnl(broker_or_none, *args, input=input, check=False, timeout=timeout)
    else:
        cp = run([RNL_BIN, *args], input=input, check=False, timeout=timeout)
    err = cp.stderr.decode()
    assert cp.returncode == status, (f"rnl {' '.join(args)}: exit {cp.returncode}, want {status}\n"
                                     f"stderr: {err}")
    return err


def create(broker, name, *extra):
    cp = rnl(broker, "topic", "create", name, *extra)
    assert f'created topic "{name}"' in cp.stdout.decode()


def topics(broker, *extra):
    return rnl(broker, "topic", "list", *extra).stdout.decode().splitlines()


def describe(broker, name, *extra):
    """Parses `rnl topic describe` into (partition rows, config dict, text).
    rows: {partition: dict(leader, replicas, isr, low, high)}."""
    out = rnl(broker, "topic", "describe", name, *extra).stdout.decode()
    lines = out.splitlines()
    assert lines[0].startswith(f'topic "{name}": '), out
    assert lines[1].split() == ["PARTITION", "LEADER", "REPLICAS", "ISR", "LOW", "HIGH"], out
    rows, configs, i = {}, {}, 2
    while i < len(lines) and lines[i][:1].isdigit():
        p, leader, replicas, isr, low, high = lines[i].split()
        rows[int(p)] = dict(leader=int(leader), replicas=replicas, isr=isr,
                            low=int(low), high=int(high))
        i += 1
    if i < len(lines) and lines[i].split()[:3] == ["CONFIG", "VALUE", "SOURCE"]:
        for line in lines[i + 1:]:
            parts = line.split()
            configs[parts[0]] = parts[1] if len(parts) == 3 else ""
    return rows, configs, out


def produce(broker, topic, lines, *extra):
    """Produces lines (list of str); returns stderr text."""
    data = "".join(line + "\n" for line in lines).encode()
    cp = rnl(broker, "produce", topic, *extra, input=data)
    return cp.stderr.decode()


def consume(broker, topic, *extra, fmt=FMT):
    """Consumes with FMT; returns [dict(p, o, key, value, headers, size)]."""
    out = rnl(broker, "consume", topic, "--format", fmt, *extra).stdout.decode()
    recs = []
    for line in out.splitlines():
        p, o, key, value, headers, size = line.split(SEP)
        recs.append(dict(p=int(p), o=int(o), key=key, value=value, headers=headers,
                         size=int(size)))
    return recs


def values(broker, topic, *extra):
    out = rnl(broker, "consume", topic, "--format", "%v\\n", *extra).stdout.decode()
    return out.splitlines()


# ---------------------------------------------------------------- topics

def test_topic_create_list_describe(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "3", "--replication-factor", "1",
           "--config", "retention.ms=3600000")
    assert name in topics(b)
    long = [line.split() for line in topics(b, "--long")]
    assert long[0] == ["TOPIC", "PARTITIONS", "REPLICATION"]
    assert [name, "3", "1"] in long

    rows, configs, out = describe(b, name)
    assert f'topic "{name}": 3 partitions, replication factor 1' in out
    assert sorted(rows) == [0, 1, 2]
    for row in rows.values():
        assert row["leader"] >= 0 and row["replicas"] == str(row["leader"]) == row["isr"]
        assert (row["low"], row["high"]) == (0, 0)
    assert configs.get("retention.ms") == "3600000", out

    _, all_configs, _ = describe(b, name, "--configs")
    assert all_configs.get("retention.ms") == "3600000"
    assert len(all_configs) > len(configs), "--configs should add the defaults"


def test_topic_create_defaults_and_existing(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name)                       # the broker's num.partitions
    rows, _, _ = describe(b, name)
    assert len(rows) >= 1
    err = rnl_fails(b, "topic", "create", name)
    assert err == f'rnl: topic "{name}" already exists\n'
    cp = rnl(b, "topic", "create", name, "--if-not-exists", "--partitions", "5")
    assert "already exists" in cp.stdout.decode()
    assert len(describe(b, name)[0]) == len(rows)


def test_topic_create_validate_only(module_broker, topic_name):
    b, name = module_broker, topic_name()
    cp = rnl(b, "topic", "create", name, "--partitions", "2", "--validate-only")
    assert "valid" in cp.stdout.decode()
    assert name not in topics(b)


def test_topic_list_internal(module_broker, topic_name):
    b = module_broker
    plain, internal = set(topics(b)), set(topics(b, "--internal"))
    assert plain <= internal
    assert not any(t.startswith("__") for t in plain)


def test_add_partitions(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "1")
    cp = rnl(b, "topic", "add-partitions", name, "--total", "3")
    assert f'topic "{name}" now has 3 partitions' in cp.stdout.decode()
    assert sorted(describe(b, name)[0]) == [0, 1, 2]
    err = rnl_fails(b, "topic", "add-partitions", name, "--total", "2")
    assert "has 3 partitions" in err and err.count("\n") == 1
    produce(b, name, ["to-p2"], "--partition", "2")
    assert values(b, name, "--partition", "2") == ["to-p2"]


def test_delete(module_broker, topic_name):
    b, t1, t2 = module_broker, topic_name("a"), topic_name("b")
    create(b, t1)
    create(b, t2)
    cp = rnl(b, "topic", "delete", t1, t2)
    assert cp.stdout.decode().splitlines() == [f'deleted topic "{t1}"', f'deleted topic "{t2}"']
    listed = topics(b)
    assert t1 not in listed and t2 not in listed
    assert rnl_fails(b, "topic", "delete", t1) == f'rnl: topic "{t1}" does not exist\n'
    rnl(b, "topic", "delete", t1, "--if-exists")


def test_delete_checks_all_names_first(module_broker, topic_name):
    b, name, missing = module_broker, topic_name(), topic_name("missing")
    create(b, name)
    rnl_fails(b, "topic", "delete", name, missing)
    assert name in topics(b), "nothing may be deleted when one name is unknown"


# ---------------------------------------------------------------- produce / consume

def test_produce_consume_1000_keyed_with_headers(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "3")
    sent = [(f"key{i % 37}", f"value {i}") for i in range(1000)]
    err = produce(b, name, [f"{k}:{v}" for k, v in sent], "--key-separator", ":",
                  "--header", "h1=x", "--header", "h2=y=z")
    assert f"produced 1000 records to {name} (0 failed)" in err

    recs = consume(b, name)
    assert len(recs) == 1000
    assert sorted((r["key"], r["value"]) for r in recs) == sorted(sent)
    for r in recs:
        assert r["headers"] == "h1=x,h2=y=z"
        assert r["size"] == len(r["value"].encode())
    by_part = {}
    for r in recs:
        by_part.setdefault(r["p"], []).append(r)
    for p, rs in by_part.items():
        assert [r["o"] for r in rs] == list(range(len(rs))), f"partition {p} offsets"
        # Within a partition, records keep the order they were produced in.
        idx = [int(r["value"].split()[1]) for r in rs]
        assert idx == sorted(idx)
    key_parts = {}
    for r in recs:
        key_parts.setdefault(r["key"], set()).add(r["p"])
    assert all(len(ps) == 1 for ps in key_parts.values()), "a key maps to one partition"

    rows, _, _ = describe(b, name)
    assert sum(row["high"] for row in rows.values()) == 1000
    assert {p: row["high"] for p, row in rows.items() if row["high"]} == \
        {p: len(rs) for p, rs in by_part.items()}


def test_produce_without_separator_and_empty_lines(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "1")
    produce(b, name, ["plain", "", "a:b"])
    recs = consume(b, name)
    assert [(r["key"], r["value"], r["size"], r["headers"]) for r in recs] == \
        [("", "plain", 5, ""), ("", "", 0, ""), ("", "a:b", 3, "")]


def test_consume_partition_from_count(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "2")
    produce(b, name, [f"p0-{i}" for i in range(10)], "--partition", "0")
    produce(b, name, [f"p1-{i}" for i in range(10)], "--partition", "1")

    recs = consume(b, name, "--partition", "1", "--from", "2", "--count", "3")
    assert [(r["p"], r["o"], r["value"]) for r in recs] == \
        [(1, 2, "p1-2"), (1, 3, "p1-3"), (1, 4, "p1-4")]
    assert values(b, name, "--partition", "0", "--from", "-2") == ["p0-8", "p0-9"]
    assert sorted(values(b, name, "--from", "-1")) == ["p0-9", "p1-9"]
    assert values(b, name, "--from", "end") == []
    assert values(b, name, "--partition", "0", "--from", "100") == []
    assert len(values(b, name, "--count", "15")) == 15
    out = rnl(b, "consume", name, "-p", "0", "--count", "1",
              "--format", "%t|%p|%o|%v|%%|%T\\n").stdout.decode()
    t, p, o, v, pct, ts = out.rstrip("\n").split("|")
    assert (t, p, o, v, pct) == (name, "0", "0", "p0-0", "%")
    assert abs(int(ts) - time.time() * 1000) < 600_000


def test_consume_from_timestamp(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "1")
    produce(b, name, ["before-1", "before-2"])
    time.sleep(0.3)
    ts = int(time.time() * 1000)
    time.sleep(0.3)
    produce(b, name, ["after-1", "after-2"])
    assert values(b, name, "--from", f"@{ts}") == ["after-1", "after-2"]
    assert values(b, name, "--from", "@0") == ["before-1", "before-2", "after-1", "after-2"]
    assert values(b, name, "--from", f"@{ts + 3_600_000}") == []


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_codecs_and_acks(module_broker, topic_name, codec):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "2")
    lines = [f"{codec} record {i} " + "x" * (i % 50) for i in range(200)]
    acks = {"none": "0", "gzip": "1"}.get(codec, "all")
    err = produce(b, name, lines, "--partition", "1", "--acks", acks,
                  "--compression", codec, "--linger-ms", "5")
    assert f"produced 200 records to {name} (0 failed)" in err
    assert values(b, name, "--partition", "1") == lines
    assert values(b, name, "--partition", "0") == []


def test_consume_follow_sees_new_records(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "1")
    produce(b, name, ["old"])
    cmd = [b.rnl, "--brokers", b.bootstrap, "--timeout", str(TIMEOUT_MS),
           "consume", name, "--follow", "--from", "end", "--count", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(scaled(1.5))     # let it assign at the end before producing
        produce(b, name, ["new-1", "new-2"])
        out, err = proc.communicate(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["new-1", "new-2"]


# ---------------------------------------------------------------- cluster

def test_cluster_info(module_broker, topic_name):
    b = module_broker
    create(b, topic_name())
    out = rnl(b, "cluster", "info").stdout.decode().splitlines()
    assert out[0].startswith("cluster id: ") and len(out[0]) > len("cluster id: ")
    assert out[1].startswith("controller: ")
    assert out[2] == "brokers: 1"
    node_id, hostport = out[3].split()
    assert int(node_id) == int(out[1].split()[1])
    assert hostport.endswith(f":{b.port}")
    n = len(topics(b, "--internal"))
    assert out[4].startswith(f"topics: {n} (")


def test_brokers_from_environment(module_broker):
    env = dict(os.environ, RNL_BROKERS=module_broker.bootstrap)
    cp = run([RNL_BIN, "--timeout", str(TIMEOUT_MS), "cluster", "info"], env=env)
    assert "brokers: 1" in cp.stdout.decode()


def test_librdkafka_properties(module_broker):
    rnl(module_broker, "-X", "client.id=rnl-test", "topic", "list")
    err = rnl_fails(module_broker, "-X", "no.such.property=1", "topic", "list", status=2)
    assert "no.such.property" in err


# ---------------------------------------------------------------- errors

def test_unknown_topic(module_broker, topic_name):
    b, name = module_broker, topic_name("missing")
    want = f'rnl: topic "{name}" does not exist\n'
    assert rnl_fails(b, "topic", "describe", name) == want
    assert rnl_fails(b, "topic", "add-partitions", name, "--total", "2") == want
    assert rnl_fails(b, "topic", "delete", name) == want
    assert rnl_fails(b, "consume", name) == want
    assert rnl_fails(b, "produce", name, input=b"x\n") == want
    assert name not in topics(b), "nothing may auto-create the topic"


def test_bad_partition(module_broker, topic_name):
    b, name = module_broker, topic_name()
    create(b, name, "--partitions", "2")
    err = rnl_fails(b, "produce", name, "--partition", "5", input=b"x\n")
    assert err == f'rnl: topic "{name}" has no partition 5 (it has 2)\n'
    err = rnl_fails(b, "consume", name, "--partition", "2")
    assert err == f'rnl: topic "{name}" has no partition 2 (it has 2)\n'


def test_unreachable_broker():
    port = free_port()          # nothing listens there
    for args in (["topic", "list"], ["cluster", "info"], ["consume", "t"]):
        start = time.monotonic()
        err = rnl_fails(None, "--brokers", f"127.0.0.1:{port}", "--timeout", "1000", *args)
        elapsed = time.monotonic() - start
        assert err.startswith(f"rnl: cannot reach broker at 127.0.0.1:{port} "
                              "(timed out after 1s)"), err
        assert err.count("\n") == 1, err
        assert 0.9 < elapsed < scaled(8), f"{args}: took {elapsed:.1f}s"
    err = rnl_fails(None, "--brokers", f"127.0.0.1:{port}", "--timeout", "1000",
                    "produce", "t", input=b"x\n")
    assert err.startswith("rnl: cannot reach broker at"), err


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["topic"],
    ["topic", "frob"],
    ["topic", "create"],
    ["topic", "create", "a", "--partitions", "zero"],
    ["topic", "create", "a", "--no-such-option"],
    ["topic", "add-partitions", "a"],
    ["produce"],
    ["produce", "t", "--acks", "2"],
    ["produce", "t", "--compression", "brotli"],
    ["consume", "t", "--from", "yesterday"],
    ["consume", "t", "--format", "%q"],
    ["cluster", "frob"],
    ["--timeout", "soon", "topic", "list"],
    ["-X", "novalue", "topic", "list"],
])
def test_usage_errors(args):
    cp = run([RNL_BIN, "--brokers", "127.0.0.1:1", *args], check=False, timeout=10)
    assert cp.returncode == 2, f"rnl {args}: exit {cp.returncode}; {cp.stderr!r}"
    assert cp.stderr.startswith(b"rnl: ") or cp.stderr.startswith(b"usage: "), cp.stderr


@pytest.mark.parametrize("args", [["--help"], ["topic", "--help"], ["topic", "create", "--help"],
                                  ["produce", "--help"], ["consume", "--help"],
                                  ["cluster", "--help"]])
def test_help(args):
    cp = run([RNL_BIN, *args], timeout=10)
    assert cp.stdout.startswith(b"usage: rnl"), cp.stdout
