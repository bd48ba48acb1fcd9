#!/usr/bin/python3
"""Transaction rate of a runnel broker, with confluent-kafka (librdkafka) as
the client.

Starts the given runnel binary on a free port with a fresh data folder, then
runs one transactional producer in a loop: begin_transaction, --records
records of 100 bytes spread over --partitions partitions, commit_transaction.
Reports transactions and records per second and the latency of one whole
transaction (begin to commit answered): median, p90, p99. Every commit is
durable (the coordinator's records and the markers are fdatasync'd) and the
records are produced with acks=all, as transactions require.

Several shapes are run one after the other (--shape RECORDS:PARTITIONS,
repeatable; default 1:1, 1:3, 100:3), each with its own topic and
transactional id.

Usage: bench/txn_rate.py [--txns 300] [--shape 100:3]... build/runnel
"""
import argparse
import socket
import subprocess
import tempfile
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, port, data, log):
    p = subprocess.Popen([binary, "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
                          "--override", f"log.dirs={data}"],
                         stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("broker did not start")


def pct(v, q):
    return v[min(len(v) - 1, int(len(v) * q))]


def run_shape(bootstrap, n, records, partitions, tag):
    topic = f"txn-rate-{tag}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result()
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"txn-rate-{tag}",
                  "linger.ms": 1})
    p.init_transactions()
    value = b"x" * 100
    lat = []
    t0 = time.monotonic()
    for _ in range(n):
        t = time.monotonic()
        p.begin_transaction()
        for j in range(records):
            p.produce(topic, value=value, partition=j % partitions)
        p.commit_transaction()
        lat.append(time.monotonic() - t)
    elapsed = time.monotonic() - t0
    lat.sort()
    return (f"{records:>5} records over {partitions} partition(s): {n / elapsed:7.1f} txn/s "
            f"{n * records / elapsed:9.0f} records/s   transaction p50 {pct(lat, .5) * 1e3:6.2f} ms "
            f"p90 {pct(lat, .9) * 1e3:6.2f} ms p99 {pct(lat, .99) * 1e3:6.2f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runnel")
    ap.add_argument("--txns", type=int, default=300)
    ap.add_argument("--shape", action="append", default=None,
                    help="RECORDS:PARTITIONS per transaction (repeatable)")
    a = ap.parse_args()
    shapes = a.shape or ["1:1", "1:3", "100:3"]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        broker = start(a.runnel, port, f"{tmp}/data", f"{tmp}/runnel.log")
        try:
            for i, shape in enumerate(shapes):
                records, partitions = (int(x) for x in shape.split(":"))
                print(run_shape(f"127.0.0.1:{port}", a.txns, records, partitions, i), flush=True)
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
