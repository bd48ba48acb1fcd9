"""Helpers shared by the fault tests (tests/fault/): the powercut shim (build,
environment, the cut step), segment-file inspection, a producer that records
acknowledgements, and a reader that returns whole partitions.

The broker processes themselves come from tests/integration/harness.py
(see conftest.py here)."""

import contextlib
import os
import re
import shutil
import struct
import subprocess
import threading
import time
from pathlib import Path

import harness
from harness import scaled

HERE = Path(__file__).resolve().parent
SHIM_SRC = HERE / "shim" / "powercut.c"


# ---------------------------------------------------------------- powercut shim

def build_shim(out_dir):
    """Compiles shim/powercut.c into out_dir/powercut.so; returns its path."""
    out = Path(out_dir) / "powercut.so"
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-std=c17", "-Wall", "-Wextra", "-Werror", "-O2", "-g", "-fPIC", "-shared",
           "-o", str(out), str(SHIM_SRC), "-ldl", "-lpthread"]
    cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if cp.returncode != 0:
        raise AssertionError("building the powercut shim failed:\n" + " ".join(cmd) + "\n"
                             + cp.stdout.decode("utf-8", "replace"))
    return out


@contextlib.contextmanager
def process_env(**env):
    """Sets environment variables for the processes started inside the block
    (the harness copies os.environ when it spawns the broker), then restores
    them."""
    saved = {k: os.environ.get(k) for k in env}
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def shim_env(shim, data_dir, shadow_dir):
    """The environment that runs the broker under the shim. ASan insists on
    being first in the library list; the shim only forwards calls, so that
    check is switched off."""
    asan = os.environ.get("ASAN_OPTIONS") or "detect_leaks=1:halt_on_error=1:abort_on_error=0"
    return {"LD_PRELOAD": str(shim), "POWERCUT_DIR": str(data_dir),
            "POWERCUT_SHADOW": str(shadow_dir),
            "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"}


def start_with_shim(broker, shim, shadow_dir):
    """Starts `broker` under the shim with a fresh shadow_dir (the data dir
    as it is now is taken as durable). Checks the shim came up."""
    shadow_dir = Path(shadow_dir)
    if shadow_dir.exists():
        shutil.rmtree(shadow_dir)
    shadow_dir.mkdir(parents=True)
    with process_env(**shim_env(shim, broker.data_dir, shadow_dir)):
        broker.start()
    ready = shadow_dir / "ready"
    assert ready.exists(), f"powercut shim did not initialise (no {ready}); LD_PRELOAD ignored?"
    assert int(ready.read_text()) == broker.pid, "shim ready file from another process"
    return shadow_dir


def shim_errors(shadow_dir):
    p = Path(shadow_dir) / "errors"
    return p.read_text() if p.exists() else ""


def powercut_apply(data_dir, shadow_dir):
    """The cut: replaces data_dir by what the shim recorded as durable.
    Directory entries come from the directory's last fsync, file contents
    from the file's last fsync (a durable name whose file was never synced
    becomes an empty file). Call only after the broker is dead. Returns a
    summary dict (files, dirs, bytes) for messages."""
    data_dir, shadow_dir = Path(data_dir), Path(shadow_dir)
    root_key = (shadow_dir / "root").read_text().strip()
    stats = {"files": 0, "dirs": 0, "bytes": 0, "empty_files": 0}
    new = data_dir.with_name(data_dir.name + ".cut")
    if new.exists():
        shutil.rmtree(new)

    def rebuild(key, dest, depth=0):
        assert depth < 32, "directory cycle in the shadow"
        dest.mkdir()
        stats["dirs"] += 1
        listing = shadow_dir / "d" / key
        if not listing.exists():
            return  # never fsync'd: exists (its parent says so) but empty
        for line in listing.read_text().splitlines():
            kind, ekey, hexname = line.split(" ")
            name = bytes.fromhex(hexname).decode("utf-8", "surrogateescape")
            target = dest / name
            if kind == "d":
                rebuild(ekey, target, depth + 1)
            else:
                content = shadow_dir / "f" / ekey
                if content.exists():
                    shutil.copyfile(content, target)
                    stats["bytes"] += target.stat().st_size
                else:
                    target.touch()
                    stats["empty_files"] += 1
                stats["files"] += 1

    rebuild(root_key, new)
    shutil.rmtree(data_dir)
    new.rename(data_dir)
    return stats


def tree(path):
    """{relative path: size} of every file under path (for messages)."""
    path = Path(path)
    return {str(p.relative_to(path)): p.stat().st_size for p in sorted(path.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- segments

def partition_dir(data_dir, topic, partition):
    return Path(data_dir) / f"{topic}-{partition}"


def segments(data_dir, topic, partition):
    """The .log files of a partition, by base offset."""
    d = partition_dir(data_dir, topic, partition)
    return sorted(d.glob("*.log"), key=lambda p: int(p.stem))


def scan_segment(path):
    """[(pos, size, base_offset, last_offset)] of the batches at the start of
    a segment file that are structurally whole (no CRC check)."""
    data = Path(path).read_bytes()
    out = []
    pos = 0
    while len(data) - pos >= 61:
        base, blen = struct.unpack_from(">qi", data, pos)
        if blen < 49 or pos + 12 + blen > len(data) or data[pos + 16] != 2:
            break
        (lod,) = struct.unpack_from(">i", data, pos + 23)
        out.append((pos, 12 + blen, base, base + lod))
        pos += 12 + blen
    return out


# ---------------------------------------------------------------- log lines

def log_since(broker, offset):
    """The broker log's text from byte offset on."""
    with open(broker.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def log_size(broker):
    try:
        return os.path.getsize(broker.log_path)
    except OSError:
        return 0


def warn_lines(text):
    return [l for l in text.splitlines() if re.search(r"\b(WARN|ERROR)\b", l)]


# ---------------------------------------------------------------- values

def value_of(tag, partition, seq, size=0):
    """A self-describing value: 'tag|p|seq|' + deterministic filler + '|' + crc
    of the rest, so anything read back can be checked on its own."""
    head = f"{tag}|{partition}|{seq}|".encode()
    filler = bytes((seq * 31 + i * 7 + partition) % 251 for i in range(size))
    body = head + filler
    return body + b"|" + format(_adler(body), "08x").encode()


def _adler(data):
    a, b = 1, 0
    for c in data:
        a = (a + c) % 65521
        b = (b + a) % 65521
    return (b << 16) | a


def check_value(v):
    """Returns (tag, partition, seq) of a value made by value_of, or raises
    AssertionError if it is damaged."""
    assert v is not None, "null value"
    body, sep, crc = v.rpartition(b"|")
    assert sep and len(crc) == 8, f"value without checksum: {v[:60]!r}"
    assert format(_adler(body), "08x").encode() == crc, f"damaged value: {v[:60]!r}"
    tag, p, seq, _ = body.split(b"|", 3)
    return tag.decode(), int(p), int(seq)


# ---------------------------------------------------------------- producer

class AckProducer:
    """A confluent-kafka producer in a thread that writes unique values to
    every partition of a topic, round-robin, until stopped, and records each
    acknowledged (partition, offset, value) from its delivery reports."""

    def __init__(self, bootstrap, topic, partitions, tag, acks="all", value_size=64,
                 rate=None, extra=None):
        from confluent_kafka import Producer
        conf = {"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 2,
                "enable.idempotence": False, "retries": 0,
                "message.timeout.ms": int(scaled(30000)),
                "queue.buffering.max.messages": 20000,
                "socket.timeout.ms": int(scaled(10000)),
                "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500}
        conf.update(extra or {})
        self.p = Producer(conf)
        self.topic = topic
        self.partitions = partitions
        self.tag = tag
        self.value_size = value_size
        self.rate = rate
        self.acked = []          # (partition, offset, value) in report order
        self.failed = 0          # delivery reports with an error
        self.sent = 0
        self.errors = []         # unexpected exceptions in the thread
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _report(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            self.failed += 1

    def _run(self):
        try:
            seq = 0
            t0 = time.monotonic()
            while not self._stop.is_set():
                part = seq % self.partitions
                v = value_of(self.tag, part, seq, self.value_size)
                try:
                    self.p.produce(self.topic, value=v, partition=part, on_delivery=self._report)
                    seq += 1
                    self.sent = seq
                except BufferError:
                    self.p.poll(0.01)
                    continue
                if seq % 50 == 0:
                    self.p.poll(0)
                if self.rate and seq > (time.monotonic() - t0) * self.rate:
                    time.sleep(0.005)
            self.p.poll(0)
        except Exception as e:  # pragma: no cover - reported by the test
            self.errors.append(repr(e))

    def start(self):
        self._t.start()
        return self

    def stop(self, drain=0.0):
        """Stops producing; waits up to `drain` seconds for outstanding
        reports, then purges the rest (in-flight: outcome unknown)."""
        self._stop.set()
        self._t.join(scaled(10))
        if drain:
            self.p.flush(drain)
        try:
            self.p.purge(in_queue=True, in_flight=True, blocking=False)
        except Exception:
            pass
        self.p.flush(scaled(5))
        return self


# ---------------------------------------------------------------- reader

def read_partitions(bootstrap, topic, partitions, timeout=60):
    """Reads every partition of topic from offset 0 to its high watermark
    (taken first) with a confluent-kafka consumer using assign() and CRC
    checks on. Returns {p: [(offset, value)]}, asserting no consumer error."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": harness.unique_name("fault-read"),
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "check.crcs": True, "fetch.wait.max.ms": 50,
                  "socket.timeout.ms": int(scaled(10000))})
    try:
        hw = {}
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=scaled(20))
            assert lo == 0, f"partition {p}: log start offset {lo}"
            hw[p] = hi
        got = {p: [] for p in range(partitions)}
        todo = {p for p in range(partitions) if hw[p] > 0}
        c.assign([TopicPartition(topic, p, 0) for p in todo])
        deadline = time.monotonic() + scaled(timeout)
        while todo and time.monotonic() < deadline:
            msgs = c.consume(1000, 0.2)
            for m in msgs:
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consumer error: {m.error()}")
                p = m.partition()
                if m.offset() < hw[p]:
                    got[p].append((m.offset(), m.value()))
                if m.offset() >= hw[p] - 1:
                    todo.discard(p)
        assert not todo, (f"partitions not read to their end {hw}: "
                          + str({p: len(v) for p, v in got.items()}))
        return got, hw
    finally:
        c.close()


# ---------------------------------------------------------------- checking a log

def round_tag(r):
    return f"r{r}"


def check_log(bootstrap, topic, partitions, acked, timeout=90):
    """Reads every partition and checks what is there, whatever was lost:
    offsets contiguous from 0; every value intact (value_of/check_value), in
    its own partition, and in production order (round, seq strictly
    increasing: no duplicate, no reordering). Then compares with `acked`
    ({p: {offset: value}}). Returns {'hw': {p: n}, 'missing': [(p, offset,
    why)], 'unacked_present': n}; the caller decides about 'missing'."""
    got, hw = read_partitions(bootstrap, topic, partitions, timeout=timeout)
    missing = []
    unacked = 0
    for p in range(partitions):
        offs = [o for o, _ in got[p]]
        assert offs == list(range(hw[p])), (
            f"partition {p}: offsets not contiguous from 0 to {hw[p]}: first gap near "
            + str(next((i for i, o in enumerate(offs) if o != i), len(offs))))
        last = None
        for o, v in got[p]:
            tag, vp, seq = check_value(v)
            assert vp == p, f"partition {p} offset {o}: value written for partition {vp}"
            key = (int(tag[1:]), seq)
            assert last is None or key > last, (
                f"partition {p} offset {o}: {tag}/{seq} after {last} (duplicate or reordered)")
            last = key
        values = dict(got[p])
        for o, v in sorted(acked.get(p, {}).items()):
            if o >= hw[p]:
                missing.append((p, o, f"beyond the log end {hw[p]}"))
            elif values[o] != v:
                missing.append((p, o, f"holds {values[o][:40]!r}, acknowledged {v[:40]!r}"))
        unacked += len(set(values) - set(acked.get(p, {})))
    return {"hw": hw, "missing": missing, "unacked_present": unacked}


def merge_acked(acked, producer):
    """Adds a stopped AckProducer's acknowledgements to acked ({p: {offset:
    value}}); asserts no offset was acknowledged twice."""
    for p, o, v in producer.acked:
        prev = acked.setdefault(p, {}).get(o)
        assert prev is None, f"partition {p} offset {o} acknowledged twice: {prev[:40]!r} and {v[:40]!r}"
        acked[p][o] = v
    return acked


def wait_acks(producer, n, timeout):
    """Waits until the producer has at least n acknowledgements."""
    deadline = time.monotonic() + scaled(timeout)
    while len(producer.acked) < n and time.monotonic() < deadline and not producer.errors:
        time.sleep(0.01)
    assert len(producer.acked) >= n, (f"only {len(producer.acked)} acknowledgements after "
                                      f"{scaled(timeout)}s ({producer.failed} failed, errors {producer.errors})")
