"""Integration-test harness: runs the real `runnel` broker as a child process.

Used through the fixtures in conftest.py (`broker`, `broker_factory`,
`module_broker`); importable on its own (`from harness import ...`) by tests
elsewhere, e.g. tests/fault.

One Broker object = one broker process at a time on one port with one data
folder. start() picks a free loopback port (kept across restarts), starts

    runnel [CONFIG_FILE] --override listeners=PLAINTEXT://127.0.0.1:PORT
                         --override log.dirs=DATA_DIR [--override k=v]...

with stdout+stderr appended to LOG_PATH, and returns once the log shows a line
containing "main: started" (READY_LINE) (or, as a fallback, a TCP connect to the port succeeds).
stop() sends SIGTERM and waits; kill9() sends SIGKILL; restart() = stop+start.
check_problems() reports a broker that died on its own and any sanitizer
report in its log; the fixtures fail the test on either.

Environment:
  RUNNEL_BIN       broker binary (default <repo>/build/runnel)
  RNL_BIN          rnl binary (default <repo>/build/rnl)
  RUNNEL_SAN=1     sanitizer build: every timeout is stretched x3
                   (also implied when the binary lives under build-san/)
  RUNNEL_TEST_TMP  root of per-test folders (default tests/integration/.tmp)
  RUNNEL_KEEP=1    keep every test folder, not only those of failing tests
"""

import ctypes
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

RUNNEL_BIN = os.environ.get("RUNNEL_BIN") or str(REPO / "build" / "runnel")
RNL_BIN = os.environ.get("RNL_BIN") or str(REPO / "build" / "rnl")
SAN = os.environ.get("RUNNEL_SAN", "") not in ("", "0") or "build-san" in RUNNEL_BIN
TIMEOUT_SCALE = 3 if SAN else 1
TMP_ROOT = Path(os.environ.get("RUNNEL_TEST_TMP") or (HERE / ".tmp"))
KEEP_ALL = os.environ.get("RUNNEL_KEEP", "") not in ("", "0")

START_TIMEOUT = 20.0   # seconds until READY_LINE, before scaling
# The line main.c logs once the listeners accept connections. Other lines
# may contain "started" (the log cleaner's, say) before that.
READY_LINE = "main: started"
STOP_TIMEOUT = 20.0    # seconds from SIGTERM to exit, before scaling
POLL = 0.02            # seconds between readiness / metadata polls

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "runtime error:",
    "LeakSanitizer",
    "ThreadSanitizer",
    "MemorySanitizer",
)


def scaled(seconds):
    """A timeout in seconds, stretched under sanitizer builds."""
    return seconds * TIMEOUT_SCALE


class BrokerError(Exception):
    pass


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # The broker must not outlive a pytest that was killed (PR_SET_PDEATHSIG=1).
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def _fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def normalize_overrides(overrides):
    """{'log_segment_bytes': 1024} -> {'log.segment.bytes': '1024'}.
    Kafka keys never contain '_', so '_' may stand for '.' in kwargs."""
    out = {}
    for k, v in (overrides or {}).items():
        out[k.replace("_", ".")] = _fmt_value(v)
    return out


_names = itertools.count()


def unique_name(prefix="t"):
    """A topic name unique within this run: prefix-<pid>-<n>-<random>."""
    prefix = re.sub(r"[^A-Za-z0-9._-]", "-", prefix)[:150]
    return f"{prefix}-{os.getpid()}-{next(_names)}-{uuid.uuid4().hex[:6]}"


def new_workdir(label):
    """A fresh folder under TMP_ROOT for one broker (data/ and runnel.log)."""
    TMP_ROOT.mkdir(parents=True, exist_ok=True)
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", label)[-80:].strip("_") or "broker"
    return Path(tempfile.mkdtemp(prefix=label + "-", dir=TMP_ROOT))


class Broker:
    """One runnel broker process (at a time) with its port, data dir and log."""

    def __init__(self, workdir, overrides=None, config_file=None, binary=None, name="broker"):
        self.name = name
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "runnel.log"
        self.binary = binary or RUNNEL_BIN
        self.rnl = RNL_BIN
        self.config_file = config_file
        self.overrides = normalize_overrides(overrides)
        self.port = None
        self.proc = None
        self.starts = 0
        self.failed_tests = []       # node ids of tests that failed while this broker ran
        self._expect_exit = True     # False while running: an exit then is a crash
        self._reported = set()       # problems already reported
        self._san_offset = 0         # log offset up to which sanitizer lines were reported
        self.data_dir.mkdir(parents=True, exist_ok=True)

    # ---- addresses ----
    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- life cycle ----
    def command(self):
        cmd = [self.binary]
        if self.config_file:
            cmd.append(str(self.config_file))
        ov = {"listeners": f"PLAINTEXT://127.0.0.1:{self.port}", "log.dirs": str(self.data_dir)}
        ov.update(self.overrides)
        for k, v in ov.items():
            cmd += ["--override", f"{k}={v}"]
        return cmd

    def start(self, extra_overrides=None, timeout=None):
        """Starts the broker and waits until it accepts connections.
        extra_overrides are merged into the broker's overrides and kept for
        later restarts. Raises BrokerError (with the log's tail) if it exits
        or is not ready within the timeout."""
        if self.running:
            raise BrokerError(f"{self.name}: already running (pid {self.pid})")
        if not os.access(self.binary, os.X_OK):
            raise BrokerError(f"broker binary {self.binary} missing or not executable "
                              "(build it with `make`, or set RUNNEL_BIN)")
        self.overrides.update(normalize_overrides(extra_overrides))
        auto_port = self.port is None
        for attempt in range(3):
            if auto_port:
                self.port = free_port()
            try:
                self._spawn_and_wait(timeout)
                return self
            except BrokerError as e:
                # Another process may have taken the port between free_port()
                # and the broker's bind(): retry on a new one.
                if auto_port and attempt < 2 and "in use" in str(e).lower():
                    continue
                raise

    def _spawn_and_wait(self, timeout):
        timeout = scaled(START_TIMEOUT if timeout is None else timeout)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        cmd = self.command()
        with open(self.log_path, "ab") as logf:
            logf.write(f"==== harness: start #{self.starts + 1}: {' '.join(cmd)}\n".encode())
            logf.flush()
            offset = logf.tell()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, env=env,
                                         cwd=str(self.workdir), preexec_fn=_die_with_parent)
        self.starts += 1
        self._expect_exit = False
        t_start = time.monotonic()
        deadline = t_start + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self._expect_exit = True
                raise BrokerError(f"{self.name}: exited with {rc} during start-up\n"
                                  + self.log_tail(40, since=offset))
            if self._log_has(READY_LINE, offset):
                return
            # Fallback for a broker that never logs "started": a successful
            # connect. Only after a grace period, so that another process
            # holding the port is not taken for the broker (which then
            # exits with "Address already in use").
            if time.monotonic() > t_start + scaled(2):
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        if self.proc.poll() is None:
                            return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                self._kill()
                raise BrokerError(f"{self.name}: not ready after {timeout:.0f}s on {self.bootstrap}\n"
                                  + self.log_tail(40, since=offset))
            time.sleep(POLL)

    def _log_has(self, needle, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return needle.encode() in f.read()
        except OSError:
            return False

    def stop(self, timeout=None):
        """SIGTERM, then waits for the exit. Returns the exit status (negative
        = killed by that signal). Raises BrokerError if the broker does not
        exit in time (it is then SIGKILLed) or exits with a failure status."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self._expect_exit = True
            return self.proc.returncode
        self._expect_exit = True
        timeout = scaled(STOP_TIMEOUT if timeout is None else timeout)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise BrokerError(f"{self.name}: still running {timeout:.0f}s after SIGTERM; killed\n"
                              + self.log_tail(20))
        if rc not in (0, -signal.SIGTERM):
            raise BrokerError(f"{self.name}: exit status {rc} after SIGTERM\n" + self.log_tail(20))
        return rc

    def kill9(self):
        """SIGKILL (no clean shutdown) and reap. Returns the exit status."""
        if self.proc is None:
            return None
        self._expect_exit = True
        return self._kill()

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def restart(self, extra_overrides=None, timeout=None):
        """stop() then start() on the same port and data dir."""
        self.stop()
        return self.start(extra_overrides, timeout)

    # ---- diagnostics ----
    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                data = f.read()
        except OSError:
            return "(no log)"
        lines = data.decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])

    def check_problems(self):
        """New problems since the last call: the broker died on its own, or
        its log holds a sanitizer report. Returns a list of strings."""
        out = []
        if self.proc is not None and not self._expect_exit and self.proc.poll() is not None:
            msg = f"{self.name}: broker died on its own (exit status {self.proc.returncode})"
            self._expect_exit = True
            out.append(msg + "\n" + self.log_tail(40))
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._san_offset)
                data = f.read()
        except OSError:
            data = b""
        text = data.decode("utf-8", "replace")
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if any(m in line for m in SANITIZER_MARKERS):
                out.append(f"{self.name}: sanitizer report in {self.log_path}:\n"
                           + "\n".join(lines[i:i + 40]))
                break
        self._san_offset += len(data)
        out = [p for p in out if p not in self._reported]
        self._reported.update(out)
        return out

    def describe(self):
        state = (f"running, pid {self.pid}" if self.running
                 else f"exited {self.proc.returncode}" if self.proc else "never started")
        return (f"broker {self.name} at {self.bootstrap if self.port else '-'} ({state})\n"
                f"data dir: {self.data_dir}\nlog:      {self.log_path}\n"
                f"--- last lines of the log ---\n{self.log_tail(30)}")

    # ---- client-side helpers (through the real broker) ----
    def admin(self, **conf):
        return admin_client(self.bootstrap, **conf)

    def create_topic(self, name, partitions=1, replication_factor=1, config=None, timeout=20):
        return create_topic(self.bootstrap, name, partitions, replication_factor, config, timeout)

    def wait_topic(self, name, partitions, timeout=20):
        return wait_for_topic(self.bootstrap, name, partitions, timeout)


# ---- topic helpers (confluent-kafka AdminClient against any bootstrap) ----

def admin_client(bootstrap, **conf):
    from confluent_kafka.admin import AdminClient
    c = {"bootstrap.servers": bootstrap, "socket.timeout.ms": int(scaled(10000))}
    c.update(conf)
    return AdminClient(c)


def create_topic(bootstrap, name, partitions=1, replication_factor=1, config=None, timeout=20):
    """Creates a topic through CreateTopics and waits until Metadata shows all
    its partitions with a leader. Raises on any error."""
    from confluent_kafka.admin import NewTopic
    admin = admin_client(bootstrap)
    nt = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                  config={k: str(v) for k, v in (config or {}).items()})
    futs = admin.create_topics([nt], operation_timeout=scaled(timeout),
                               request_timeout=scaled(timeout))
    futs[name].result(timeout=scaled(timeout))
    return wait_for_topic(bootstrap, name, partitions, timeout, admin=admin)


def wait_for_topic(bootstrap, name, partitions, timeout=20, admin=None):
    """Polls Metadata (all topics, so nothing is auto-created) until `name`
    has exactly `partitions` partitions, each with a leader and no error.
    Returns the TopicMetadata; raises TimeoutError with the last state."""
    admin = admin or admin_client(bootstrap)
    deadline = time.monotonic() + scaled(timeout)
    last = "no metadata"
    while True:
        try:
            md = admin.list_topics(timeout=scaled(5))
            t = md.topics.get(name)
            if t is None:
                last = f"topic absent (topics: {sorted(md.topics)})"
            elif t.error is not None:
                last = f"topic error {t.error}"
            elif len(t.partitions) != partitions:
                last = f"{len(t.partitions)} partitions"
            elif any(p.error is not None or p.leader < 0 for p in t.partitions.values()):
                last = "partitions without leader: " + ", ".join(
                    f"{p.id}:{p.leader}:{p.error}" for p in t.partitions.values())
            else:
                return t
        except Exception as e:  # KafkaException while the broker settles
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name!r} not ready with {partitions} partitions "
                               f"on {bootstrap} after {scaled(timeout)}s: {last}")
        time.sleep(POLL * 5)


def wait_for_topic_absent(bootstrap, name, timeout=20):
    admin = admin_client(bootstrap)
    deadline = time.monotonic() + scaled(timeout)
    while True:
        md = admin.list_topics(timeout=scaled(5))
        if name not in md.topics:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name!r} still listed on {bootstrap} after {scaled(timeout)}s")
        time.sleep(POLL * 5)


# ---- subprocess helper ----

def run(cmd, timeout=60, input=None, check=True, **kw):
    """subprocess.run with bytes in/out, a (scaled) timeout that kills the
    child, and an error that shows the command's stderr."""
    try:
        cp = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=scaled(timeout), **kw)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"timed out after {scaled(timeout)}s: {' '.join(map(str, cmd))}\n"
                             f"stderr: {(e.stderr or b'')[-3000:].decode('utf-8', 'replace')}")
    if check and cp.returncode != 0:
        raise AssertionError(f"exit status {cp.returncode}: {' '.join(map(str, cmd))}\n"
                             f"stderr: {cp.stderr[-3000:].decode('utf-8', 'replace')}")
    return cp


def remove_workdir(path):
    shutil.rmtree(path, ignore_errors=True)


# ---- raw protocol probe ----

def api_versions(bootstrap, timeout=5.0):
    """Sends ApiVersions v0 over a plain socket (no client library) and
    returns {api_key: (min_version, max_version)}. Raises on a short or
    malformed answer or a non-zero error code."""
    import struct
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"runnel-harness"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=scaled(timeout)) as s:
        s.sendall(struct.pack(">i", len(body)) + body)

        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise BrokerError(f"ApiVersions: connection closed after {len(buf)}/{n} bytes")
                buf += chunk
            return buf

        (size,) = struct.unpack(">i", read(4))
        if not 10 <= size <= 1 << 20:
            raise BrokerError(f"ApiVersions: bad response size {size}")
        resp = read(size)
    corr, err, n = struct.unpack_from(">ihi", resp, 0)
    if corr != 7:
        raise BrokerError(f"ApiVersions: correlation id {corr}, sent 7")
    if err != 0:
        raise BrokerError(f"ApiVersions: error code {err}")
    if len(resp) != 10 + 6 * n:
        raise BrokerError(f"ApiVersions v0: {len(resp)} bytes for {n} keys")
    out = {}
    for i in range(n):
        key, lo, hi = struct.unpack_from(">hhh", resp, 10 + 6 * i)
        out[key] = (lo, hi)
    return out


# ---- reading back through a second client ----

def consume_assigned(bootstrap, topic, counts, timeout=60):
    """Reads partitions 0..len(counts)-1 of topic from the beginning with a
    confluent-kafka Consumer using assign() (group.id set because the API
    wants one; no subscribe, no commits) until each partition is at its end
    and holds counts[p] records. Returns {p: [Message]} in offset order.
    Asserts no consumer errors and that the watermarks are (0, counts[p])."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
    nparts = len(counts)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("assign-only"),
                  "enable.auto.commit": False, "enable.auto.offset.store": False,
                  "enable.partition.eof": True, "fetch.wait.max.ms": 100})
    got = {p: [] for p in range(nparts)}
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(nparts)])
        eof = set()
        deadline = time.monotonic() + scaled(timeout)
        while len(eof) < nparts and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if len(got[m.partition()]) >= counts[m.partition()]:
                        eof.add(m.partition())
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            got[m.partition()].append(m)
        assert len(eof) == nparts, (f"partitions at their end: {sorted(eof)}; records read: "
                                    + str({p: len(v) for p, v in got.items()}))
        for p in range(nparts):
            wm = c.get_watermark_offsets(TopicPartition(topic, p), timeout=scaled(20))
            assert wm == (0, counts[p]), f"partition {p}: watermarks {wm}, want (0, {counts[p]})"
    finally:
        c.close()
    return got
