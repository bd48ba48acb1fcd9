#!/usr/bin/python3
"""Offset-commit and group-join latency of a runnel broker, with
confluent-kafka (librdkafka) as the client.

Starts the given runnel binary on a free port with a fresh data folder,
then measures:
  - synchronous OffsetCommit round trips (each answered only after the
    commit is on stable storage): median and p99 over --commits;
  - subscribe -> first assignment of a one-member group
    (group.initial.rebalance.delay.ms=0), median over --joins groups;
  - start-up time of the coordinator's __consumer_offsets replay (from the
    broker log after a restart).

Usage: bench/commit_latency.py [--commits 2000] [--joins 20] build/runnel
"""
import argparse
import re
import socket
import statistics
import subprocess
import tempfile
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def start(binary, port, data, log):
    p = subprocess.Popen([binary, "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
                          "--override", f"log.dirs={data}",
                          "--override", "group.initial.rebalance.delay.ms=0"],
                         stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("broker did not start")


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--joins", type=int, default=20)
    a = ap.parse_args()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = tempfile.mkdtemp(prefix="commitlat-")
    bs = f"127.0.0.1:{port}"
    p = start(a.binary, port, f"{d}/data", f"{d}/log1")
    admin = AdminClient({"bootstrap.servers": bs})
    admin.create_topics([NewTopic("t", 1, 1)])["t"].result()
    c = Consumer({"bootstrap.servers": bs, "group.id": "bench", "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition("t", 0, 0)], asynchronous=False)  # coordinator found, topic made
    lat = []
    for i in range(a.commits):
        t0 = time.perf_counter()
        c.commit(offsets=[TopicPartition("t", 0, i)], asynchronous=False)
        lat.append((time.perf_counter() - t0) * 1000)
    c.close()
    print(f"sync OffsetCommit x{a.commits}: median {statistics.median(lat):.2f} ms, "
          f"p99 {pct(lat, 0.99):.2f} ms")
    joins = []
    for i in range(a.joins):
        got = []
        t0 = time.perf_counter()
        c = Consumer({"bootstrap.servers": bs, "group.id": f"join{i}", "session.timeout.ms": 6000})
        c.subscribe(["t"], on_assign=lambda cc, ps: got.append(time.perf_counter()))
        while not got:
            c.poll(0.01)
        joins.append((got[0] - t0) * 1000)
        c.close()
    print(f"new consumer -> first assignment (1 member) x{a.joins}: median "
          f"{statistics.median(joins):.0f} ms, max {max(joins):.0f} ms")
    p.terminate()
    p.wait()
    p = start(a.binary, port, f"{d}/data", f"{d}/log2")
    p.terminate()
    p.wait()
    m = re.search(r"coordinator loaded .*", open(f"{d}/log2").read())
    print("restart:", m.group(0) if m else "no coordinator line")


if __name__ == "__main__":
    main()
