"""Shared helpers of the consumer-group integration tests
(test_groups_confluent.py, test_groups_kafka_python.py).

Two halves:

* The WORKER: `python3 groupwork.py '<json config>'` runs one group consumer
  (confluent-kafka or kafka-python) as its own process, so a test can SIGKILL
  it. It subscribes to one topic, consumes at least once (auto commit off; a
  synchronous commit of what it has processed after every poll batch, and of
  what is still pending in the revoke callback) and prints one JSON object a
  line on stdout, flushed at once:

      {"ev": "ready", "pid": N, "t": T}
      {"ev": "assign"|"revoke"|"lost", "parts": [p...], "owned": [p...], "t": T}
            parts: what the callback was given; owned: the worker's partitions
            after it (eager: assign replaces, cooperative: assign adds)
      {"ev": "msg", "p": P, "o": OFFSET, "v": "value", "t": T}
            printed before the record's offset is committed
      {"ev": "foreign", "p": P, "o": OFFSET, "owned": [...]}   (before its
            "msg") a record of a partition the worker does not own
      {"ev": "commit", "offsets": {"P": NEXT_OFFSET, ...}, "t": T}
            printed only after the synchronous commit succeeded
      {"ev": "commit_failed", "offsets": {...}, "err": "...", "t": T}
      {"ev": "error", "err": "...", "t": T}          a consumer error event
      {"ev": "limit", "t": T}                        consumed `limit` records
      {"ev": "hold", "t": T}   after SIGUSR1: from now on the worker commits
            nothing (a consumer whose commits lag behind its processing), so
            that a SIGKILL that follows leaves records consumed but not
            committed, which the group must deliver again
      {"ev": "closing", "t": T}  ... close() ...  {"ev": "closed", "t": T}

  T is time.time() (one clock for all processes of the host). SIGTERM (or
  reaching `limit`) ends the poll loop: pending offsets are committed, then
  close() runs (which sends LeaveGroup, except for static members under
  librdkafka) and the process exits 0. An unexpected exception prints
  {"ev": "fatal"} and exits 1.

  Config keys: client ("confluent" | "kafka-python"), bootstrap, group,
  topic, name, session_timeout_ms, heartbeat_interval_ms, instance_id
  (group.instance.id, confluent only), strategy (partition.assignment.strategy
  of confluent, or "range" | "roundrobin" | "sticky" for kafka-python; its
  2.0.2 sticky assignor cannot rejoin, see test_groups_kafka_python.py),
  cooperative (bool: the strategy is incremental), limit (stop after that many
  records), batch (records per poll batch), conf (extra client settings).

* The TEST SIDE: Worker (starts a worker process and collects its lines in a
  reader thread), Crew (the workers of one test, all ended at its end),
  Producer (unique values through either client, in waves or continuously
  from a thread, keeping what the delivery reports say), wait_until (polls
  a condition up to a scaled deadline), the checks (check_delivery,
  check_no_overlap, check_resume_after_kill, assert_partitioned), the
  group's view through the client's admin API (fetch_committed =
  OffsetFetch, describe_group = DescribeGroups/ListGroups), and the
  scenarios both client modules run (scenario_rebalance,
  scenario_offsets_restart, scenario_two_groups).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# =========================================================================
# worker (runs in its own process)
# =========================================================================

class _Out:
    def __init__(self):
        self.stream = sys.stdout

    def __call__(self, ev, **kw):
        kw["ev"] = ev
        kw["t"] = time.time()
        self.stream.write(json.dumps(kw, sort_keys=True) + "\n")
        self.stream.flush()


def _decode(v):
    return None if v is None else v.decode("utf-8", "surrogateescape")


class _WorkerBase:
    def __init__(self, cfg):
        self.cfg = cfg
        self.topic = cfg["topic"]
        self.emit = _Out()
        self.owned = set()
        self.pending = {}          # partition -> next offset, processed but not committed
        self.count = 0
        self.limit = cfg.get("limit")
        self.batch = int(cfg.get("batch", 50))
        self.cooperative = bool(cfg.get("cooperative"))
        self.stop = False
        self.hold = False
        self.hold_shown = False

    def on_signal(self, signum, frame):
        self.stop = True

    def on_hold(self, signum, frame):
        self.hold = True

    def record(self, p, o, v):
        if p not in self.owned:
            # Kept in the output; the test fails on it (a record of a
            # partition the worker did not own).
            self.emit("foreign", p=p, o=o, owned=sorted(self.owned))
        self.emit("msg", p=p, o=o, v=_decode(v))
        self.pending[p] = o + 1
        self.count += 1

    def limit_reached(self):
        return self.limit is not None and self.count >= self.limit

    def rebalance(self, kind, parts):
        parts = sorted(parts)
        if kind == "assign":
            if self.cooperative:
                self.owned |= set(parts)
            else:
                self.owned = set(parts)
        else:
            if kind == "revoke":
                # Commit what was processed before giving the partitions away.
                self.commit_pending(only=set(parts))
            else:   # lost: the partitions may already belong to someone else
                for p in parts:
                    self.pending.pop(p, None)
            if self.cooperative:
                self.owned -= set(parts)
            else:
                self.owned = set()
        self.emit(kind, parts=parts, owned=sorted(self.owned))

    def commit_pending(self, only=None):
        if self.hold:
            if not self.hold_shown:
                self.hold_shown = True
                self.emit("hold", pending={str(p): o for p, o in sorted(self.pending.items())})
            return
        offs = {p: o for p, o in self.pending.items() if only is None or p in only}
        if not offs:
            return
        for p in offs:
            del self.pending[p]
        err = self.do_commit(offs)
        shown = {str(p): o for p, o in sorted(offs.items())}
        if err is None:
            self.emit("commit", offsets=shown)
        else:
            # Kept pending: committed with the next batch, or in the revoke
            # callback if the partition moves (REBALANCE_IN_PROGRESS is
            # Kafka's answer to a commit while the group completes a
            # rebalance, which a cooperative member may send).
            for p, o in offs.items():
                self.pending[p] = max(o, self.pending.get(p, o))
            self.emit("commit_failed", offsets=shown, err=err)

    def run(self):
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGUSR1, self.on_hold)
        self.open()
        self.emit("ready", pid=os.getpid(), name=self.cfg.get("name"))
        while not self.stop and not self.limit_reached():
            self.poll_batch()
            self.commit_pending()
        if self.limit_reached():
            self.emit("limit", count=self.count)
        self.commit_pending()
        self.emit("closing", owned=sorted(self.owned))
        self.close()
        self.emit("closed", count=self.count)


class _ConfluentWorker(_WorkerBase):
    def open(self):
        from confluent_kafka import Consumer
        cfg = self.cfg
        conf = {
            "bootstrap.servers": cfg["bootstrap"],
            "group.id": cfg["group"],
            "client.id": cfg.get("name", "groupwork"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": int(cfg.get("session_timeout_ms", 6000)),
            "heartbeat.interval.ms": int(cfg.get("heartbeat_interval_ms", 1000)),
            "fetch.wait.max.ms": 100,
            "topic.metadata.refresh.interval.ms": 5000,
        }
        if cfg.get("instance_id"):
            conf["group.instance.id"] = cfg["instance_id"]
        if cfg.get("strategy"):
            conf["partition.assignment.strategy"] = cfg["strategy"]
        conf.update(cfg.get("conf") or {})
        self.c = Consumer(conf)
        self.c.subscribe([self.topic],
                         on_assign=lambda c, ps: self.rebalance("assign", [x.partition for x in ps]),
                         on_revoke=lambda c, ps: self.rebalance("revoke", [x.partition for x in ps]),
                         on_lost=lambda c, ps: self.rebalance("lost", [x.partition for x in ps]))

    def poll_batch(self):
        # One record per poll() so that a rebalance callback (served inside
        # poll) never sits between records of one batch; the revoke callback
        # commits what is pending, so nothing processed is left uncommitted.
        m = self.c.poll(0.2)
        n = 0
        while m is not None:
            if m.error():
                self.emit("error", err=str(m.error()), code=m.error().code())
            else:
                self.record(m.partition(), m.offset(), m.value())
                n += 1
            if n >= self.batch or self.stop or self.limit_reached():
                break
            m = self.c.poll(0)

    def do_commit(self, offs):
        from confluent_kafka import KafkaException, TopicPartition
        try:
            res = self.c.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in offs.items()],
                                asynchronous=False)
        except KafkaException as e:
            return str(e.args[0])
        bad = [f"{tp.partition}:{tp.error}" for tp in (res or []) if tp.error]
        return "; ".join(bad) if bad else None

    def close(self):
        self.c.close()


class _KafkaPythonWorker(_WorkerBase):
    def open(self):
        import logging
        from kafka import ConsumerRebalanceListener, KafkaConsumer
        logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        cfg = self.cfg
        kw = dict(bootstrap_servers=cfg["bootstrap"], group_id=cfg["group"],
                  client_id=cfg.get("name", "groupwork"), enable_auto_commit=False,
                  auto_offset_reset="earliest",
                  session_timeout_ms=int(cfg.get("session_timeout_ms", 6000)),
                  heartbeat_interval_ms=int(cfg.get("heartbeat_interval_ms", 1000)),
                  fetch_max_wait_ms=100)
        strategy = cfg.get("strategy")
        if strategy:
            from kafka.coordinator.assignors.range import RangePartitionAssignor
            from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
            from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
            kw["partition_assignment_strategy"] = [{
                "range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                "sticky": StickyPartitionAssignor}[strategy]]
        kw.update(cfg.get("conf") or {})
        self.c = KafkaConsumer(**kw)
        worker = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                worker.rebalance("revoke", [tp.partition for tp in revoked])

            def on_partitions_assigned(self, assigned):
                worker.rebalance("assign", [tp.partition for tp in assigned])

        self.c.subscribe(topics=[self.topic], listener=Listener())

    def poll_batch(self):
        n = self.batch
        if self.limit is not None:
            n = max(1, min(n, self.limit - self.count))
        recs = self.c.poll(timeout_ms=200, max_records=n)
        for tp in sorted(recs, key=lambda tp: tp.partition):
            for r in recs[tp]:
                self.record(tp.partition, r.offset, r.value)

    def do_commit(self, offs):
        from kafka import OffsetAndMetadata, TopicPartition
        try:
            self.c.commit({TopicPartition(self.topic, p): OffsetAndMetadata(o, "")
                           for p, o in offs.items()})
        except Exception as e:  # CommitFailedError, KafkaError...
            return f"{type(e).__name__}: {e}"
        return None

    def close(self):
        self.c.close(autocommit=False)


def worker_main(argv):
    cfg = json.loads(argv[1])
    cls = {"confluent": _ConfluentWorker, "kafka-python": _KafkaPythonWorker}[cfg["client"]]
    w = cls(cfg)
    try:
        w.run()
    except BaseException as e:
        import traceback
        traceback.print_exc()
        w.emit("fatal", err=f"{type(e).__name__}: {e}")
        sys.stdout.flush()
        os._exit(1)
    return 0


# =========================================================================
# test side
# =========================================================================

def _scaled(s):
    import harness
    return harness.scaled(s)


def _die_with_parent():
    import ctypes
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


class Worker:
    """One worker process and everything it printed (parsed in a thread)."""

    def __init__(self, name, logdir, **cfg):
        self.name = name
        cfg.setdefault("name", name)
        self.cfg = cfg
        self.cooperative = bool(cfg.get("cooperative"))
        self.lock = threading.Lock()
        self.events = []
        self.msgs = []             # (p, o, v, t)
        self.commits = []          # (t, {p: o})
        self.last_commit = {}      # p -> next offset of its last successful commit
        self.owned = set()
        self.rebalances = []       # assign / revoke / lost events
        self.bad_lines = []
        self.killed_at = None
        self.sigterm_at = None
        self.stderr_path = Path(logdir) / f"worker-{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "groupwork.py"), json.dumps(cfg)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            preexec_fn=_die_with_parent, cwd=str(HERE))
        self.started_at = time.time()
        self.reader = threading.Thread(target=self._read, name=f"reader-{name}", daemon=True)
        self.reader.start()

    # ---- reading ----
    def _read(self):
        for raw in self.proc.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                with self.lock:
                    self.bad_lines.append(raw)
                continue
            with self.lock:
                self.events.append(ev)
                kind = ev["ev"]
                if kind == "msg":
                    self.msgs.append((ev["p"], ev["o"], ev["v"], ev["t"]))
                elif kind == "commit":
                    offs = {int(p): o for p, o in ev["offsets"].items()}
                    self.commits.append((ev["t"], offs))
                    self.last_commit.update(offs)
                elif kind in ("assign", "revoke", "lost"):
                    self.owned = set(ev["owned"])
                    self.rebalances.append(ev)

    # ---- state, under the lock ----
    def snapshot(self):
        with self.lock:
            return sorted(self.owned)

    def has(self, kind):
        with self.lock:
            return any(e["ev"] == kind for e in self.events)

    def first(self, kind):
        with self.lock:
            for e in self.events:
                if e["ev"] == kind:
                    return e
        return None

    def of_kind(self, *kinds):
        with self.lock:
            return [e for e in self.events if e["ev"] in kinds]

    def n_rebalances(self):
        with self.lock:
            return len(self.rebalances)

    def consumed_count(self):
        with self.lock:
            return len(self.msgs)

    def consumed_since(self, t):
        with self.lock:
            return sum(1 for m in self.msgs if m[3] >= t)

    @property
    def alive(self):
        return self.proc.poll() is None

    def describe(self, n=25):
        with self.lock:
            evs = [e for e in self.events if e["ev"] != "msg"]
            nmsg = len(self.msgs)
        try:
            err = self.stderr_path.read_bytes().decode("utf-8", "replace").splitlines()
        except OSError:
            err = []
        rc = self.proc.poll()
        return (f"--- worker {self.name} ({'running' if rc is None else f'exit {rc}'}), "
                f"{nmsg} records, events other than msg (last {n}):\n"
                + "\n".join(json.dumps(e, sort_keys=True) for e in evs[-n:])
                + (f"\nunparsable stdout lines: {self.bad_lines[:5]}" if self.bad_lines else "")
                + f"\n--- stderr {self.stderr_path} (last 15 lines):\n" + "\n".join(err[-15:]))

    # ---- ending ----
    def terminate(self, timeout=30):
        """SIGTERM, wait; asserts a clean exit (status 0 after close())."""
        if self.proc.poll() is None:
            self.sigterm_at = time.time()
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(_scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"worker {self.name} did not exit within {_scaled(timeout)}s "
                                 f"of SIGTERM\n{self.describe()}")
        self.reader.join(_scaled(10))
        assert rc == 0 and self.has("closed"), \
            f"worker {self.name}: exit status {rc}, closed={self.has('closed')}\n{self.describe()}"
        return rc

    def wait_exit(self, timeout=60):
        try:
            rc = self.proc.wait(_scaled(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker {self.name} still running after {_scaled(timeout)}s\n"
                                 + self.describe())
        self.reader.join(_scaled(10))
        assert rc == 0 and self.has("closed"), \
            f"worker {self.name}: exit status {rc}\n{self.describe()}"
        return rc

    def hold_commits(self, timeout=30):
        """SIGUSR1: the worker stops committing; returns its "hold" event."""
        self.proc.send_signal(signal.SIGUSR1)
        wait_until(lambda: self.has("hold"), timeout, f"{self.name} to stop committing", [self])
        return self.first("hold")

    def kill(self):
        """SIGKILL: no commit, no close, no LeaveGroup."""
        self.killed_at = time.time()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(_scaled(10))

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            self._stderr.close()
        except OSError:
            pass

    def end_time(self):
        """When this worker stopped consuming (closing / kill), or None."""
        if self.killed_at is not None:
            return self.killed_at
        e = self.first("closing")
        return e["t"] if e else None


def wait_until(pred, timeout, what, workers=()):
    """Polls pred() every 50 ms until true or the (scaled) deadline; on time-out
    raises AssertionError with `what` (a string or a callable giving one) and
    the workers' state. Returns the seconds waited."""
    t0 = time.monotonic()
    deadline = t0 + _scaled(timeout)
    while True:
        if pred():
            return time.monotonic() - t0
        for w in workers:
            if w.has("fatal"):
                raise AssertionError(f"worker {w.name} failed\n{w.describe()}")
        if time.monotonic() > deadline:
            msg = what() if callable(what) else what
            raise AssertionError(f"timed out after {_scaled(timeout):.0f}s waiting for {msg}\n"
                                 + "\n".join(w.describe() for w in workers))
        time.sleep(0.05)


def owned_map(workers):
    return {w.name: w.snapshot() for w in workers}


def settled(workers, nparts):
    """True when every worker owns at least one partition and together they
    own all nparts (with an eager protocol this only happens once every
    member has its assignment of the same generation)."""
    owned = [w.snapshot() for w in workers]
    return all(owned) and set().union(*map(set, owned)) == set(range(nparts))


def assert_partitioned(workers, nparts, sizes):
    """The workers' current assignments are disjoint, cover 0..nparts-1, and
    their sizes (sorted) are `sizes`."""
    owned = owned_map(workers)
    seen = {}
    for name, parts in owned.items():
        for p in parts:
            assert p not in seen, f"partition {p} owned by {seen[p]} and {name}: {owned}"
            seen[p] = name
    assert sorted(seen) == list(range(nparts)), f"partitions owned: {owned}"
    assert sorted(len(v) for v in owned.values()) == sorted(sizes), \
        f"assignment sizes {owned}, want {sorted(sizes)}"
    return owned


# ---- producer ------------------------------------------------------------

class Producer:
    """Produces unique values ("<tag>-<seq>") round-robin over the partitions
    of a topic, through confluent-kafka or kafka-python, with acks=all.
    Either in waves (wave(n)) or continuously in a thread (start()/stop()).
    `records` maps (partition, offset) -> value from the delivery reports."""

    def __init__(self, client, bootstrap, topic, nparts, tag="v"):
        self.client, self.topic, self.nparts, self.tag = client, topic, nparts, tag
        self.seq = 0
        self.records = {}
        self.errors = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if client == "confluent":
            from confluent_kafka import Producer as P
            self.p = P({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
                        "message.timeout.ms": int(_scaled(60000))})
        else:
            from kafka import KafkaProducer
            # retries: the broker restarts between waves in scenario 2
            self.p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2,
                                   retries=5, retry_backoff_ms=200,
                                   max_in_flight_requests_per_connection=1,
                                   request_timeout_ms=int(_scaled(30000)))
            self.futures = []

    def _send_one(self):
        part = self.seq % self.nparts
        value = f"{self.tag}-{self.seq}".encode()
        self.seq += 1
        if self.client == "confluent":
            def cb(err, msg, value=value):
                with self.lock:
                    if err is not None:
                        self.errors.append(str(err))
                    else:
                        self.records[(msg.partition(), msg.offset())] = msg.value().decode()
            while True:
                try:
                    self.p.produce(self.topic, value=value, partition=part, on_delivery=cb)
                    break
                except BufferError:
                    self.p.poll(0.05)
        else:
            self.futures.append((value, self.p.send(self.topic, value=value, partition=part)))

    def _drain(self):
        if self.client == "confluent":
            left = self.p.flush(_scaled(60))
            assert left == 0, f"{left} records not delivered"
        else:
            self.p.flush(timeout=_scaled(60))
            for value, fut in self.futures:
                try:
                    md = fut.get(timeout=_scaled(30))
                except Exception as e:
                    self.errors.append(f"{type(e).__name__}: {e}")
                    continue
                with self.lock:
                    self.records[(md.partition, md.offset)] = value.decode()
            self.futures = []
        assert not self.errors, f"delivery errors: {self.errors[:10]}"
        assert len(self.records) == self.seq, f"{len(self.records)} delivered of {self.seq}"

    def wave(self, n):
        """Produces n records and waits for all delivery reports."""
        for _ in range(n):
            self._send_one()
        self._drain()

    def start(self, per_tick=None, interval=0.1):
        per_tick = per_tick or self.nparts
        self._stop.clear()

        def loop():
            while not self._stop.is_set():
                for _ in range(per_tick):
                    self._send_one()
                if self.client == "confluent":
                    self.p.poll(0)
                self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="producer", daemon=True)
        self._thread.start()

    def stop(self):
        if self._thread is not None:
            self._stop.set()
            self._thread.join(_scaled(30))
            self._thread = None
        self._drain()
        return dict(self.records)

    def close(self):
        if self._thread is not None:
            self._stop.set()
            self._thread.join(_scaled(30))
        if self.client != "confluent":
            self.p.close(timeout=_scaled(10))


# ---- checks --------------------------------------------------------------

def consumed_index(workers):
    """(p, o) -> [(worker, value, t)] in time order."""
    idx = {}
    for w in workers:
        with w.lock:
            for p, o, v, t in w.msgs:
                idx.setdefault((p, o), []).append((w, v, t))
    for lst in idx.values():
        lst.sort(key=lambda x: x[2])
    return idx


def all_consumed(produced, workers):
    idx = consumed_index(workers)
    return all(k in idx for k in produced)


def missing(produced, workers):
    idx = consumed_index(workers)
    return sorted(k for k in produced if k not in idx)


def check_delivery(produced, workers, killed=(), commit_errors_ok=()):
    """At-least-once with precise duplicates:
    - every consumed record is a produced one, with the produced value;
    - every produced record was consumed (none lost);
    - a record consumed more than once was consumed exactly twice: first by a
      worker that was then SIGKILLed, at an offset at or after that worker's
      last successful commit of the partition, and again by another worker.
    Also: no worker printed a record of a partition it did not own or a
    consumer error, and every commit succeeded (except commit_failed events whose error names
    one of commit_errors_ok)."""
    killed = list(killed)
    idx = consumed_index(workers)
    problems = []
    for (p, o), lst in sorted(idx.items()):
        want = produced.get((p, o))
        for w, v, t in lst:
            if want is None:
                problems.append(f"{w.name} consumed ({p},{o})={v!r}, which was never produced")
            elif v != want:
                problems.append(f"{w.name} consumed ({p},{o})={v!r}, produced {want!r}")
    lost = sorted(k for k in produced if k not in idx)
    if lost:
        problems.append(f"{len(lost)} produced records never consumed, first: {lost[:10]}")
    for (p, o), lst in sorted(idx.items()):
        if len(lst) == 1:
            continue
        names = [w.name for w, _, _ in lst]
        first_w = lst[0][0]
        if len(lst) != 2:
            problems.append(f"({p},{o}) consumed {len(lst)} times by {names}")
            continue
        if first_w not in killed:
            problems.append(f"duplicate ({p},{o}) consumed by {names}; the first consumer "
                            f"{first_w.name} was not killed")
            continue
        if lst[1][0] is first_w:
            problems.append(f"duplicate ({p},{o}) consumed twice by {first_w.name}")
            continue
        lc = first_w.last_commit.get(p)
        if lc is not None and o < lc:
            problems.append(f"duplicate ({p},{o}) consumed by {names}, but the killed "
                            f"{first_w.name} had committed partition {p} up to {lc}")
    for w in workers:
        for e in w.of_kind("foreign", "commit_failed", "fatal", "error"):
            if e["ev"] == "commit_failed" and any(x in e["err"] for x in commit_errors_ok):
                continue
            problems.append(f"{w.name}: {json.dumps(e, sort_keys=True)}")
        # commits go forward and never past what the worker consumed
        with w.lock:
            maxo = {}
            for p, o, _, _ in w.msgs:
                maxo[p] = max(maxo.get(p, -1), o)
            last = {}
            for _, offs in w.commits:
                for p, o in offs.items():
                    if o < last.get(p, -1):
                        problems.append(f"{w.name}: commit of partition {p} went back "
                                        f"from {last[p]} to {o}")
                    if o > maxo.get(p, -1) + 1:
                        problems.append(f"{w.name}: committed partition {p} at {o}, "
                                        f"beyond what it consumed ({maxo.get(p)})")
                    last[p] = o
    assert not problems, "delivery check failed:\n" + "\n".join(problems[:40])
    return idx


def ownership_intervals(workers):
    """partition -> [(start, end, worker)] from the workers' own callbacks;
    a partition is owned from its assign event until its revoke/lost event,
    the worker's "closing" event or its SIGKILL."""
    out = {}
    for w in workers:
        stop = w.end_time()
        cur = {}
        for e in w.of_kind("assign", "revoke", "lost"):
            if e["ev"] == "assign":
                if not w.cooperative:
                    for p, t0 in cur.items():
                        out.setdefault(p, []).append((t0, e["t"], w.name))
                    cur = {}
                for p in e["parts"]:
                    cur.setdefault(p, e["t"])
            else:
                for p in (e["parts"] if w.cooperative else list(cur)):
                    if p in cur:
                        out.setdefault(p, []).append((cur.pop(p), e["t"], w.name))
        for p, t0 in cur.items():
            out.setdefault(p, []).append((t0, stop if stop is not None else float("inf"), w.name))
    for lst in out.values():
        lst.sort()
    return out


def check_no_overlap(workers):
    """No partition was owned by two workers at the same time (timestamps of
    one host clock; with eager rebalancing a revoke precedes the next
    assignment, a SIGKILL precedes the reassignment after the session
    timeout, a LeaveGroup follows "closing")."""
    problems = []
    for p, lst in sorted(ownership_intervals(workers).items()):
        for (s0, e0, n0), (s1, e1, n1) in zip(lst, lst[1:]):
            if s1 < e0:
                problems.append(f"partition {p}: {n0} owned it [{s0:.3f}, {e0:.3f}] and "
                                f"{n1} from {s1:.3f}")
    assert not problems, "partition owned twice:\n" + "\n".join(problems)


def committed_since(w, t):
    """Partitions the worker committed successfully at or after time t."""
    with w.lock:
        return set().union(*[set(offs) for tc, offs in w.commits if tc >= t])


def consumed_parts_since(w, t):
    with w.lock:
        return {p for p, _, _, tm in w.msgs if tm >= t}


def kill_with_uncommitted(victim, timeout=30):
    """Lets the victim commit every partition it owns, stops its commits
    (SIGUSR1), waits until it has consumed records of each of them that it
    will never commit, then SIGKILLs it."""
    t_assigned = last_assign_time(victim)
    parts = set(victim.snapshot())
    assert parts, f"{victim.name} owns nothing\n{victim.describe()}"
    wait_until(lambda: committed_since(victim, t_assigned) >= parts, timeout,
               f"{victim.name} to commit each of its partitions {sorted(parts)}", [victim])
    hold = victim.hold_commits(timeout)
    wait_until(lambda: consumed_parts_since(victim, hold["t"]) >= parts, timeout,
               f"{victim.name} to consume records of {sorted(parts)} without committing",
               [victim])
    victim.kill()
    assert set(victim.snapshot()) == parts, victim.describe()
    return parts


def check_resume_after_kill(victim, others):
    """Each partition the SIGKILLed victim owned is read by its next owner
    from exactly the victim's last commit: what the victim consumed after
    that comes again, nothing before it does. Returns how many of the
    victim's records had to be delivered again."""
    problems = []
    again = 0
    with victim.lock:
        vmsgs = list(victim.msgs)
    for p in victim.snapshot():
        lc = victim.last_commit.get(p)
        firsts = []
        for w in others:
            with w.lock:
                firsts += [o for pp, o, _, t in w.msgs if pp == p and t > victim.killed_at]
        if lc is None:
            problems.append(f"partition {p}: the killed {victim.name} never committed it")
        elif not firsts:
            problems.append(f"partition {p}: nobody consumed it after the kill")
        elif min(firsts) != lc:
            problems.append(f"partition {p}: read again from offset {min(firsts)} after the kill "
                            f"of {victim.name}, whose last commit of it was {lc}")
        again += sum(1 for pp, o, _, _ in vmsgs if pp == p and lc is not None and o >= lc)
    assert not problems, "after the SIGKILL:\n" + "\n".join(problems)
    return again


def first_offsets(worker):
    """partition -> first offset the worker consumed."""
    out = {}
    with worker.lock:
        for p, o, _, _ in worker.msgs:
            out.setdefault(p, o)
    return out



# ---- committed offsets through OffsetFetch, outside any group membership ----

def fetch_committed(client, bootstrap, group, topic, nparts):
    """{partition: committed offset} of `group` (partitions without a
    committed offset are left out), read with the client's committed()
    without joining the group."""
    if client == "confluent":
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                      "enable.auto.commit": False})
        try:
            tps = c.committed([TopicPartition(topic, p) for p in range(nparts)],
                              timeout=_scaled(30))
        finally:
            c.close()
        bad = [f"{tp.partition}:{tp.error}" for tp in tps if tp.error]
        assert not bad, f"OffsetFetch errors: {bad}"
        return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        out = {}
        for p in range(nparts):
            o = c.committed(TopicPartition(topic, p))
            if o is not None:
                out[p] = o
        return out
    finally:
        c.close(autocommit=False)


def _decode_assignment(raw, topic):
    """Partitions of `topic` in a ConsumerProtocol assignment (version,
    [topic, [partition]], user data)."""
    import struct
    if not raw:
        return []
    pos = 2
    (n,) = struct.unpack_from(">i", raw, pos)
    pos += 4
    out = []
    for _ in range(n):
        (ln,) = struct.unpack_from(">h", raw, pos)
        name = raw[pos + 2:pos + 2 + ln].decode()
        pos += 2 + ln
        (k,) = struct.unpack_from(">i", raw, pos)
        parts = list(struct.unpack_from(f">{k}i", raw, pos + 4))
        pos += 4 + 4 * k
        if name == topic:
            out += parts
    return sorted(out)


def describe_group(client, bootstrap, group, topic):
    """DescribeGroups through the client's admin API:
    {"state", "protocol_type", "protocol", "members": {client_id: [partitions of topic]}}."""
    if client == "confluent":
        import harness
        admin = harness.admin_client(bootstrap)
        gs = [g for g in admin.list_groups(group=group, timeout=_scaled(20)) if g.id == group]
        assert len(gs) == 1, f"list_groups({group!r}): {[g.id for g in gs]}"
        g = gs[0]
        assert g.error is None or not g.error, f"group {group}: {g.error}"
        return {"state": g.state, "protocol_type": g.protocol_type, "protocol": g.protocol,
                "members": {m.client_id: _decode_assignment(m.assignment, topic)
                            for m in g.members}}
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (g,) = admin.describe_consumer_groups([group])
        members = {}
        for m in g.members:
            a = m.member_assignment
            members[m.client_id] = sorted(p for t, ps in (a.assignment if a else []) if t == topic
                                          for p in ps)
        listed = dict(admin.list_consumer_groups())
    finally:
        admin.close()
    assert listed.get(group) == "consumer", f"ListGroups: {listed}"
    return {"state": g.state, "protocol_type": g.protocol_type, "protocol": g.protocol,
            "members": members}


# =========================================================================
# scenarios shared by the client modules
# =========================================================================

SESSION_MS = 6000     # group.min.session.timeout.ms of the broker's defaults
HEARTBEAT_MS = 1000


class Crew:
    """The workers of one test; every process is ended by close_all()."""

    def __init__(self, client, bootstrap, topic, logdir):
        self.client, self.bootstrap, self.topic, self.logdir = client, bootstrap, topic, logdir
        self.workers = []

    def start(self, name, group, **cfg):
        cfg.setdefault("session_timeout_ms", SESSION_MS)
        cfg.setdefault("heartbeat_interval_ms", HEARTBEAT_MS)
        w = Worker(name, self.logdir, client=self.client, bootstrap=self.bootstrap,
                   group=group, topic=self.topic, **cfg)
        self.workers.append(w)
        return w

    def close_all(self):
        for w in self.workers:
            w.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close_all()


def last_assign_time(w):
    ev = [e for e in w.of_kind("assign") if e["parts"]]
    return ev[-1]["t"] if ev else None


def scenario_rebalance(client, broker, topic, logdir, **worker_cfg):
    """Scenario 1: 6 partitions, records produced continuously. Three members
    end with 2 partitions each; a fourth joins (2/2/1/1); one closes (its
    partitions move within the rebalance its LeaveGroup starts, well before
    the session timeout); one is SIGKILLed (its partitions move only after
    the session timeout). At the end nothing is lost, and the only
    duplicates are records the killed member consumed after its last
    commit. Returns a dict of timings for the caller to report."""
    nparts = 6
    broker.create_topic(topic, partitions=nparts)
    group = _unique("rebalance")
    timings = {}
    prod = Producer(client, broker.bootstrap, topic, nparts, tag="reb")
    with Crew(client, broker.bootstrap, topic, logdir) as crew:
        try:
            prod.start()
            a, b, c = (crew.start(n, group, **worker_cfg) for n in ("a", "b", "c"))
            three = [a, b, c]
            timings["three"] = wait_until(lambda: settled(three, nparts), 60,
                                          lambda: f"3 members to share {nparts} partitions: "
                                          f"{owned_map(three)}", crew.workers)
            assert_partitioned(three, nparts, [2, 2, 2])

            d = crew.start("d", group, **worker_cfg)
            four = three + [d]
            timings["four"] = wait_until(lambda: settled(four, nparts), 60,
                                         lambda: f"4 members to share {nparts} partitions: "
                                         f"{owned_map(four)}", crew.workers)
            assert_partitioned(four, nparts, [2, 2, 1, 1])
            desc = describe_group(client, broker.bootstrap, group, topic)
            assert (desc["state"], desc["members"]) == ("Stable", owned_map(four)), \
                f"DescribeGroups with 4 members: {desc}, members know {owned_map(four)}"

            # ---- clean leave: close() sends LeaveGroup
            leaver = b
            rest = [a, c, d]
            t_leave = time.time()
            leaver.terminate()
            timings["leave"] = wait_until(lambda: settled(rest, nparts), 60,
                                          lambda: f"partitions of {leaver.name} to move: "
                                          f"{owned_map(rest)}", crew.workers)
            assert_partitioned(rest, nparts, [2, 2, 2])
            moved_after = max(last_assign_time(w) for w in rest) - t_leave
            timings["leave_moved_after"] = moved_after
            # Through LeaveGroup, not through the expiry of the session.
            assert moved_after < SESSION_MS / 1000, \
                (f"partitions of the member that left moved {moved_after:.1f}s after its "
                 f"close(); the session timeout is {SESSION_MS / 1000}s: was LeaveGroup "
                 f"honoured?\n" + "\n".join(w.describe() for w in crew.workers))

            # ---- SIGKILL: no LeaveGroup, the session has to expire
            victim = c
            survivors = [a, d]
            kill_with_uncommitted(victim)
            timings["kill"] = wait_until(lambda: settled(survivors, nparts),
                                         SESSION_MS / 1000 + 40,
                                         lambda: f"partitions of the killed {victim.name} to "
                                         f"move: {owned_map(survivors)}", crew.workers)
            assert_partitioned(survivors, nparts, [3, 3])
            moved_after = max(last_assign_time(w) for w in survivors) - victim.killed_at
            timings["kill_moved_after"] = moved_after
            # Kafka keeps a member until its session expires (the last
            # heartbeat was at most one interval before the kill).
            floor = (SESSION_MS - HEARTBEAT_MS) / 1000 - 1.0
            assert moved_after >= floor, \
                (f"partitions of the SIGKILLed member moved after {moved_after:.1f}s, before "
                 f"its session ({SESSION_MS / 1000}s) could have expired")

            produced = prod.stop()
            wait_until(lambda: all_consumed(produced, crew.workers), 60,
                       lambda: f"every record to be consumed; missing "
                       f"{missing(produced, crew.workers)[:10]}", crew.workers)
            for w in survivors:
                w.terminate()
        finally:
            prod.close()
        idx = check_delivery(produced, crew.workers, killed=[victim])
        check_no_overlap(crew.workers)
        again = check_resume_after_kill(victim, survivors)
        dups = sum(len(v) - 1 for v in idx.values())
        assert again > 0 and dups == again, \
            (f"{again} records consumed by the killed member after its last commit, "
             f"{dups} delivered twice")
        timings["records"] = len(produced)
        timings["redelivered"] = dups
        ends = {}
        for p, o in produced:
            ends[p] = max(ends.get(p, 0), o + 1)
        got = fetch_committed(client, broker.bootstrap, group, topic, nparts)
        assert got == ends, f"committed at the end {got}, log end offsets {ends}"
    return timings


def scenario_offsets_restart(client, broker, topic, logdir):
    """Scenario 2: committed offsets survive a clean broker restart and a
    kill -9 + start: each new consumer of the group starts exactly where the
    previous one's last commit left each partition (no gap, no
    redelivery), and OffsetFetch shows the same offsets."""
    # 100 records a partition; the limits end the first two consumers in the
    # middle of a partition, so that a later one has to resume mid-way.
    nparts, first_wave, limits = 3, 300, {"restart": 130, "kill9": 110}
    broker.create_topic(topic, partitions=nparts)
    group = _unique("restart")
    prod = Producer(client, broker.bootstrap, topic, nparts, tag="rst")
    with Crew(client, broker.bootstrap, topic, logdir) as crew:
        try:
            prod.wave(first_wave)
            expect = {}
            steps = [("before-restart", "restart"), ("after-restart", "kill9"),
                     ("after-kill9", None)]
            for name, then in steps:
                limit = limits.get(then)
                w = crew.start(name, group, limit=limit)
                if then is None:
                    produced = prod.stop()      # includes a wave made after kill -9
                    wait_until(lambda: all_consumed(produced, crew.workers), 60,
                               lambda: f"the rest of the topic; missing "
                               f"{missing(produced, crew.workers)[:10]}", crew.workers)
                    w.terminate()
                else:
                    w.wait_exit(60)
                    assert w.consumed_count() == limit, w.describe()
                first = first_offsets(w)
                for p, o in first.items():
                    assert o == expect.get(p, 0), \
                        (f"{name}: partition {p} resumed at {o}, but the group's last "
                         f"commit of it was {expect.get(p)}\n{w.describe()}")
                maxo = {}
                for p, o, _, _ in w.msgs:
                    maxo[p] = max(maxo.get(p, -1), o)
                for p, o in maxo.items():
                    assert w.last_commit.get(p) == o + 1, \
                        f"{name}: partition {p} consumed up to {o}, committed {w.last_commit}"
                print(f"{name}: resumed at {first}, consumed {w.consumed_count()}, "
                      f"last commits {w.last_commit}")
                expect.update(w.last_commit)
                got = fetch_committed(client, broker.bootstrap, group, topic, nparts)
                assert got == expect, f"OffsetFetch after {name}: {got}, commits printed {expect}"
                if then == "restart":
                    broker.restart()
                elif then == "kill9":
                    broker.kill9()
                    broker.start()
                if then:
                    got = fetch_committed(client, broker.bootstrap, group, topic, nparts)
                    assert got == expect, (f"OffsetFetch after broker {then}: {got}, "
                                           f"committed before: {expect}")
                    if then == "kill9":
                        prod.wave(60)
        finally:
            prod.close()
        check_delivery(produced, crew.workers)   # no duplicates at all
        got = fetch_committed(client, broker.bootstrap, group, topic, nparts)
        ends = {}
        for p, o in produced:
            ends[p] = max(ends.get(p, 0), o + 1)
        assert got == ends, f"committed at the end {got}, log end offsets {ends}"


def scenario_two_groups(client, broker, topic, logdir):
    """Scenario 3: two groups on one topic each get every record, with their
    own committed offsets; a join in one group does not disturb the other."""
    nparts = 4
    broker.create_topic(topic, partitions=nparts)
    ga, gb = _unique("grpA"), _unique("grpB")
    prod = Producer(client, broker.bootstrap, topic, nparts, tag="two")
    with Crew(client, broker.bootstrap, topic, logdir) as crew:
        try:
            prod.wave(100)
            b1 = crew.start("B1", gb)
            wait_until(lambda: b1.snapshot() == list(range(nparts)), 60,
                       "group B's member to own all partitions", crew.workers)
            a1 = crew.start("A1", ga)
            a2 = crew.start("A2", ga)
            prod.start(per_tick=nparts, interval=0.05)
            wait_until(lambda: settled([a1, a2], nparts), 60,
                       lambda: f"group A to settle: {owned_map([a1, a2])}", crew.workers)
            assert_partitioned([a1, a2], nparts, [2, 2])
            produced = prod.stop()
            for members, what in (([a1, a2], "group A"), ([b1], "group B")):
                wait_until(lambda: all_consumed(produced, members), 60,
                           lambda: f"{what} to consume everything; missing "
                           f"{missing(produced, members)[:10]}", crew.workers)
            # group B saw exactly one assignment, never disturbed by group A
            evs = [e for e in b1.of_kind("assign", "revoke", "lost") if e["parts"]]
            assert [(e["ev"], e["parts"]) for e in evs] == [("assign", list(range(nparts)))], evs
            # DescribeGroups (and ListGroups) tell what the members know
            for g, members in ((ga, [a1, a2]), (gb, [b1])):
                d = describe_group(client, broker.bootstrap, g, topic)
                want = {"state": "Stable", "protocol_type": "consumer", "protocol": "range",
                        "members": {w.name: w.snapshot() for w in members}}
                assert d == want, f"group {g} described as {d}, expected {want}"
            for w in (a1, a2, b1):
                w.terminate()
            for g in (ga, gb):
                d = describe_group(client, broker.bootstrap, g, topic)
                assert (d["state"], d["members"]) == ("Empty", {}), f"group {g} after close: {d}"
        finally:
            prod.close()
        check_delivery(produced, [a1, a2])
        check_delivery(produced, [b1])
        check_no_overlap([a1, a2])
        ends = {}
        for p, o in produced:
            ends[p] = max(ends.get(p, 0), o + 1)
        for g in (ga, gb):
            got = fetch_committed(client, broker.bootstrap, g, topic, nparts)
            assert got == ends, f"group {g}: committed {got}, log end offsets {ends}"


def _unique(prefix):
    import harness
    return harness.unique_name(prefix)

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv))
