"""Idempotent producers end to end (issue 4 part 1), with real clients:
librdkafka from C (c/rdk_idem.c), confluent-kafka and KafkaJS
(node/idem_produce.js, idempotent: true).

  - plain runs: every record read back exactly once, in order, per partition;
  - injected retries: dropproxy.py forwards some Produce requests, lets the
    broker append and answer, then drops the client's connection instead of
    returning the answer; the client resends the same batches (the proxy
    counts them: resent() must not be empty) and the broker must answer
    them as duplicates — the partitions hold no duplicate and no gap;
  - SIGKILL: the broker is killed mid-stream and restarted on the same port;
    the producer retries what was in flight against the producer state
    rebuilt from snapshot + log; every record is there exactly once.

Reading back uses harness.consume_assigned (assign(), read to the end,
watermarks checked), so an extra record anywhere fails the test.
"""

import shutil
import time
from pathlib import Path

import pytest

import harness
from dropproxy import DropProxy
from harness import run, scaled

HERE = Path(__file__).resolve().parent
SRC = HERE / "c" / "rdk_idem.c"
NODE_DIR = HERE / "node"
NPARTS = 3


@pytest.fixture(scope="module")
def rdk_idem(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler (cc) on PATH")
    out = tmp_path_factory.mktemp("rdk_idem") / "rdk_idem"
    run([cc, "-std=c17", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-o", str(out), str(SRC),
         "-lrdkafka"], timeout=120)
    return str(out)


def counts_for(count, nparts=NPARTS):
    return [count // nparts + (1 if p < count % nparts else 0) for p in range(nparts)]


def expect_exactly_once(bootstrap, topic, count, nparts=NPARTS):
    """Partition p holds exactly the values p, p+nparts, ... in order."""
    got = harness.consume_assigned(bootstrap, topic, counts_for(count, nparts))
    for p in range(nparts):
        values = [int(m.value()) for m in got[p]]
        want = list(range(p, count, nparts))
        if values != want:
            dups = len(values) - len(set(values))
            missing = sorted(set(want) - set(values))[:10]
            raise AssertionError(f"partition {p}: {len(values)} records, {dups} duplicates, "
                                 f"missing {missing}..., first values {values[:10]}")


def run_rdk_idem(exe, bootstrap, topic, count, timeout=120):
    cp = run([exe, bootstrap, topic, str(NPARTS), str(count)], timeout=scaled(timeout), check=False)
    out = cp.stdout.decode() + cp.stderr.decode("utf-8", "replace")
    assert cp.returncode == 0, f"rdk_idem exited {cp.returncode}:\n{out[-4000:]}"
    assert "rdk_idem: OK" in out


def confluent_produce(bootstrap, topic, count, **conf):
    """An idempotent confluent-kafka producer; returns the delivery reports
    [(index, partition, offset)] after checking none failed."""
    from confluent_kafka import Producer
    cfg = {"bootstrap.servers": bootstrap, "enable.idempotence": True,
           "max.in.flight.requests.per.connection": 5, "batch.num.messages": 25,
           "linger.ms": 2, "message.timeout.ms": 60000, "retry.backoff.ms": 50,
           "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500}
    cfg.update(conf)
    p = Producer(cfg)
    reports, errors = [], []

    def dr(err, msg):
        (errors if err else reports).append((err, msg))

    for i in range(count):
        produce_one(p, topic, i, dr)
    left = p.flush(scaled(90))
    assert left == 0 and not errors, f"{left} undelivered, errors: {errors[:5]}"
    assert len(reports) == count
    return p


def produce_one(p, topic, i, dr):
    while True:
        try:
            p.produce(topic, value=str(i).encode(), partition=i % NPARTS, on_delivery=dr)
            break
        except BufferError:
            p.poll(0.01)
    p.poll(0)


def kafkajs(node, tmp_path, plan):
    import json
    plan_path = tmp_path / "idem.plan.json"
    plan_path.write_text(json.dumps(plan))
    cp = run([node, str(NODE_DIR / "idem_produce.js"), str(plan_path)], timeout=scaled(120),
             check=False, cwd=str(NODE_DIR))
    err = cp.stderr.decode("utf-8", "replace")
    assert cp.returncode == 0, f"idem_produce.js exited {cp.returncode}:\n{err[-4000:]}"
    return json.loads(cp.stdout)


@pytest.fixture
def proxied(broker_factory):
    """A broker behind a DropProxy that drops every 4th Produce answer (at
    most 6); the broker advertises the proxy's port."""
    proxy = DropProxy(drop_every=4, max_drops=6)
    # the proxy needs the broker's port, which start() picks: start, then aim
    b = broker_factory({"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
    proxy.set_target(b.port)
    yield b, proxy
    proxy.close()


def assert_retried(proxy):
    resent = proxy.resent()
    assert proxy.drops >= 1, f"no answer dropped ({proxy.produce_reqs} Produce requests)"
    assert resent, (f"{proxy.drops} answers dropped but no batch was sent twice "
                    f"({proxy.produce_reqs} Produce requests)")
    return resent


# ---------------------------------------------------------------- plain runs

def test_rdkafka_c(module_broker, rdk_idem, topic_name):
    topic = topic_name()
    module_broker.create_topic(topic, partitions=NPARTS)
    run_rdk_idem(rdk_idem, module_broker.bootstrap, topic, 3000)
    expect_exactly_once(module_broker.bootstrap, topic, 3000)


def test_confluent_kafka(module_broker, topic_name):
    topic = topic_name()
    module_broker.create_topic(topic, partitions=NPARTS)
    confluent_produce(module_broker.bootstrap, topic, 3000)
    expect_exactly_once(module_broker.bootstrap, topic, 3000)


def test_kafkajs(module_broker, node, tmp_path, topic_name):
    topic = topic_name()
    module_broker.create_topic(topic, partitions=NPARTS)
    out = kafkajs(node, tmp_path, {"bootstrap": module_broker.bootstrap, "topic": topic,
                                   "partitions": NPARTS, "count": 600, "perSend": 30})
    assert out["sends"] == 20
    expect_exactly_once(module_broker.bootstrap, topic, 600)


# ---------------------------------------------------------------- injected retries

def test_rdkafka_c_dropped_answers(proxied, rdk_idem, topic_name):
    b, proxy = proxied
    topic = topic_name()
    b.create_topic(topic, partitions=NPARTS)
    run_rdk_idem(rdk_idem, proxy.bootstrap, topic, 3000)
    resent = assert_retried(proxy)
    expect_exactly_once(proxy.bootstrap, topic, 3000)
    print(f"rdk_idem: {proxy.produce_reqs} Produce requests, {proxy.drops} answers dropped, "
          f"{len(resent)} batches resent")


def test_confluent_kafka_dropped_answers(proxied, topic_name):
    b, proxy = proxied
    topic = topic_name()
    b.create_topic(topic, partitions=NPARTS)
    confluent_produce(proxy.bootstrap, topic, 3000)
    resent = assert_retried(proxy)
    expect_exactly_once(proxy.bootstrap, topic, 3000)
    print(f"confluent-kafka: {proxy.produce_reqs} Produce requests, {proxy.drops} answers "
          f"dropped, {len(resent)} batches resent")


def test_kafkajs_dropped_answers(proxied, node, tmp_path, topic_name):
    b, proxy = proxied
    topic = topic_name()
    b.create_topic(topic, partitions=NPARTS)
    out = kafkajs(node, tmp_path, {"bootstrap": proxy.bootstrap, "topic": topic,
                                   "partitions": NPARTS, "count": 600, "perSend": 30})
    assert out["sends"] == 20
    resent = assert_retried(proxy)
    expect_exactly_once(proxy.bootstrap, topic, 600)
    print(f"kafkajs: {proxy.produce_reqs} Produce requests, {proxy.drops} answers dropped, "
          f"{len(resent)} batches resent")


# ---------------------------------------------------------------- SIGKILL

def test_sigkill_while_producing(broker_factory, topic_name):
    """confluent-kafka keeps producing while the broker is SIGKILLed and
    restarted on the same port; in-flight batches are retried against the
    rebuilt producer state. Every record is delivered and stored once."""
    from confluent_kafka import Producer
    b = broker_factory()
    topic = topic_name()
    b.create_topic(topic, partitions=NPARTS)
    count = 6000
    p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                  "max.in.flight.requests.per.connection": 5, "batch.num.messages": 25,
                  "linger.ms": 5, "message.timeout.ms": 90000, "retry.backoff.ms": 50,
                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500})
    reports, errors = [], []

    def dr(err, msg):
        (errors if err else reports).append(msg.offset())

    kills = 0
    for i in range(count):
        produce_one(p, topic, i, dr)
        if i % 100 == 99:
            p.poll(0.005)       # keep batches flowing, several in flight
        if i in (count // 3, 2 * count // 3):
            deadline = time.monotonic() + scaled(20)
            while len(reports) < i // 4 and time.monotonic() < deadline:
                p.poll(0.01)    # some delivered, the rest of the queue in flight
            b.kill9()
            kills += 1
            b.start()
    left = p.flush(scaled(120))
    assert kills == 2, "the broker was not killed twice while records were in flight"
    assert left == 0 and not errors, f"{left} undelivered, errors: {errors[:5]}"
    assert len(reports) == count
    expect_exactly_once(b.bootstrap, topic, count)
