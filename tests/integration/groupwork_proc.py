"""Consumer-group scenarios run with out-of-process workers: c/rdk_group.c
(librdkafka) and node/group_worker.js (KafkaJS). Used by
test_groups_rdkafka_c.py and test_groups_kafkajs.py; the scenarios are the
same for both clients, only the worker command differs.

A worker subscribes one topic with one group and prints JSON lines (see the
header of c/rdk_group.c): assignment events with the set it owns afterwards,
every record it processed, every successful commit. Worker reads them into
Worker.events; the scenarios wait on conditions over those events (with
deadlines through harness.scaled()) and finally check the whole history:

  * every record consumed is one that was produced, at its partition and
    offset, with its value;
  * every record produced was consumed by the group;
  * a record is consumed twice only where the scenario allows it (after the
    last commit of a SIGKILLed member, on the partitions it owned);
  * no partition is owned by two members at once, and a member processes a
    partition only while it owns it (ownership from the events' wall-clock
    microseconds; a killed member owns until its kill);
  * committed offsets never go back, a member commits only what it
    processed, and at the end the group has committed every partition's end;
  * no commit failed and the clients reported no error (the cooperative
    scenario allows a commit refused with REBALANCE_IN_PROGRESS, as Kafka
    refuses commits while a group is CompletingRebalance, if the member
    commits as far again later).

Workers are told what to do through signals (SIGTERM: clean close; SIGKILL)
and stdin ("nocommit": stop committing, to leave processed records
uncommitted before a SIGKILL); they stop by themselves at EOF on stdin.

Scenarios run concurrently (ScenarioRunner): each in its own thread, on its
own topic and group; the module's tests wait for the scenario of their name.
"""

import json
import queue
import signal
import subprocess
import threading
import time
import traceback
from collections import defaultdict

from harness import scaled, unique_name

SESSION_MS = 6000      # the broker's group.min.session.timeout.ms
HEARTBEAT_MS = 1000
POLL = 0.05


def now_us():
    return int(time.time() * 1_000_000)


# ---------------------------------------------------------------- workers

class Worker:
    """One worker process; its stdout is parsed into self.events."""

    def __init__(self, name, cmd, cwd, logdir, group, client):
        self.name = name
        self.group = group
        self.client = client
        self.cmd = [str(c) for c in cmd]
        self.events = []
        self.lock = threading.Lock()
        self.stderr_path = logdir / f"{name}.stderr"
        self.stdout_path = logdir / f"{name}.stdout"
        self.killed_at = None     # us, after SIGKILL was reaped
        self.exited_at = None     # us, after a clean exit
        self.expect_alive = True
        self._errf = open(self.stderr_path, "wb")
        self.started_at = now_us()
        # No PR_SET_PDEATHSIG (harness._die_with_parent): it fires when the
        # *thread* that started the child ends, and preexec_fn is unsafe with
        # threads. A worker stops by itself when its stdin reaches EOF, i.e.
        # when this process is gone.
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._errf, cwd=str(cwd))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        with open(self.stdout_path, "wb") as raw:
            for line in self.proc.stdout:
                raw.write(line)
                raw.flush()
                try:
                    ev = json.loads(line)
                except ValueError:        # e.g. a line cut by SIGKILL
                    ev = {"ev": "raw", "line": line.decode("utf-8", "replace")}
                with self.lock:
                    self.events.append(ev)

    # ---- views ----
    def evs(self, *kinds):
        with self.lock:
            return [e for e in self.events if not kinds or e["ev"] in kinds]

    def owned(self):
        last = self.evs("assigned", "revoked")
        return set(last[-1]["owned"]) if last else set()

    def msgs(self):
        return [(e["p"], e["o"], e["v"], e["t"]) for e in self.evs("msg")]

    def consumed_keys(self):
        return {(e["p"], e["o"]) for e in self.evs("msg")}

    def has(self, kind):
        return bool(self.evs(kind))

    @property
    def alive(self):
        return self.proc.poll() is None

    def describe(self):
        state = "running" if self.alive else f"exit {self.proc.returncode}"
        evs = self.evs()
        nmsg = sum(1 for e in evs if e["ev"] == "msg")
        notable = [e for e in evs if e["ev"] != "msg"][-8:]
        try:
            err = self.stderr_path.read_bytes().decode("utf-8", "replace").splitlines()[-12:]
        except OSError:
            err = []
        return (f"  worker {self.name} (group {self.group}, {state}): owned {sorted(self.owned())}, "
                f"{nmsg} records\n    last events: "
                + "\n      ".join(json.dumps(e) for e in notable)
                + "\n    stderr tail:\n      " + "\n      ".join(err)
                + f"\n    stdout: {self.stdout_path}")

    # ---- control ----
    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def terminate(self, timeout=30):
        """SIGTERM, wait for the exit; asserts a clean close (exit 0, "closed"
        without error)."""
        self.expect_alive = False
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name}: no exit {scaled(timeout)}s after SIGTERM\n"
                                 + self.describe())
        self.exited_at = now_us()
        self._reader.join(scaled(10))
        closed = self.evs("closed")
        assert rc == 0 and closed and closed[-1]["err"] is None, (
            f"{self.name}: unclean close (exit {rc}, closed events {closed})\n" + self.describe())
        return rc

    def kill(self):
        self.expect_alive = False
        self.proc.kill()
        self.proc.wait()
        self.killed_at = now_us()
        self._reader.join(scaled(10))

    def cleanup(self):
        self.expect_alive = False
        if self.alive:
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self._errf.close()


class Spawner:
    """Starts workers of one client: prefix + [BOOTSTRAP TOPIC GROUP NAME options]."""

    def __init__(self, client, prefix, cwd, logdir):
        self.client = client
        self.prefix = list(prefix)
        self.cwd = cwd
        self.logdir = logdir
        self.workers = []
        self.lock = threading.Lock()

    def __call__(self, bootstrap, topic, group, name, session_ms=SESSION_MS,
                 heartbeat_ms=HEARTBEAT_MS, instance_id=None, strategy=None):
        cmd = self.prefix + [bootstrap, topic, group, name, "--session-ms", session_ms,
                             "--heartbeat-ms", heartbeat_ms]
        if instance_id is not None:
            cmd += ["--instance-id", instance_id]
        if strategy is not None:
            cmd += ["--strategy", strategy]
        with self.lock:
            n = sum(1 for w in self.workers if w.name.split("#")[0] == name)
        w = Worker(name if n == 0 else f"{name}#{n + 1}", cmd, self.cwd, self.logdir, group,
                   self.client)
        with self.lock:
            self.workers.append(w)
        return w

    def cleanup(self):
        with self.lock:
            ws = list(self.workers)
        for w in ws:
            w.cleanup()


def wait_until(pred, timeout, what, workers=()):
    """Polls pred() until it is true (returns its value). Fails early when a
    worker that should run has exited, and at the (scaled) deadline, with
    the state of the workers."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        r = pred()
        if r:
            return r
        for w in workers:
            if w.expect_alive and not w.alive:
                time.sleep(0.2)     # let the reader take the last lines
                raise AssertionError(f"{w.name} exited (status {w.proc.returncode}) while "
                                     f"waiting for {what}\n" + "\n".join(x.describe() for x in workers))
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {scaled(timeout):.0f}s: {what}\n"
                                 + "\n".join(w.describe() for w in workers))
        time.sleep(POLL)


def balanced(workers, nparts, sizes):
    """True when the workers' owned sets are disjoint, cover 0..nparts-1 and
    have the given sizes (in any order)."""
    sets = [w.owned() for w in workers]
    allp = [p for s in sets for p in s]
    return (len(allp) == len(set(allp)) and set(allp) == set(range(nparts))
            and sorted(len(s) for s in sets) == sorted(sizes))


def wait_balanced(workers, nparts, sizes, what, timeout=60):
    wait_until(lambda: balanced(workers, nparts, sizes), timeout,
               f"{what}: assignment sizes {sorted(sizes)} over {nparts} partitions", workers)
    return {w.name: sorted(w.owned()) for w in workers}


def wait_consumed(workers, records, what, timeout=60, keys=None, live=None):
    """Waits until the union of what the workers consumed holds every record
    produced so far (or the given keys)."""
    want = records.keys() if keys is None else set(keys)

    def missing():
        got = set()
        for w in workers:
            got |= w.consumed_keys()
        return want - got

    wait_until(lambda: not missing(), timeout,
               f"{what}: {len(want)} records consumed", live if live is not None else
               [w for w in workers if w.expect_alive])


# ---------------------------------------------------------------- records

class Records:
    """Produces records with unique values through confluent-kafka (acks=all,
    explicit partitions) and remembers (partition, offset) -> value. Besides
    explicit phases, start_flow() keeps producing one record per partition
    every `interval` seconds from a thread until stop_flow()."""

    def __init__(self, bootstrap, topic, nparts, tag):
        self.bootstrap, self.topic, self.nparts, self.tag = bootstrap, topic, nparts, tag
        self.lock = threading.Lock()
        self.values = {}              # (p, o) -> value; read it through keys()/value()
        self.phases = defaultdict(list)
        self.end = {p: 0 for p in range(nparts)}
        self.producer = self._producer()
        self._flow = None

    def _producer(self):
        from confluent_kafka import Producer
        return Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                         "linger.ms": 5, "enable.idempotence": False,
                         "message.timeout.ms": int(scaled(60000))})

    def keys(self):
        with self.lock:
            return set(self.values)

    def value(self, key):
        with self.lock:
            return self.values.get(key)

    def produce(self, phase, per_partition, partitions=None, producer=None):
        pr = producer or self.producer
        parts = range(self.nparts) if partitions is None else partitions
        done, errors = [], []

        def cb(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                done.append((msg.partition(), msg.offset(), msg.value().decode()))

        for i in range(per_partition):
            for p in parts:
                pr.produce(self.topic, value=f"{self.tag}/{phase}/p{p}/{i}".encode(),
                           partition=p, on_delivery=cb)
        left = pr.flush(scaled(60))
        assert left == 0 and not errors, f"produce {phase}: {left} undelivered, errors {errors[:5]}"
        assert len(done) == per_partition * len(parts)
        with self.lock:
            for p, o, v in done:
                assert (p, o) not in self.values, f"offset {o} of partition {p} reported twice"
                self.values[(p, o)] = v
                self.phases[phase].append((p, o))
                self.end[p] = max(self.end[p], o + 1)
            return sorted(self.phases[phase])

    def start_flow(self, interval=0.1):
        stop, state = threading.Event(), {"n": 0, "error": None}

        def body():
            try:
                pr = self._producer()
                while not stop.is_set():
                    self.produce(f"flow{state['n']}", 1, producer=pr)
                    state["n"] += 1
                    stop.wait(interval)
            except BaseException as e:  # noqa: BLE001 - raised by stop_flow()
                state["error"] = e

        th = threading.Thread(target=body, daemon=True, name=f"flow-{self.topic}")
        th.start()
        self._flow = (stop, th, state)

    def stop_flow(self):
        stop, th, state = self._flow
        stop.set()
        th.join(scaled(90))
        assert not th.is_alive(), "the producer flow did not stop"
        if state["error"] is not None:
            raise AssertionError(f"producer flow failed: {state['error']!r}")
        return state["n"]


# ---------------------------------------------------------------- checks

def latest_commits(workers, before_us=None):
    """The group's committed offsets as the workers reported them: per
    partition the offset of the latest successful commit (by time)."""
    best = {}
    for w in workers:
        for e in w.evs("commit"):
            if before_us is not None and e["t"] > before_us:
                continue
            for p, o in e["offsets"]:
                if p not in best or e["t"] >= best[p][0]:
                    best[p] = (e["t"], o)
    return {p: o for p, (t, o) in best.items()}


def ownership_intervals(w):
    """{partition: [(start_us, end_us)]} of one worker, from the "owned" sets
    of its assignment events; what it still owns ends at its kill/exit."""
    out = defaultdict(list)
    cur = {}
    for e in w.evs("assigned", "revoked"):
        new = set(e["owned"])
        for p in new - set(cur):
            cur[p] = e["t"]
        for p in set(cur) - new:
            out[p].append((cur.pop(p), e["t"]))
    end = w.killed_at or w.exited_at or now_us()
    for p, s in cur.items():
        out[p].append((s, end))
    return out


def check_history(workers, records, allowed_dups=(), label="", retried_commits=False,
                  all_committed=True):
    """The checks of the module docstring over one group's workers. Returns
    {(p, o): [worker names]} of the records consumed more than once.

    retried_commits: a commit refused with REBALANCE_IN_PROGRESS is fine if
    the same member commits that partition at least as far later (Kafka
    refuses commits while the group is CompletingRebalance, which a
    cooperative member that keeps consuming can run into).
    all_committed: the group's last commits are the end of every partition."""
    problems = []
    allowed_dups = set(allowed_dups)
    by_key = defaultdict(list)
    for w in workers:
        for p, o, v, t in w.msgs():
            by_key[(p, o)].append(w.name)
            want = records.value((p, o))
            if want is None:
                problems.append(f"{w.name} consumed p{p}@{o} = {v!r}, which was not produced")
            elif v != want:
                problems.append(f"{w.name} consumed p{p}@{o} = {v!r}, produced {want!r}")
    missing = sorted(records.keys() - set(by_key))
    if missing:
        problems.append(f"{len(missing)} produced records never consumed, e.g. {missing[:10]}")
    dups = {k: names for k, names in by_key.items() if len(names) > 1}
    bad = sorted(k for k in dups if k not in allowed_dups)
    if bad:
        problems.append(f"{len(bad)} records consumed more than once where no duplicate may occur, "
                        f"e.g. {[(k, dups[k]) for k in bad[:10]]}")
    for w in workers:
        evs = w.evs("commit_failed", "commit", "error")
        for i, e in enumerate(evs):
            if e["ev"] == "commit":
                continue
            if retried_commits and e["ev"] == "commit_failed" and e["err"] == "REBALANCE_IN_PROGRESS":
                later = [c for c in evs[i + 1:] if c["ev"] == "commit"]
                uncovered = [(p, o) for p, o, *_ in e["offsets"]
                             if not any(pp == p and oo >= o for c in later for pp, oo in c["offsets"])]
                if not uncovered:
                    continue
                problems.append(f"{w.name}: refused commit {uncovered} never made good later")
            problems.append(f"{w.name} reported {json.dumps(e)}")
        for e in w.evs("assigned", "revoked"):
            if e.get("assign_error"):
                problems.append(f"{w.name}: {json.dumps(e)}")
    # Ownership: never two owners at once; records processed only while owned.
    ivs = {w.name: ownership_intervals(w) for w in workers}
    for p in range(records.nparts):
        spans = sorted((s, e, n) for n, iv in ivs.items() for s, e in iv.get(p, []))
        for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
            if n1 != n2 and s2 < e1:
                problems.append(f"partition {p} owned by {n1} [{s1}, {e1}] and {n2} [{s2}, {e2}] at once")
    for w in workers:
        iv = ivs[w.name]
        for p, o, v, t in w.msgs():
            if not any(s <= t <= e for s, e in iv.get(p, [])):
                problems.append(f"{w.name} processed p{p}@{o} at {t} without owning p{p} "
                                f"(owned {iv.get(p, [])})")
                break
    # Commits: per partition never backwards (in time across the group), and
    # a member commits offset o only after it processed o-1.
    commits = sorted((e["t"], w.name, p, o) for w in workers for e in w.evs("commit")
                     for p, o in e["offsets"])
    last = {}
    for t, n, p, o in commits:
        if p in last and o < last[p][1]:
            problems.append(f"committed offset of p{p} went back: {last[p]} then {n} {o}")
        last[p] = (n, o)
    for w in workers:
        seen = set()
        evs = w.evs("msg", "commit")
        for e in evs:
            if e["ev"] == "msg":
                seen.add((e["p"], e["o"]))
            else:
                for p, o in e["offsets"]:
                    if (p, o - 1) not in seen:
                        problems.append(f"{w.name} committed p{p}@{o} without processing offset {o - 1}")
    if all_committed:
        final = latest_commits(workers)
        want = {p: o for p, o in records.end.items() if o > 0}
        if final != want:
            problems.append(f"last commits {final}, want the partition ends {want}")
    assert not problems, (f"{label}: {len(problems)} problems:\n  " + "\n  ".join(problems[:40])
                          + "\n" + "\n".join(w.describe() for w in workers))
    return dups


def assignment_events_after(w, t_us):
    return [e for e in w.evs("assigned", "revoked") if e["t"] > t_us]


# ---------------------------------------------------------------- scenarios

class Ctx:
    def __init__(self, name, broker, spawn, client, runner=None):
        self.name = name
        self.runner = runner
        self.broker = broker
        self.spawn = spawn
        self.client = client
        self.lines = []
        self.t0 = time.monotonic()

    def log(self, msg):
        self.lines.append(f"[{time.monotonic() - self.t0:7.2f}s] {msg}")

    def names(self, suffix):
        return unique_name(f"{self.client}-{self.name}-{suffix}")

    def on_main(self, fn):
        """Runs fn() on pytest's main thread (see ScenarioRunner) and returns
        its result; for broker stops and starts."""
        return self.runner.on_main(fn) if self.runner else fn()


def scenario_rebalance(ctx):
    """6 partitions; 3 members get 2 each; a 4th joins (2/2/1/1); one leaves
    cleanly (its partitions move within that rebalance, well before a
    session timeout); one is SIGKILLed after it processed records it did
    not commit (its partitions move only after the session timeout, and the
    new owners resume exactly at its last commit)."""
    b, spawn = ctx.broker, ctx.spawn
    topic, group = ctx.names("t"), ctx.names("g")
    b.create_topic(topic, partitions=6)
    rec = Records(b.bootstrap, topic, 6, topic)
    rec.produce("a", 30)
    rec.start_flow()        # records keep coming during every rebalance
    ws = [spawn(b.bootstrap, topic, group, f"{ctx.client}-reb-c{i}") for i in (1, 2, 3)]
    a = wait_balanced(ws, 6, [2, 2, 2], "three members")
    ctx.log(f"three members: {a}")
    wait_consumed(ws, rec, "phase a")

    rec.produce("b", 8)
    ws.append(spawn(b.bootstrap, topic, group, f"{ctx.client}-reb-c4"))
    a = wait_balanced(ws, 6, [2, 2, 1, 1], "a fourth member")
    ctx.log(f"four members: {a}")
    wait_consumed(ws, rec, "phase b")

    # A clean leave (LeaveGroup): the others take over in one rebalance.
    leaver, rest = ws[0], ws[1:]
    moved = leaver.owned()
    rec.produce("c", 8)
    leaver.terminate()
    t_exit = time.monotonic()
    a = wait_balanced(rest, 6, [2, 2, 2], f"{leaver.name} left")
    dt = time.monotonic() - t_exit
    ctx.log(f"{leaver.name} left, {sorted(moved)} moved in {dt:.2f}s: {a}")
    limit = (SESSION_MS - HEARTBEAT_MS) / 1000 - 0.5
    assert dt < limit, (f"the partitions of {leaver.name}, which left with LeaveGroup, moved only "
                        f"{dt:.2f}s after it exited (a session expiry takes >= {limit + 0.5}s)")
    wait_consumed(ws, rec, "phase c", live=rest)

    # SIGKILL after processing uncommitted records.
    victim, survivors = rest[0], rest[1:]
    victim.send("nocommit")
    wait_until(lambda: victim.has("nocommit"), 20, f"{victim.name} acknowledges nocommit", [victim])
    vowned = victim.owned()
    rec.produce("d", 8)
    wait_consumed(ws, rec, "phase d", live=rest)
    assert victim.owned() == vowned, f"{victim.name} changed its assignment meanwhile"
    victim.kill()
    t_kill = time.monotonic()
    t_kill_us = now_us()
    committed = latest_commits(ws, before_us=t_kill_us)   # the victim's output is complete
    a = wait_balanced(survivors, 6, [3, 3], f"{victim.name} killed", timeout=SESSION_MS / 1000 + 40)
    dt = time.monotonic() - t_kill
    ctx.log(f"{victim.name} killed owning {sorted(vowned)}; moved after {dt:.2f}s: {a}")
    low = (SESSION_MS - HEARTBEAT_MS) / 1000 - 1.0
    assert dt >= low, (f"the partitions of the killed {victim.name} moved {dt:.2f}s after the kill, "
                       f"before its session ({SESSION_MS} ms) can have expired")
    rec.produce("e", 8)
    nflow = rec.stop_flow()
    wait_consumed(ws, rec, "phase e and the flow", live=survivors)
    # Each new owner resumes exactly at the last commit.
    for p in sorted(vowned):
        after = sorted((t, o, w.name) for w in survivors for (pp, o, v, t) in w.msgs()
                       if pp == p and t > t_kill_us)
        assert after, f"nobody consumed p{p} after {victim.name} was killed"
        first = after[0]
        assert first[1] == committed.get(p, 0), (
            f"p{p}: {first[2]} resumed at offset {first[1]}, the last commit was {committed.get(p)}")
    for w in survivors:
        w.terminate()

    # Duplicates: exactly the victim's records at or after the last commit.
    expected = {(p, o) for (p, o, v, t) in victim.msgs() if p in vowned and o >= committed.get(p, 0)}
    assert any(k in set(rec.phases["d"]) for k in expected), (
        f"{victim.name} should have uncommitted records of phase d; last commits {committed}")
    dups = check_history(ws, rec, allowed_dups=expected, label="rebalance")
    assert set(dups) == expected, (
        f"records read again after the kill: {sorted(set(dups))[:20]}, expected exactly the "
        f"{len(expected)} records {victim.name} processed after its last commit "
        f"(missing {sorted(expected - set(dups))[:10]})")
    for k in dups:
        assert len(dups[k]) == 2 and victim.name in dups[k], (k, dups[k])
    ctx.log(f"{len(rec.keys())} records ({nflow} flow rounds), {len(dups)} duplicates after "
            "the kill (all expected)")


def scenario_restart(ctx):
    """Committed offsets survive SIGTERM + restart and kill -9 + start: a new
    member resumes exactly at the last commit (records processed after it
    but not committed are read again; nothing before it is)."""
    b, spawn = ctx.broker, ctx.spawn
    topic, group = ctx.names("t"), ctx.names("g")
    b.create_topic(topic, partitions=3)
    rec = Records(b.bootstrap, topic, 3, topic)
    allw = []

    def run_member(n, phase_committed, phase_uncommitted, expect_from):
        w = spawn(b.bootstrap, topic, group, f"{ctx.client}-rst-m{n}")
        allw.append(w)
        wait_balanced([w], 3, [3], f"member {n}")
        wait_consumed([w], rec, f"member {n}: up to phase {phase_committed}",
                      keys=[(p, o) for (p, o) in rec.keys() if o >= expect_from[p]])
        # Resumed exactly at the group's committed offsets.
        for p in range(3):
            offs = [o for (pp, o, v, t) in w.msgs() if pp == p]
            want = list(range(expect_from[p], rec.end[p]))
            assert offs == want, (f"member {n}, p{p}: consumed offsets {offs[:5]}..{offs[-3:]} "
                                  f"({len(offs)}), want {want[:1]}..{want[-1:]} ({len(want)}): "
                                  f"the committed offset was {expect_from[p]}")
        wait_until(lambda: latest_commits([w]) == rec.end, 30,
                   f"member {n} commits {rec.end}", [w])
        committed = dict(rec.end)
        w.send("nocommit")
        wait_until(lambda: w.has("nocommit"), 20, "nocommit", [w])
        keys = rec.produce(phase_uncommitted, 5)
        wait_consumed([w], rec, f"member {n}: phase {phase_uncommitted}", keys=keys)
        w.terminate()
        assert latest_commits([w]) == committed, (
            f"member {n} committed {latest_commits([w])} after 'nocommit' (committed {committed} before)")
        return committed

    rec.produce("a", 10)
    committed = run_member(1, "a", "b", {p: 0 for p in range(3)})
    ctx.log(f"member 1 committed {committed}, then processed phase b without committing")
    ctx.on_main(b.restart)
    ctx.log("broker restarted (SIGTERM)")
    rec.produce("c", 5)
    committed = run_member(2, "c", "d", committed)
    ctx.log(f"member 2 resumed at the commit, committed {committed}")
    ctx.on_main(lambda: (b.kill9(), b.start()))
    ctx.log("broker kill -9 + start")
    rec.produce("e", 5)
    w = spawn(b.bootstrap, topic, group, f"{ctx.client}-rst-m3")
    allw.append(w)
    wait_balanced([w], 3, [3], "member 3")
    wait_consumed([w], rec, "member 3", keys=[(p, o) for (p, o) in rec.keys() if o >= committed[p]])
    for p in range(3):
        offs = [o for (pp, o, v, t) in w.msgs() if pp == p]
        assert offs == list(range(committed[p], rec.end[p])), (
            f"member 3, p{p}: consumed {offs}, want {committed[p]}..{rec.end[p] - 1} "
            f"(last commit {committed[p]} before kill -9)")
    wait_until(lambda: latest_commits([w]) == rec.end, 30, "member 3 commits", [w])
    w.terminate()
    ctx.log("member 3 resumed at the commit")
    expected = set()
    for ph in ("b", "d"):        # processed without commit, then read again
        expected |= set(rec.phases[ph])
    dups = check_history(allw, rec, allowed_dups=expected, label="restart")
    assert set(dups) == expected, f"read twice: {sorted(dups)[:10]}, expected phases b and d"


def scenario_two_groups(ctx):
    """Two groups on one topic (two members and one member) each consume
    every record, once."""
    b, spawn = ctx.broker, ctx.spawn
    topic = ctx.names("t")
    ga, gb = ctx.names("ga"), ctx.names("gb")
    b.create_topic(topic, partitions=4)
    rec = Records(b.bootstrap, topic, 4, topic)
    rec.produce("a", 10)
    wa = [spawn(b.bootstrap, topic, ga, f"{ctx.client}-2g-a{i}") for i in (1, 2)]
    wb = [spawn(b.bootstrap, topic, gb, f"{ctx.client}-2g-b1")]
    wait_balanced(wa, 4, [2, 2], "group A")
    wait_balanced(wb, 4, [4], "group B")
    rec.produce("b", 10)
    wait_consumed(wa, rec, "group A")
    wait_consumed(wb, rec, "group B")
    for w in wa + wb:
        w.terminate()
    check_history(wa, rec, label="group A")
    check_history(wb, rec, label="group B")
    ctx.log(f"{len(rec.keys())} records consumed by each group")


def scenario_static(ctx):
    """Static membership: a member with group.instance.id restarted within
    its session timeout gets the same partitions back, resumes at its last
    commit, and the other members see no rebalance."""
    b, spawn = ctx.broker, ctx.spawn
    topic, group = ctx.names("t"), ctx.names("g")
    session = 10000
    b.create_topic(topic, partitions=6)
    rec = Records(b.bootstrap, topic, 6, topic)
    rec.produce("a", 6)
    inst = [f"{group}-inst{i}" for i in (1, 2, 3)]
    ws = [spawn(b.bootstrap, topic, group, f"{ctx.client}-st-s{i}", session_ms=session,
                instance_id=inst[i - 1]) for i in (1, 2, 3)]
    a = wait_balanced(ws, 6, [2, 2, 2], "three static members")
    wait_consumed(ws, rec, "phase a")
    ctx.log(f"static members: {a}")
    s1, s2, s3 = ws
    before = s2.owned()
    t_mark = now_us()
    rec.produce("b", 6)
    wait_consumed(ws, rec, "phase b")
    wait_until(lambda: all(latest_commits([w]).get(p) == rec.end[p] for w in ws for p in w.owned()),
               30, "commits of phase b", ws)
    s2.terminate()
    t_exit = time.monotonic()
    rec.produce("c", 6)
    s2b = spawn(b.bootstrap, topic, group, f"{ctx.client}-st-s2", session_ms=session,
                instance_id=inst[1])
    wait_until(lambda: s2b.owned(), 30, f"{s2b.name} assigned", [s2b, s1, s3])
    dt = time.monotonic() - t_exit
    assert s2b.owned() == before, f"restarted static member got {sorted(s2b.owned())}, had {sorted(before)}"
    ctx.log(f"{s2b.name} rejoined {dt:.2f}s after its exit with {sorted(s2b.owned())}")
    assert dt < session / 1000, f"the restart took {dt:.1f}s, longer than the session timeout"
    live = [s1, s2b, s3]
    wait_consumed(ws + [s2b], rec, "phase c", live=live)
    # Over a few heartbeats nobody else may see a rebalance.
    rec.produce("d", 3)
    wait_consumed(ws + [s2b], rec, "phase d", live=live)
    time.sleep(2.5 * HEARTBEAT_MS / 1000)
    for w in (s1, s3):
        evs = assignment_events_after(w, t_mark)
        assert not evs, f"{w.name} saw a rebalance when the static member restarted: {evs}"
    assert [sorted(e["owned"]) for e in s2b.evs("assigned")] == [sorted(before)], s2b.evs("assigned")
    for p in before:
        offs = [o for (pp, o, v, t) in s2b.msgs() if pp == p]
        assert offs and offs[0] == latest_commits([s2]).get(p), (
            f"p{p}: restarted member began at {offs[:1]}, last commit {latest_commits([s2]).get(p)}")
    for w in live:
        w.terminate()
    check_history([s1, s2, s3, s2b], rec, label="static")


def scenario_cooperative(ctx):
    """cooperative-sticky: a second member joins; the first gives up only the
    partitions that move (incremental revoke, keeps the rest without a
    revocation), the second gets them incrementally; nothing lost, nothing
    read twice."""
    b, spawn = ctx.broker, ctx.spawn
    topic, group = ctx.names("t"), ctx.names("g")
    b.create_topic(topic, partitions=6)
    rec = Records(b.bootstrap, topic, 6, topic)
    rec.produce("a", 20)
    w1 = spawn(b.bootstrap, topic, group, f"{ctx.client}-coop-1", strategy="cooperative-sticky")
    wait_balanced([w1], 6, [6], "first member")
    wait_consumed([w1], rec, "phase a")
    t_mark = now_us()
    rec.start_flow()        # records keep coming during the incremental rebalance
    rec.produce("b", 20)
    w2 = spawn(b.bootstrap, topic, group, f"{ctx.client}-coop-2", strategy="cooperative-sticky")
    a = wait_balanced([w1, w2], 6, [3, 3], "second member")
    ctx.log(f"after the second member joined: {a}")
    rec.produce("c", 8)
    rec.stop_flow()
    wait_consumed([w1, w2], rec, "phases b and c and the flow")
    e1 = assignment_events_after(w1, t_mark)
    e2 = w2.evs("assigned", "revoked")
    kept, moved = w1.owned(), w2.owned()
    assert all(e["proto"] == "COOPERATIVE" for e in w1.evs("assigned", "revoked") + e2), e1 + e2
    assert [(e["ev"], sorted(e["parts"])) for e in e1 if e["parts"]] == [("revoked", sorted(moved))], (
        f"{w1.name} after the join: {e1}; want one incremental revoke of {sorted(moved)}")
    assert [(e["ev"], sorted(e["parts"])) for e in e2 if e["parts"]] == [("assigned", sorted(moved))], (
        f"{w2.name}: {e2}; want one incremental assignment of {sorted(moved)}")
    # The kept partitions were never revoked: w1 consumed them continuously.
    assert kept and not any(set(e["parts"]) & kept for e in w1.evs("revoked")), w1.evs("revoked")
    w2.terminate()
    w1.terminate()
    check_history([w1, w2], rec, label="cooperative-sticky", retried_commits=True)


SCENARIOS = {
    "rebalance": scenario_rebalance,
    "restart": scenario_restart,
    "two_groups": scenario_two_groups,
    "static": scenario_static,
    "cooperative": scenario_cooperative,
}


class ScenarioRunner:
    """Runs scenarios in threads; result(name) waits for one and raises its
    failure with the scenario's log.

    Broker stops and starts are handed to the main thread (on_main), which
    runs them while it waits in result():
      * the harness starts the broker with PR_SET_PDEATHSIG, which fires when
        the *thread* that forked it ends, so a broker started from a
        scenario thread would be SIGKILLed when that scenario finishes;
      * conftest's health check after each test runs on the main thread and
        is not made for a broker stopped concurrently on purpose (it would
        report it as "died on its own")."""

    def __init__(self):
        self.threads, self.errors, self.ctxs, self.times = {}, {}, {}, {}
        self.calls = queue.Queue()

    def on_main(self, fn, timeout=300):
        item = {"fn": fn, "done": threading.Event()}
        self.calls.put(item)
        if not item["done"].wait(scaled(timeout)):
            raise AssertionError(f"the main thread did not run {fn} within {scaled(timeout)}s")
        if "error" in item:
            raise item["error"]
        return item.get("result")

    def _serve(self, th, deadline):
        while th.is_alive() and time.monotonic() < deadline:
            try:
                item = self.calls.get(timeout=POLL)
            except queue.Empty:
                continue
            try:
                item["result"] = item["fn"]()
            except BaseException as e:  # noqa: BLE001 - raised in the scenario
                item["error"] = e
            item["done"].set()

    def start(self, name, ctx):
        self.ctxs[name] = ctx
        fn = SCENARIOS[name]

        def body():
            t0 = time.monotonic()
            try:
                fn(ctx)
            except BaseException as e:  # noqa: BLE001 - reported by result()
                self.errors[name] = (e, traceback.format_exc())
            finally:
                self.times[name] = time.monotonic() - t0

        th = threading.Thread(target=body, name=f"scenario-{name}", daemon=True)
        self.threads[name] = th
        th.start()

    def result(self, name, timeout=400):
        th = self.threads[name]
        self._serve(th, time.monotonic() + scaled(timeout))
        ctx = self.ctxs[name]
        log = "\n".join(ctx.lines)
        if th.is_alive():
            raise AssertionError(f"scenario {name} still running after {scaled(timeout)}s\n{log}")
        if name in self.errors:
            e, tb = self.errors[name]
            raise AssertionError(f"scenario {name} failed after {self.times[name]:.1f}s: {e}\n"
                                 f"--- scenario log ---\n{log}\n--- traceback ---\n{tb}")
        print(f"scenario {name}: {self.times[name]:.1f}s\n{log}")
        return self.times[name]

    def wait_all(self, timeout=30):
        for th in self.threads.values():
            self._serve(th, time.monotonic() + timeout)


BROKER_CONF = {"group.initial.rebalance.delay.ms": 300}


def run_scenarios(request, broker_factory, spawn, client):
    """Body of a client module's `scenarios` fixture: starts every scenario
    the module's collected (and not skipped) tests ask for, concurrently —
    restart on a broker of its own, the rest on one shared broker — yields
    the runner, and cleans up the workers afterwards."""
    wanted = [it.originalname[len("test_"):] for it in request.session.items
              if it.module is request.module and it.originalname[len("test_"):] in SCENARIOS
              and not it.get_closest_marker("skip")]
    runner = ScenarioRunner()
    try:
        shared = broker_factory(BROKER_CONF, name="groups") if set(wanted) - {"restart"} else None
        for name in wanted:
            b = broker_factory(BROKER_CONF, name="restart") if name == "restart" else shared
            runner.start(name, Ctx(name, b, spawn, client, runner))
        yield runner
    finally:
        spawn.cleanup()
        runner.wait_all()
