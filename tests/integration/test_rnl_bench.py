"""rnl bench (tools/rnl/bench*.c): a smoke run of each mode against the real
runnel broker and against librdkafka's in-process mock cluster (--mock).

Tiny counts and durations (a few seconds in all): CI checks that the tool
works and that its figures are consistent, never how fast anything is.
Checked on the --json object: the record counts agree with what was asked
and with what a second pass reads back, bytes = records x (value + key),
latency percentiles are ordered (min <= p50 <= p90 <= p99 <= p99.9 <= max),
and the broker's CPU and RSS come from the broker process (given by
--broker-pid, or found through its listening socket).
"""

import json
import os

import pytest

from harness import RNL_BIN, run, scaled

TIMEOUT_MS = int(scaled(10000))


@pytest.fixture(scope="module", autouse=True)
def _rnl_built():
    if not os.access(RNL_BIN, os.X_OK):
        pytest.fail(f"{RNL_BIN} missing: build it with `make build/rnl` (or set RNL_BIN)")


def bench(broker, *args, timeout=60):
    """Runs `rnl bench ARGS --json --quiet` against broker (None: --mock);
    returns the parsed JSON object."""
    target = ["--mock"] if broker is None else ["--brokers", broker.bootstrap]
    cmd = [RNL_BIN, *target, "--timeout", str(TIMEOUT_MS), "bench", *args, "--json", "--quiet"]
    cp = run(cmd, timeout=timeout)
    lines = cp.stdout.decode().splitlines()
    assert len(lines) == 1, f"want one JSON line, got: {cp.stdout!r}"
    return json.loads(lines[0])


def check_common(r, mode, topic):
    assert r["mode"] == mode and r["topic"] == topic
    assert r["failed"] == 0 and r["lost"] == 0
    assert r["elapsed_s"] > 0
    assert r["messages"] > 0
    assert r["msgs_per_s"] == pytest.approx(r["messages"] / r["elapsed_s"], rel=1e-3)
    assert r["mb_per_s"] == pytest.approx(r["bytes"] / 1e6 / r["elapsed_s"], rel=1e-2, abs=6e-4)  # printed with 3 decimals
    assert r["client"]["cpu_s"] >= 0 and r["client"]["peak_rss_kb"] > 0


def check_latency(r):
    lat = r["latency_us"]
    assert lat["count"] == r["messages"]
    assert 0 <= lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
    assert lat["min"] <= lat["mean"] <= lat["max"]


def check_broker(r, pid, cpu_positive):
    b = r["broker"]
    assert b is not None, r
    assert b["pid"] == pid and b["mock"] is False
    assert b["cpu_s"] == pytest.approx(b["user_s"] + b["sys_s"], abs=0.002)
    assert b["cpu_s"] > 0 if cpu_positive else b["cpu_s"] >= 0
    assert b["peak_rss_kb"] > 0 and 0 < b["rss_max_kb"] <= b["peak_rss_kb"]


# ---- against the real broker ----

def test_produce_then_consume_everything(module_broker, topic_name):
    t = topic_name()
    r = bench(module_broker, "produce", t, "--duration", "1", "--partitions", "2",
              "--acks", "all", "--linger-ms", "2", "--keys", "seq",
              "--broker-pid", str(module_broker.pid))
    check_common(r, "produce", t)
    check_latency(r)
    n = r["messages"]
    assert r["sent"] == n and r["partitions"] == 2 and r["keys"] == "seq"
    # Keys are "0", "1", ..., "n-1": their lengths add to the value bytes.
    assert r["bytes"] == n * 100 + sum(len(str(i)) for i in range(n))
    check_broker(r, module_broker.pid, cpu_positive=True)
    assert r["broker"]["auto_detected"] is False

    # Up to the end (no --count/--duration): reads back exactly what was acked.
    c = bench(module_broker, "consume", t, "--broker-pid", str(module_broker.pid))
    check_common(c, "consume", t)
    assert c["messages"] == n and c["bytes"] == r["bytes"] and c["partitions"] == 2
    assert c["latency_us"] is None
    assert 0 <= c["first_record_ms"] <= c["elapsed_s"] * 1000
    check_broker(c, module_broker.pid, cpu_positive=False)


def test_produce_count_rate_compression(module_broker, topic_name):
    t = topic_name()
    r = bench(module_broker, "produce", t, "--count", "600", "--rate", "1000", "--size", "300",
              "--compression", "lz4", "--batch-size", "65536", "--keys", "random:7")
    check_common(r, "produce", t)
    check_latency(r)
    assert r["sent"] == r["messages"] == 600 and r["bytes"] == 600 * 301
    # Paced at 1000/s: 600 records take at least ~0.6 s.
    assert r["elapsed_s"] >= 0.59 and r["msgs_per_s"] <= 1100
    # The broker is found through its listening socket when not given.
    assert r["broker"]["pid"] == module_broker.pid and r["broker"]["auto_detected"] is True


def test_consume_prefill_count(module_broker, topic_name):
    t = topic_name()
    r = bench(module_broker, "consume", t, "--prefill", "5000", "--partitions", "3",
              "--count", "3000", "--size", "64")
    check_common(r, "consume", t)
    assert r["messages"] == 3000 and r["bytes"] == 3000 * 64 and r["partitions"] == 3


def test_e2e(module_broker, topic_name):
    t = topic_name()
    r = bench(module_broker, "e2e", t, "--rate", "500", "--duration", "1", "--acks", "all",
              "--broker-pid", str(module_broker.pid))
    check_common(r, "e2e", t)
    check_latency(r)
    # Exactly rate x duration records, every one received once.
    assert r["sent"] == r["messages"] == 500 and r["bytes"] == 500 * 100
    assert r["linger_ms"] == 0 and r["rate"] == 500
    assert r["stall_threshold_us"] == 50000
    assert 0 <= r["stalls"] <= r["late"] <= r["messages"]
    assert (r["late"] > 0) == (r["latency_us"]["max"] > 50000)
    assert 0 <= r["send_lag_p50_us"] <= r["send_lag_p99_us"] <= r["send_lag_max_us"]
    assert r["tick_us"] == 250
    # A record's lag is part of its latency (both count from its due time).
    assert r["send_lag_max_us"] <= r["latency_us"]["max"]
    check_broker(r, module_broker.pid, cpu_positive=True)


def test_e2e_tick_zero_wakes_per_record(module_broker, topic_name):
    """--tick-us 0 sends each record at its own due time; --tick-us 20000
    at 200/s (records 5 ms apart) sleeps until 20 ms after a record is due
    and then sends the five due by then, 20, 15, 10, 5 and 0 ms late: a
    median lag near 10 ms, which the tick-less run stays far below."""
    t = topic_name()
    lag = {}
    for tick in (0, 20000):
        r = bench(module_broker, "e2e", t, "--rate", "200", "--duration", "1", "--tick-us",
                  str(tick), "--broker-pid", str(module_broker.pid))
        check_common(r, "e2e", t)
        assert r["tick_us"] == tick and r["sent"] == r["messages"] == 200
        lag[tick] = r["send_lag_p50_us"]
    assert lag[20000] >= 7000 and lag[0] < lag[20000] / 2, lag


def test_table_output(module_broker, topic_name):
    t = topic_name()
    cp = run([RNL_BIN, "--brokers", module_broker.bootstrap, "--timeout", str(TIMEOUT_MS),
              "bench", "produce", t, "--count", "2000", "--broker-pid", str(module_broker.pid)])
    out = cp.stdout.decode()
    assert out.startswith(f'bench produce "{t}" on {module_broker.bootstrap}: 100-byte values')
    for label in ("records      2000 acknowledged of 2000 sent, 0 failed", "throughput",
                  "latency ms   p50", "client cpu", "broker cpu", "broker rss   peak"):
        assert label in out, out
    assert f'created topic "{t}" with 1 partition' in cp.stderr.decode()


def test_errors(module_broker, topic_name):
    base = [RNL_BIN, "--brokers", module_broker.bootstrap, "--timeout", str(TIMEOUT_MS), "bench"]
    cp = run(base + ["consume", topic_name("absent")], check=False)
    assert cp.returncode == 1 and b"does not exist" in cp.stderr
    cp = run(base + ["e2e", topic_name()], check=False)
    assert cp.returncode == 2 and b"needs --rate" in cp.stderr
    cp = run(base + ["produce", topic_name(), "--count", "5", "--duration", "1"], check=False)
    assert cp.returncode == 2
    cp = run(base + ["nosuchmode", "x"], check=False)
    assert cp.returncode == 2 and b"unknown bench mode" in cp.stderr


# ---- against the in-process mock cluster (the peer) ----

def check_mock_broker(r):
    b = r["broker"]
    assert b["mock"] is True and b["pid"] > 0 and b["cpu_s"] >= 0
    assert b["peak_rss_kb"] is None and r["mock"] is True


def test_mock_all_modes():
    r = bench(None, "produce", "m", "--count", "5000", "--partitions", "2")
    check_common(r, "produce", "m")
    check_latency(r)
    assert r["sent"] == r["messages"] == 5000 and r["partitions"] == 2
    check_mock_broker(r)

    # Each --mock run starts an empty cluster: consume fills it first.
    c = bench(None, "consume", "m", "--prefill", "4000")
    check_common(c, "consume", "m")
    assert c["messages"] == 4000 and c["bytes"] == 400000
    check_mock_broker(c)

    e = bench(None, "e2e", "m", "--rate", "400", "--duration", "0.5")
    check_common(e, "e2e", "m")
    check_latency(e)
    assert e["sent"] == e["messages"] == 200
    check_mock_broker(e)


def test_mock_progress_lines():
    cp = run([RNL_BIN, "--mock", "bench", "produce", "m", "--duration", "2.3", "--rate", "500",
              "--progress", "--json"])
    err = cp.stderr.decode()
    assert "    2s  " in err and " acked  " in err and " msgs/s" in err, err
    assert json.loads(cp.stdout)["messages"] == 1150
