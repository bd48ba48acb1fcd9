"""Bad input over raw sockets while a well-behaved client keeps working.

One broker (message.max.bytes=10000) for the module; a confluent-kafka
producer + consumer thread ("good client") runs against it the whole time.
Each test sends one kind of bad input and checks:

  - a malformed frame or request: the broker closes that connection within a
    few seconds (recv returns b'' or the connection is reset) without
    answering, and stays alive;
  - a well-formed Produce carrying a bad record batch: the connection stays
    open and the partition's error code says what is wrong (CORRUPT_MESSAGE
    2, INVALID_RECORD 87, MESSAGE_TOO_LARGE 10), and nothing is stored.

The last test stops the good client and checks that every one of its
operations succeeded and every record it wrote reads back intact.
"""

import random
import socket
import struct
import threading
import time

import pytest

import faultlib
import harness
import kwire
from harness import scaled
from kwire import Conn, Writer, uvarint

CORRUPT_MESSAGE = 2
MESSAGE_TOO_LARGE = 10
INVALID_RECORD = 87
MAX_MESSAGE = 10000
CLOSE_WITHIN = 5.0  # seconds, before scaling


# ---------------------------------------------------------------- the good client

class GoodClient:
    """Produces small batches (acks=all), waits for each, lists topics, and
    reads its topic back from where it left off, in a loop, recording every
    failure."""

    def __init__(self, bootstrap, topic):
        from confluent_kafka import Consumer, Producer, TopicPartition
        self.bootstrap, self.topic = bootstrap, topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 1,
                                  "batch.size": 4000, "enable.idempotence": False,
                                  "message.timeout.ms": int(scaled(20000))})
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": harness.unique_name("good"),
                                  "enable.auto.commit": False, "check.crcs": True,
                                  "fetch.wait.max.ms": 50})
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.admin = harness.admin_client(bootstrap)
        self.delivered = []      # values acknowledged, in order
        self.consumed = []       # values read back, in order
        self.failures = []       # descriptions of every failed operation
        self.rounds = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _on_delivery(self, err, msg):
        if err is not None:
            self.failures.append(f"delivery: {err}")
        else:
            self.delivered.append(msg.value())

    def _run(self):
        seq = 0
        try:
            while not self._stop.is_set():
                for _ in range(20):
                    self.producer.produce(self.topic, value=faultlib.value_of("good", 0, seq, 40),
                                          partition=0, on_delivery=self._on_delivery)
                    seq += 1
                left = self.producer.flush(scaled(20))
                if left:
                    self.failures.append(f"round {self.rounds}: {left} records not delivered")
                md = self.admin.list_topics(timeout=scaled(10))
                if self.topic not in md.topics:
                    self.failures.append(f"round {self.rounds}: topic missing from metadata")
                self._consume(time.monotonic() + scaled(10))
                self.rounds += 1
                time.sleep(0.05)
        except Exception as e:
            self.failures.append(f"exception: {e!r}")

    def _consume(self, deadline):
        while len(self.consumed) < len(self.delivered) and time.monotonic() < deadline:
            for m in self.consumer.consume(100, 0.2):
                if m.error():
                    self.failures.append(f"consume: {m.error()}")
                else:
                    self.consumed.append(m.value())
        if len(self.consumed) < len(self.delivered):
            self.failures.append(f"consumed {len(self.consumed)} of {len(self.delivered)} in time")

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(scaled(60))
        alive = self._t.is_alive()
        self.consumer.close()
        return not alive


@pytest.fixture(scope="module")
def env(_module_broker_factory):
    b = _module_broker_factory(name="bad-input", message_max_bytes=MAX_MESSAGE)
    good_topic = harness.unique_name("good")
    bad_topic = harness.unique_name("bad")
    b.create_topic(good_topic, partitions=1)
    b.create_topic(bad_topic, partitions=1)
    good = GoodClient(b.bootstrap, good_topic).start()
    deadline = time.monotonic() + scaled(30)
    while good.rounds < 1 and not good.failures and time.monotonic() < deadline:
        time.sleep(0.05)
    assert good.rounds >= 1, f"good client did not complete a round: {good.failures}"
    yield b, good, bad_topic
    good.stop()


def alive(b):
    """The broker runs and answers a fresh connection."""
    assert b.running, "broker died\n" + b.log_tail(40)
    keys = harness.api_versions(b.bootstrap, timeout=scaled(10))
    assert 0 in keys


def expect_closed(b, payload, what, send_timeout=10.0):
    """Sends payload on a new connection; asserts the broker closes it
    without an answer within CLOSE_WITHIN s and is still alive."""
    with Conn(b.port, timeout=scaled(send_timeout)) as c:
        try:
            c.send(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending: fine
        closed, got = c.wait_closed(scaled(CLOSE_WITHIN))
    assert closed, f"{what}: connection still open after {scaled(CLOSE_WITHIN)}s"
    assert got == b"", f"{what}: broker answered {got[:64].hex()} before closing"
    alive(b)


def header(api_key, version, corr=1, client_id="bad-input", flexible=False):
    return kwire.request_header(api_key, version, corr, 2 if flexible else 1, client_id)


# ---------------------------------------------------------------- framing

def test_size_0x7fffffff(env):
    b, _, _ = env
    expect_closed(b, struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 64, "size 0x7fffffff")


@pytest.mark.parametrize("size", [-1, -8, -0x80000000])
def test_negative_size(env, size):
    b, _, _ = env
    expect_closed(b, struct.pack(">i", size) + b"\x00" * 16, f"size {size}")


@pytest.mark.parametrize("size", range(8))
def test_tiny_size(env, size):
    b, _, _ = env
    expect_closed(b, struct.pack(">i", size) + header(18, 0)[:size], f"size {size}")


def test_truncated_header_client_id_length(env):
    """Size 9: key, version, correlation id, then 1 byte of the 2-byte client
    id length."""
    b, _, _ = env
    payload = struct.pack(">hhi", 3, 1, 5) + b"\x00"
    expect_closed(b, kwire.frame(payload), "truncated header")


def test_client_id_beyond_frame(env):
    b, _, _ = env
    payload = struct.pack(">hhih", 3, 1, 5, 200) + b"abc"
    expect_closed(b, kwire.frame(payload), "client id longer than the frame")


def test_flexible_header_bad_tag_section(env):
    """Metadata v9 (header v2) whose header tagged-field count is an invalid
    varint (6 bytes of 0xff)."""
    b, _, _ = env
    payload = header(3, 9, flexible=False) + b"\xff" * 6 + b"\x01\x00\x00"
    expect_closed(b, kwire.frame(payload), "header v2 with a bad tag varint")


# ---------------------------------------------------------------- requests

def test_unknown_api_key(env):
    b, _, _ = env
    expect_closed(b, kwire.frame(header(999, 0)), "API key 999")


@pytest.mark.parametrize("version", [99, -1, 0x7FFF])
def test_produce_version_out_of_range(env, version):
    b, _, bad = env
    body = kwire.produce_v3(bad, {0: kwire.build_batch([b"x"])})
    expect_closed(b, kwire.frame(header(0, version) + body), f"Produce v{version}")


def test_metadata_topic_count_0x7fffffff(env):
    b, _, _ = env
    body = struct.pack(">i", 0x7FFFFFFF) + struct.pack(">h", 1) + b"t"
    expect_closed(b, kwire.frame(header(3, 1) + body), "Metadata v1 count 0x7fffffff")


def test_metadata_string_beyond_frame(env):
    b, _, _ = env
    body = struct.pack(">ih", 1, 0x7FFF) + b"abc"
    expect_closed(b, kwire.frame(header(3, 1) + body), "topic name longer than the frame")


def test_produce_string_beyond_frame(env):
    b, _, _ = env
    body = struct.pack(">h", 5000) + b"txn"   # TransactionalId length past the end
    expect_closed(b, kwire.frame(header(0, 3) + body), "TransactionalId longer than the frame")


def test_produce_records_length_beyond_frame(env):
    b, _, bad = env
    batch = kwire.build_batch([b"v"])
    w = Writer().string(None).i16(-1).i32(1000)
    w.i32(1).string(bad).i32(1).i32(0).i32(len(batch) + 5000).raw(batch)
    expect_closed(b, kwire.frame(header(0, 3) + w.bytes()), "records length past the end")


def test_invalid_varint_api_versions_v3(env):
    b, _, _ = env
    body = b"\xff" * 6   # ClientSoftwareName compact-string length: 6-byte varint
    expect_closed(b, kwire.frame(header(18, 3, flexible=True) + body),
                  "ApiVersions v3 with an invalid varint")


def test_invalid_varint_metadata_v9(env):
    b, _, _ = env
    body = b"\xff" * 6 + b"\x00\x00\x00"   # Topics compact-array length
    expect_closed(b, kwire.frame(header(3, 9, flexible=True) + body),
                  "Metadata v9 with an invalid varint")


def test_metadata_v9_huge_compact_array(env):
    """A valid 5-byte varint claiming ~2^32 entries."""
    b, _, _ = env
    body = uvarint(0xFFFFFFFF) + b"\x00"
    expect_closed(b, kwire.frame(header(3, 9, flexible=True) + body),
                  "Metadata v9 with a huge array count")


def test_trailing_garbage_after_request(env):
    """A complete Metadata v1 request followed by 32 extra bytes inside the
    same frame. The broker may answer (ignoring them) or close; either way
    it must stay alive."""
    b, _, _ = env
    with Conn(b.port, timeout=scaled(10)) as c:
        c.send(kwire.frame(header(3, 1) + kwire.metadata_v1([]) + b"\x00" * 32))
        try:
            c.recv_frame(scaled(CLOSE_WITHIN))   # an answer, or
        except (ConnectionError, OSError):       # a close (or reset)
            pass
    alive(b)


def test_random_garbage_framed(env):
    """1 MB of random bytes behind a size prefix that matches: the broker
    reads the whole frame and must reject its header."""
    b, _, _ = env
    rng = random.Random(20240611)
    while True:  # an API key nobody serves, so the answer must be a close
        junk = rng.randbytes(1 << 20)
        if not 0 <= struct.unpack_from(">h", junk, 0)[0] < 100:
            break
    expect_closed(b, kwire.frame(bytes(junk)), "1 MB random frame")


@pytest.mark.parametrize("api_key,version,flexible", [
    (0, 3, False), (0, 9, True), (1, 4, False), (1, 12, True), (3, 1, False), (3, 12, True),
    (18, 3, True), (19, 4, False), (2, 1, False)])
def test_random_body_behind_valid_header(env, api_key, version, flexible):
    """A valid header for a served API and 64 KB of random body: the broker
    closes the connection (or, if the random bytes happen to parse, answers);
    either way it stays alive."""
    b, _, _ = env
    rng = random.Random(api_key * 1000 + version)
    body = rng.randbytes(65536)
    with Conn(b.port, timeout=scaled(10)) as c:
        try:
            c.send(kwire.frame(header(api_key, version, flexible=flexible) + body))
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed, _ = c.wait_closed(scaled(CLOSE_WITHIN))
    alive(b)


def test_random_garbage_unframed(env):
    """Raw random bytes straight onto the socket (the first four are taken as
    a size). Whatever the size says, the broker must stay alive; when the
    size is out of range it closes at once."""
    b, _, _ = env
    rng = random.Random(7)
    for _ in range(3):
        junk = rng.randbytes(1 << 20)
        (size,) = struct.unpack_from(">i", junk, 0)
        with Conn(b.port, timeout=scaled(10)) as c:
            try:
                c.send(junk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            closed, got = c.wait_closed(scaled(2))
        if size < 8 or size > 104857600:
            assert closed, f"size {size}: connection not closed"
        alive(b)


# ---------------------------------------------------------------- bad record batches

def produce_raw(b, topic, records, corr=11):
    """Produce v3 acks=-1 on a fresh connection; returns (error_code,
    base_offset) and checks the connection is still usable afterwards."""
    with Conn(b.port, timeout=scaled(20)) as c:
        res = kwire.parse_produce_v3(c.request(0, 3, kwire.produce_v3(topic, {0: records}), corr=corr))
        body = c.request(18, 0, b"", corr=corr + 1)   # same connection still works
        assert kwire.parse_api_versions(body, 0)[0] == 0
    return res[(topic, 0)]


def high_watermark(b, topic):
    with Conn(b.port, timeout=scaled(20)) as c:
        err, hw, _ = kwire.parse_fetch_v4(c.request(1, 4, kwire.fetch_v4(topic, 0, 0)))[(topic, 0)]
    assert err == 0
    return hw


def test_produce_bad_crc(env):
    b, _, bad = env
    batch = kwire.build_batch([b"a", b"b", b"c"], corrupt_crc=True)
    err, _ = produce_raw(b, bad, batch)
    assert err == CORRUPT_MESSAGE
    assert high_watermark(b, bad) == 0


def test_produce_flipped_record_byte(env):
    """A byte flipped inside the records (CRC no longer matches)."""
    b, _, bad = env
    batch = bytearray(kwire.build_batch([b"hello world"] * 5))
    batch[len(batch) - 7] ^= 0x40
    err, _ = produce_raw(b, bad, bytes(batch))
    assert err == CORRUPT_MESSAGE
    assert high_watermark(b, bad) == 0


@pytest.mark.parametrize("count", [12, 8, 0, -1])
def test_produce_wrong_record_count(env, count):
    b, _, bad = env
    batch = kwire.build_batch([f"v{i}".encode() for i in range(10)], records_count=count)
    err, _ = produce_raw(b, bad, batch)
    assert err in (INVALID_RECORD, CORRUPT_MESSAGE), f"records_count {count} for 10 records: error {err}"
    assert high_watermark(b, bad) == 0


def test_produce_wrong_last_offset_delta(env):
    b, _, bad = env
    batch = kwire.build_batch([b"a", b"b", b"c"], last_offset_delta=7)
    err, _ = produce_raw(b, bad, batch)
    assert err in (INVALID_RECORD, CORRUPT_MESSAGE), f"error {err}"
    assert high_watermark(b, bad) == 0


def test_produce_batch_length_past_records(env):
    """BatchLength claims more bytes than the record set holds."""
    b, _, bad = env
    batch = bytearray(kwire.build_batch([b"a", b"b"]))
    struct.pack_into(">i", batch, 8, len(batch) - 12 + 100)
    err, _ = produce_raw(b, bad, bytes(batch))
    assert err in (CORRUPT_MESSAGE, INVALID_RECORD), f"error {err}"
    assert high_watermark(b, bad) == 0


def test_produce_bad_magic(env):
    b, _, bad = env
    batch = bytearray(kwire.build_batch([b"a"]))
    batch[16] = 7
    err, _ = produce_raw(b, bad, bytes(batch))
    assert err != 0, "magic 7 accepted"
    assert high_watermark(b, bad) == 0


def test_produce_message_too_large(env):
    b, _, bad = env
    batch = kwire.build_batch([b"x" * (MAX_MESSAGE + 2000)])
    err, _ = produce_raw(b, bad, batch)
    assert err == MESSAGE_TOO_LARGE
    assert high_watermark(b, bad) == 0


def test_produce_acks0_bad_batch_closes(env):
    """acks=0 has no response to carry an error: the broker closes the
    connection (Kafka does the same), and stores nothing."""
    b, _, bad = env
    hw = high_watermark(b, bad)
    body = kwire.produce_v3(bad, {0: kwire.build_batch([b"z"], corrupt_crc=True)}, acks=0)
    expect_closed(b, kwire.frame(header(0, 3) + body), "acks=0 Produce with a bad CRC")
    assert high_watermark(b, bad) == hw


def test_produce_valid_after_bad(env):
    """The same partition still takes a good batch at offset 0."""
    b, _, bad = env
    err, base = produce_raw(b, bad, kwire.build_batch([b"ok-0", b"ok-1"]))
    assert (err, base) == (0, 0)
    assert high_watermark(b, bad) == 2
    with Conn(b.port, timeout=scaled(20)) as c:
        _, _, records = kwire.parse_fetch_v4(c.request(1, 4, kwire.fetch_v4(bad, 0, 0)))[(bad, 0)]
    assert [r[2] for bt in kwire.parse_batches(records) for r in bt["records"]] == [b"ok-0", b"ok-1"]


# ---------------------------------------------------------------- the good client

def test_zz_good_client_unaffected(env):
    b, good, _ = env
    assert good.rounds >= 2, f"good client completed only {good.rounds} rounds"
    assert good.stop(), "good client thread did not finish"
    assert good.failures == [], "good client failures:\n" + "\n".join(good.failures[:20])
    assert len(good.consumed) == len(good.delivered) > 0
    assert good.consumed == good.delivered
    for v in good.consumed:
        faultlib.check_value(v)
    alive(b)
