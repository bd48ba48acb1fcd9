"""rnl topic describe --configs [--synonyms] [--json] and rnl topic
alter-config against the real broker.

The expected text is built from what two other clients read from the same
broker in the same state (confluent-kafka for values, sources and flags;
kafka-python for the ordered synonym lists, which confluent-kafka returns
as a dict), laid out by the table rules in docs/rnl.md, and compared with
rnl's output exactly. alter-config's tables are compared with literal text
for a known state."""

import json

import pytest

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import KafkaException  # noqa: E402
from confluent_kafka.admin import ConfigResource, ConfigSource  # noqa: E402

from harness import run, scaled  # noqa: E402

T = scaled(20)
TIMEOUT_MS = int(scaled(10) * 1000)
SOURCE_NAMES = {s.value: s.name for s in ConfigSource}


# ---------------------------------------------------------------- helpers

def rnl(broker, *args, check=True):
    cmd = [broker.rnl, "--brokers", broker.bootstrap, "--timeout", str(TIMEOUT_MS), *args]
    return run(cmd, check=check, timeout=scaled(60))


def rnl_out(broker, *args):
    return rnl(broker, *args).stdout.decode()


def rnl_fails(broker, *args, status=1):
    cp = rnl(broker, *args, check=False)
    assert cp.returncode == status, (args, cp.returncode, cp.stdout, cp.stderr)
    return cp.stdout.decode(), cp.stderr.decode()


def describe(broker, name):
    res = ConfigResource("topic", name)
    admin = broker.admin()
    return admin.describe_configs([res], request_timeout=T)[res].result(timeout=T)


def synonyms_of(broker, name):
    """{key: [(name, value, source)]} from kafka-python (ordered)."""
    from kafka.admin import ConfigResource as KpResource, ConfigResourceType, KafkaAdminClient
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=int(T * 1000))
    try:
        (resp,) = kp.describe_configs([KpResource(ConfigResourceType.TOPIC, name)],
                                      include_synonyms=True)
    finally:
        kp.close()
    return {e[0]: [tuple(s) for s in e[5]] for e in resp.resources[0][4]}


def table(rows):
    """Lays out rows [(indent, [cells])] as rnl does (two blanks between
    columns, no trailing blanks after the last non-empty cell)."""
    cols = len(rows[0][1])
    width = [max(len(cells[c]) + (indent if c == 0 else 0) for indent, cells in rows)
             for c in range(cols)]
    out = []
    for indent, cells in rows:
        last = max([c for c in range(cols) if cells[c]] or [0])
        line = " " * indent
        for c in range(last + 1):
            w = width[c] - (indent if c == 0 else 0)
            line += cells[c] if c == last else cells[c].ljust(w) + "  "
        out.append(line + "\n")
    return "".join(out)


def value_text(value, sensitive=False):
    if sensitive:
        return "(sensitive)"
    if value is None:
        return "(null)"
    return value if value != "" else '""'


def flags(e):
    return ",".join(f for f, on in (("read-only", e.is_read_only), ("sensitive", e.is_sensitive))
                    if on)


def partitions_text(broker, name, high):
    (bid,) = broker.admin().list_topics(timeout=T).brokers
    return (f'topic "{name}": 1 partition, replication factor 1\n'
            f'{"PARTITION":<9}  {"LEADER":<6}  {"REPLICAS":<8}  {"ISR":<8}  {"LOW":<10}  HIGH\n'
            f'{0:<9}  {bid:<6}  {str(bid):<8}  {str(bid):<8}  {0:<10}  {high}\n'), bid


def expected_configs(broker, name, synonyms, only_overrides=False):
    entries = describe(broker, name)
    syn = synonyms_of(broker, name) if synonyms else {}
    rows = [(0, ["CONFIG", "VALUE", "SOURCE", "FLAGS"])]
    for key in sorted(entries):
        e = entries[key]
        if only_overrides and e.source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
            continue
        rows.append((0, [key, value_text(e.value, e.is_sensitive), SOURCE_NAMES[e.source],
                         flags(e)]))
        for sname, svalue, ssource in syn.get(key, []):
            rows.append((2, [sname, value_text(svalue), SOURCE_NAMES[ssource], ""]))
    return table(rows), entries, syn


def topic_with_data(broker, topic_name, *configs):
    name = topic_name()
    args = ["topic", "create", name, "--partitions", "1"]
    for c in configs:
        args += ["--config", c]
    rnl_out(broker, *args)
    # Keyed: a compacted topic refuses records without a key.
    run([broker.rnl, "--brokers", broker.bootstrap, "produce", name, "--key-separator", ":"],
        input=b"k1:a\nk2:b\nk3:c\n", timeout=scaled(60))
    return name


# ---------------------------------------------------------------- describe

def test_describe_configs_text(module_broker, topic_name):
    b = module_broker
    name = topic_with_data(b, topic_name, "retention.ms=3600000", "cleanup.policy=compact")
    parts, _ = partitions_text(b, name, 3)
    want, entries, _ = expected_configs(b, name, synonyms=False)
    assert entries["retention.ms"].value == "3600000"
    assert rnl_out(b, "topic", "describe", name, "--configs") == parts + want

    # Without --configs: the topic's own settings only (describe.c's table).
    plain = rnl_out(b, "topic", "describe", name)
    assert plain == parts + table([(0, ["CONFIG", "VALUE", "SOURCE"]),
                                   (0, ["cleanup.policy", "compact", "DYNAMIC_TOPIC_CONFIG"]),
                                   (0, ["retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"])])


def test_describe_synonyms_text(module_broker, topic_name):
    b = module_broker
    name = topic_with_data(b, topic_name, "retention.ms=3600000")
    parts, _ = partitions_text(b, name, 3)
    want, _, syn = expected_configs(b, name, synonyms=True)
    assert syn["retention.ms"][0] == ("retention.ms", "3600000",
                                      ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert rnl_out(b, "topic", "describe", name, "--configs", "--synonyms") == parts + want

    # --synonyms without --configs: the overrides, each with its chain.
    want, _, _ = expected_configs(b, name, synonyms=True, only_overrides=True)
    assert rnl_out(b, "topic", "describe", name, "--synonyms") == parts + want


def test_describe_json(module_broker, topic_name):
    b = module_broker
    name = topic_with_data(b, topic_name, "retention.ms=3600000", "compression.type=lz4")
    _, bid = partitions_text(b, name, 3)
    entries = describe(b, name)
    syn = synonyms_of(b, name)

    def entry(key, with_synonyms):
        e = entries[key]
        return {"name": key, "value": None if e.is_sensitive else e.value,
                "source": SOURCE_NAMES[e.source], "read_only": e.is_read_only,
                "sensitive": e.is_sensitive,
                "synonyms": [{"name": n, "value": v, "source": SOURCE_NAMES[s]}
                             for n, v, s in syn[key]] if with_synonyms else None}

    partitions = [{"partition": 0, "leader": bid, "replicas": [bid], "isr": [bid],
                   "low": 0, "high": 3}]
    out = rnl_out(b, "topic", "describe", name, "--configs", "--json")
    assert out.count("\n") == 1 and out.endswith("}\n")
    assert json.loads(out) == {"topic": name, "partitions": partitions,
                               "configs": [entry(k, False) for k in sorted(entries)]}

    out = rnl_out(b, "topic", "describe", name, "--json", "--synonyms")
    assert json.loads(out) == {"topic": name, "partitions": partitions,
                               "configs": [entry("compression.type", True),
                                           entry("retention.ms", True)]}


def test_describe_unknown_topic(module_broker, topic_name):
    name = topic_name("missing")
    _, err = rnl_fails(module_broker, "topic", "describe", name, "--configs")
    assert err == f'rnl: topic "{name}" does not exist\n'


# ---------------------------------------------------------------- alter-config

def test_alter_config_round_trip(module_broker, topic_name):
    b = module_broker
    name = topic_name()
    rnl_out(b, "topic", "create", name, "--partitions", "1")

    out = rnl_out(b, "topic", "alter-config", name, "--set", "retention.ms=60000",
                  "--set", "cleanup.policy=compact")
    assert out == ("CONFIG          OLD        NEW      SOURCE\n"
                   "retention.ms    604800000  60000    DYNAMIC_TOPIC_CONFIG\n"
                   "cleanup.policy  delete     compact  DYNAMIC_TOPIC_CONFIG\n"
                   f'altered configs of topic "{name}"\n')

    # Read-modify-write: the earlier overrides stay.
    out = rnl_out(b, "topic", "alter-config", name, "--set", "segment.ms=3600000")
    assert out == ("CONFIG      OLD        NEW      SOURCE\n"
                   "segment.ms  604800000  3600000  DYNAMIC_TOPIC_CONFIG\n"
                   f'altered configs of topic "{name}"\n')
    got = {k: (e.value, e.source) for k, e in describe(b, name).items()
           if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}
    dyn = ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert got == {"retention.ms": ("60000", dyn), "cleanup.policy": ("compact", dyn),
                   "segment.ms": ("3600000", dyn)}

    out = rnl_out(b, "topic", "alter-config", name, "--delete", "retention.ms",
                  "--set", "segment.ms=7200000")
    assert out == ("CONFIG        OLD      NEW        SOURCE\n"
                   "retention.ms  60000    604800000  DEFAULT_CONFIG\n"
                   "segment.ms    3600000  7200000    DYNAMIC_TOPIC_CONFIG\n"
                   f'altered configs of topic "{name}"\n')
    got = {k: e.value for k, e in describe(b, name).items() if e.source == dyn}
    assert got == {"cleanup.policy": "compact", "segment.ms": "7200000"}

    # --dry-run: the broker validates, nothing changes; NEW is what it would be.
    cp = rnl(b, "topic", "alter-config", name, "--dry-run", "--delete", "cleanup.policy",
             "--set", "retention.bytes=1000")
    assert cp.stdout.decode() == ("CONFIG           OLD      NEW     SOURCE\n"
                                  "cleanup.policy   compact  delete  DEFAULT_CONFIG\n"
                                  "retention.bytes  -1       1000    DYNAMIC_TOPIC_CONFIG\n")
    assert cp.stderr.decode() == f'dry run: configs of topic "{name}" not changed\n'
    got = {k: e.value for k, e in describe(b, name).items() if e.source == dyn}
    assert got == {"cleanup.policy": "compact", "segment.ms": "7200000"}

    out = rnl_out(b, "topic", "alter-config", name, "--delete", "cleanup.policy",
                  "--delete", "segment.ms")
    assert out.endswith(f'altered configs of topic "{name}"\n')
    assert rnl_out(b, "topic", "describe", name).endswith(
        "no configs set on the topic (--configs shows all)\n")


def test_alter_config_refused(module_broker, topic_name):
    b = module_broker
    name = topic_name()
    rnl_out(b, "topic", "create", name, "--partitions", "1", "--config", "retention.ms=60000")

    # The broker's own message, as confluent-kafka gets it for the same request
    # (validate_only, so nothing changes either way).
    res = ConfigResource("topic", name, set_config={"retention.ms": "60000",
                                                     "segment.bytes": "lots"})
    admin = b.admin()
    with pytest.raises(KafkaException) as ei:
        admin.alter_configs([res], request_timeout=T, validate_only=True)[res].result(timeout=T)
    msg = ei.value.args[0].str()
    assert "segment.bytes" in msg
    out, err = rnl_fails(b, "topic", "alter-config", name, "--set", "segment.bytes=lots")
    assert out == ""
    assert err == f'rnl: alter config of topic "{name}": INVALID_CONFIG: {msg}\n'
    _, err = rnl_fails(b, "topic", "alter-config", name, "--dry-run", "--set",
                       "segment.bytes=lots")
    assert err == f'rnl: alter config of topic "{name}": INVALID_CONFIG: {msg}\n'

    _, err = rnl_fails(b, "topic", "alter-config", name, "--set", "no.such.key=1")
    assert err.startswith(f'rnl: alter config of topic "{name}": INVALID_CONFIG: ') and \
        "no.such.key" in err, err
    _, err = rnl_fails(b, "topic", "alter-config", name, "--delete", "segment.ms")
    assert err == (f'rnl: alter config of topic "{name}": cannot delete segment.ms: '
                   "it is not set on the topic\n")
    missing = topic_name("missing")
    _, err = rnl_fails(b, "topic", "alter-config", missing, "--set", "retention.ms=1")
    assert err == f'rnl: topic "{missing}" does not exist\n'

    # Nothing changed.
    e = describe(b, name)
    assert (e["retention.ms"].value, e["segment.bytes"].source) == \
        ("60000", ConfigSource.DEFAULT_CONFIG.value)


def test_alter_config_usage(module_broker, topic_name):
    b = module_broker
    for args, msg in (
            ((), "rnl: topic alter-config needs --set k=v or --delete k\n"),
            (("--set", "retention.ms"), "rnl: --set retention.ms: expected key=value\n"),
            (("--set", "a=1", "--delete", "a"), "rnl: a is named twice\n")):
        _, err = rnl_fails(b, "topic", "alter-config", "t", *args, status=2)
        assert err == msg + "try 'rnl topic --help'\n", err


# ---------------------------------------------------------------- broker

def test_broker_describe_alter(broker, topic_name):
    b = broker
    admin = b.admin()
    (bid,) = admin.list_topics(timeout=T).brokers
    head = f"broker {bid} (127.0.0.1:{b.port})\n"
    assert rnl_out(b, "broker", "describe") == \
        head + "no configs set on the broker (--configs shows all)\n"

    res = ConfigResource("broker", str(bid))
    before = admin.describe_configs([res], request_timeout=T)[res].result(timeout=T)
    old = value_text(before["log.retention.ms"].value)
    out = rnl_out(b, "broker", "alter-config", "--set", "log.retention.ms=3600000")
    assert out == table([(0, ["CONFIG", "OLD", "NEW", "SOURCE"]),
                         (0, ["log.retention.ms", old, "3600000", "DYNAMIC_BROKER_CONFIG"])]) + \
        f"altered configs of broker {bid}\n"

    got = json.loads(rnl_out(b, "broker", "describe", str(bid), "--json"))
    assert got == {"broker": bid, "host": "127.0.0.1", "port": b.port, "configs": [
        {"name": "log.retention.ms", "value": "3600000", "source": "DYNAMIC_BROKER_CONFIG",
         "read_only": False, "sensitive": False, "synonyms": None}]}
    name = topic_name()
    b.create_topic(name, partitions=1)
    e = describe(b, name)["retention.ms"]
    assert (e.value, e.source) == ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)

    _, err = rnl_fails(b, "broker", "alter-config", "--set", "log.dirs=/elsewhere")
    assert err.startswith(f"rnl: alter config of broker {bid}: INVALID_CONFIG: ") and \
        "log.dirs" in err, err
    _, err = rnl_fails(b, "broker", "describe", "99")
    assert err == "rnl: broker 99 does not exist\n"

    # Back to where it started (Kafka: null, no default; runnel may show its default).
    out = rnl_out(b, "broker", "alter-config", str(bid), "--delete", "log.retention.ms")
    assert out == table([(0, ["CONFIG", "OLD", "NEW", "SOURCE"]),
                         (0, ["log.retention.ms", "3600000", old,
                              SOURCE_NAMES[before["log.retention.ms"].source]])]) + \
        f"altered configs of broker {bid}\n"
    e = describe(b, name)["retention.ms"]
    assert (e.value, e.source) == ("604800000", ConfigSource.DEFAULT_CONFIG.value)
