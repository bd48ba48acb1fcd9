"""A small Kafka wire encoder/decoder for the fault tests (raw sockets, no
client library), written from the protocol facts in /work/shared/PROTOCOL.md.

What is here:
  crc32c(data)                     CRC-32C (Castagnoli), table-driven
  Writer / Reader                  big-endian ints, strings, arrays, (u)varints
  request_frame(...)               size prefix + request header v1 or v2 + body
  build_batch(values, ...)         an uncompressed record batch v2
  parse_batches(data)              record batches back into dicts (CRC checked)
  produce_v3(...), fetch_v4(...), metadata_v0/v1(...), api_versions(...)
                                   request bodies and response parsers
  Conn                             a socket with send_frame / recv_frame /
                                   wait_closed

All integers on the wire are big-endian. Record-level varints are zig-zag
(protobuf style); the flexible-version lengths are unsigned varints.
"""

import socket
import struct
import time

# ---------------------------------------------------------------- CRC-32C

_CRC32C_POLY = 0x82F63B78  # reflected Castagnoli polynomial


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _CRC32C_POLY if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    """CRC-32C of data (bytes-like); crc continues a previous value."""
    c = crc ^ 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in bytes(data):
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


# ---------------------------------------------------------------- varints

def uvarint(n):
    """Unsigned LEB128 varint."""
    if n < 0:
        raise ValueError("uvarint of a negative number")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    """Zig-zag signed varint (records use these)."""
    return uvarint((n << 1) ^ (n >> 63))


class DecodeError(Exception):
    pass


# ---------------------------------------------------------------- writer

class Writer:
    def __init__(self):
        self.b = bytearray()

    def i8(self, v):
        self.b += struct.pack(">b", v); return self

    def i16(self, v):
        self.b += struct.pack(">h", v); return self

    def i32(self, v):
        self.b += struct.pack(">i", v); return self

    def u32(self, v):
        self.b += struct.pack(">I", v); return self

    def i64(self, v):
        self.b += struct.pack(">q", v); return self

    def raw(self, data):
        self.b += data; return self

    def string(self, s):
        """int16-length string; None is null (-1)."""
        if s is None:
            return self.i16(-1)
        s = s.encode() if isinstance(s, str) else s
        return self.i16(len(s)).raw(s)

    def compact_string(self, s):
        if s is None:
            return self.raw(uvarint(0))
        s = s.encode() if isinstance(s, str) else s
        return self.raw(uvarint(len(s) + 1)).raw(s)

    def bytes32(self, data):
        """int32-length bytes (records); None is null."""
        if data is None:
            return self.i32(-1)
        return self.i32(len(data)).raw(data)

    def array(self, items, fn):
        """int32-count array; None is null (-1)."""
        if items is None:
            return self.i32(-1)
        self.i32(len(items))
        for it in items:
            fn(self, it)
        return self

    def compact_array(self, items, fn):
        if items is None:
            return self.raw(uvarint(0))
        self.raw(uvarint(len(items) + 1))
        for it in items:
            fn(self, it)
        return self

    def tags(self):
        """An empty tagged-field section."""
        return self.raw(uvarint(0))

    def bytes(self):
        return bytes(self.b)


# ---------------------------------------------------------------- reader

class Reader:
    def __init__(self, data, pos=0):
        self.d = bytes(data)
        self.p = pos

    @property
    def remaining(self):
        return len(self.d) - self.p

    def _take(self, n):
        if n < 0 or self.p + n > len(self.d):
            raise DecodeError(f"need {n} bytes at {self.p}, have {len(self.d) - self.p}")
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def _unpack(self, fmt, n):
        return struct.unpack(fmt, self._take(n))[0]

    def i8(self):
        return self._unpack(">b", 1)

    def i16(self):
        return self._unpack(">h", 2)

    def i32(self):
        return self._unpack(">i", 4)

    def u32(self):
        return self._unpack(">I", 4)

    def i64(self):
        return self._unpack(">q", 8)

    def uvarint(self):
        shift = n = 0
        for _ in range(10):
            b = self._take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
        raise DecodeError("varint too long")

    def varint(self):
        z = self.uvarint()
        return (z >> 1) ^ -(z & 1)

    def string(self):
        n = self.i16()
        return None if n < 0 else self._take(n).decode("utf-8", "replace")

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self._take(n - 1).decode("utf-8", "replace")

    def bytes32(self):
        n = self.i32()
        return None if n < 0 else self._take(n)

    def compact_bytes(self):
        n = self.uvarint()
        return None if n == 0 else self._take(n - 1)

    def array(self, fn):
        n = self.i32()
        if n < 0:
            return None
        if n > self.remaining:
            raise DecodeError(f"array count {n} beyond {self.remaining} bytes")
        return [fn(self) for _ in range(n)]

    def compact_array(self, fn):
        n = self.uvarint()
        if n == 0:
            return None
        if n - 1 > self.remaining:
            raise DecodeError(f"array count {n - 1} beyond {self.remaining} bytes")
        return [fn(self) for _ in range(n - 1)]

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self._take(self.uvarint())

    def rest(self):
        return self._take(self.remaining)

    def done(self):
        if self.remaining:
            raise DecodeError(f"{self.remaining} bytes left over")


# ---------------------------------------------------------------- framing

CLIENT_ID = "runnel-fault"


def request_header(api_key, version, corr, header_version, client_id=CLIENT_ID):
    """Request header v1 (key, version, correlation id, client id) or v2
    (v1 + an empty tagged-field section). The client id stays an int16
    string even in v2 (PROTOCOL.md §3.1)."""
    w = Writer().i16(api_key).i16(version).i32(corr).string(client_id)
    if header_version >= 2:
        w.tags()
    return w.bytes()


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def request_frame(api_key, version, corr, body, flexible=False, client_id=CLIENT_ID):
    return frame(request_header(api_key, version, corr, 2 if flexible else 1, client_id) + body)


# ---------------------------------------------------------------- record batch v2

BATCH_OVERHEAD = 61


def encode_record(offset_delta, value, key=None, ts_delta=0, headers=()):
    body = bytearray()
    body += b"\x00"                       # attributes (unused)
    body += varint(ts_delta)
    body += varint(offset_delta)
    if key is None:
        body += varint(-1)
    else:
        body += varint(len(key)) + key
    if value is None:
        body += varint(-1)
    else:
        body += varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        hk = hk.encode() if isinstance(hk, str) else hk
        body += varint(len(hk)) + hk
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def build_batch(values, keys=None, base_offset=0, base_ts=None, records_count=None,
                last_offset_delta=None, attributes=0, producer_id=-1, producer_epoch=-1,
                base_sequence=-1, corrupt_crc=False):
    """An uncompressed record batch v2 holding one record per value.
    records_count / last_offset_delta override the honest values (to build
    inconsistent batches); corrupt_crc stores a wrong CRC."""
    if base_ts is None:
        base_ts = int(time.time() * 1000)
    keys = keys or [None] * len(values)
    recs = b"".join(encode_record(i, v, keys[i]) for i, v in enumerate(values))
    n = len(values)
    lod = n - 1 if last_offset_delta is None else last_offset_delta
    cnt = n if records_count is None else records_count
    after_crc = (Writer().i16(attributes).i32(lod).i64(base_ts).i64(base_ts)
                 .i64(producer_id).i16(producer_epoch).i32(base_sequence).i32(cnt)
                 .bytes() + recs)
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0x5A5A5A5A
    # BatchLength counts everything after itself: epoch(4) magic(1) crc(4) + rest
    blen = 4 + 1 + 4 + len(after_crc)
    return (Writer().i64(base_offset).i32(blen).i32(-1).i8(2).u32(crc).bytes() + after_crc)


def parse_batches(data, check_crc=True):
    """Splits stored/fetched bytes into batches. Returns a list of dicts
    (base_offset, last_offset, count, records=[(offset, key, value)], pos,
    size). A trailing partial batch is ignored (a fetch may end inside one)."""
    out = []
    pos = 0
    data = bytes(data)
    while len(data) - pos >= 12 + 49:
        base, blen = struct.unpack_from(">qi", data, pos)
        if blen < 49 or pos + 12 + blen > len(data):
            break
        b = data[pos:pos + 12 + blen]
        magic = b[16]
        if magic != 2:
            raise DecodeError(f"batch at {pos}: magic {magic}")
        (crc,) = struct.unpack_from(">I", b, 17)
        if check_crc and crc32c(b[21:]) != crc:
            raise DecodeError(f"batch at {pos} (base offset {base}): CRC mismatch")
        attrs, lod, bts, mts, pid, pep, bseq, cnt = struct.unpack_from(">hiqqqhii", b, 21)
        recs = []
        if attrs & 0x07 == 0:
            r = Reader(b, 61)
            for _ in range(cnt):
                ln = r.varint()
                end = r.p + ln
                r.i8()
                tsd = r.varint()
                od = r.varint()
                kl = r.varint()
                key = None if kl < 0 else r._take(kl)
                vl = r.varint()
                val = None if vl < 0 else r._take(vl)
                for _ in range(r.varint()):
                    hk = r.varint(); r._take(hk)
                    hv = r.varint()
                    if hv >= 0:
                        r._take(hv)
                if r.p != end:
                    raise DecodeError(f"batch at {pos}: record length mismatch")
                recs.append((base + od, key, val, bts + tsd))
        out.append(dict(base_offset=base, last_offset=base + lod, count=cnt, attributes=attrs,
                        records=recs, pos=pos, size=12 + blen))
        pos += 12 + blen
    return out


# ---------------------------------------------------------------- requests

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA, API_API_VERSIONS = 0, 1, 2, 3, 18
API_CREATE_TOPICS = 19


def produce_v3(topic, partition_records, acks=-1, timeout_ms=10000, transactional_id=None):
    """Produce v3 body. partition_records: {partition: record-set bytes}."""
    w = Writer().string(transactional_id).i16(acks).i32(timeout_ms)
    w.array([topic], lambda w, t: w.string(t).array(
        sorted(partition_records.items()),
        lambda w, pr: w.i32(pr[0]).bytes32(pr[1])))
    return w.bytes()


def parse_produce_v3(body):
    """-> {(topic, partition): (error_code, base_offset)}"""
    r = Reader(body)
    out = {}

    def part(r, topic):
        idx, err, base, _lat = r.i32(), r.i16(), r.i64(), r.i64()
        out[(topic, idx)] = (err, base)

    def topic(r):
        name = r.string()
        r.array(lambda r: part(r, name))

    r.array(topic)
    r.i32()  # throttle
    r.done()
    return out


def fetch_v4(topic, partition, offset, max_bytes=1 << 20, max_wait_ms=100, min_bytes=1):
    w = Writer().i32(-1).i32(max_wait_ms).i32(min_bytes).i32(max_bytes).i8(0)
    w.array([topic], lambda w, t: w.string(t).array(
        [partition], lambda w, p: w.i32(p).i64(offset).i32(max_bytes)))
    return w.bytes()


def parse_fetch_v4(body):
    """-> {(topic, partition): (error_code, high_watermark, records bytes)}"""
    r = Reader(body)
    r.i32()  # throttle
    out = {}

    def part(r, topic):
        idx, err, hw, _lso = r.i32(), r.i16(), r.i64(), r.i64()
        r.array(lambda r: (r.i64(), r.i64()))
        out[(topic, idx)] = (err, hw, r.bytes32() or b"")

    def topic(r):
        name = r.string()
        r.array(lambda r: part(r, name))

    r.array(topic)
    r.done()
    return out


def metadata_v0(topics):
    return Writer().array(list(topics), lambda w, t: w.string(t)).bytes()


def metadata_v1(topics):
    """topics None = all topics (null array), [] = none."""
    return Writer().array(None if topics is None else list(topics),
                          lambda w, t: w.string(t)).bytes()


def parse_metadata(body, version):
    """Metadata v0/v1 response -> {'brokers': [...], 'topics': {name: (err, [partitions])}}"""
    r = Reader(body)

    def broker(r):
        b = (r.i32(), r.string(), r.i32())
        if version >= 1:
            r.string()  # rack
        return b

    brokers = r.array(broker)
    if version >= 1:
        r.i32()  # controller id
    topics = {}

    def part(r):
        err, idx, leader = r.i16(), r.i32(), r.i32()
        r.array(lambda r: r.i32())
        r.array(lambda r: r.i32())
        return (idx, err, leader)

    def topic(r):
        err, name = r.i16(), r.string()
        if version >= 1:
            r.i8()  # is_internal
        topics[name] = (err, r.array(part))

    r.array(topic)
    r.done()
    return {"brokers": brokers, "topics": topics}


def api_versions_body(version):
    if version >= 3:
        return (Writer().compact_string("runnel-fault-tests").compact_string("1.0")
                .tags().bytes())
    return b""


def parse_api_versions(body, version):
    """-> (error_code, {key: (min, max)}, throttle or None). The response
    header is always v0 (the caller strips the correlation id)."""
    r = Reader(body)
    err = r.i16()
    if version >= 3:
        def key(r):
            k = (r.i16(), r.i16(), r.i16())
            r.skip_tags()
            return k
        keys = r.compact_array(key)
        throttle = r.i32()
        r.skip_tags()
    else:
        keys = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
        throttle = r.i32() if version >= 1 else None
    r.done()
    return err, {k: (lo, hi) for k, lo, hi in keys or []}, throttle


# ---------------------------------------------------------------- connection

class Conn:
    """One TCP connection to the broker."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.s.sendall(data)

    def _read(self, n, deadline):
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"read {len(buf)}/{n} bytes")
            self.s.settimeout(left)
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buf)}/{n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self, timeout=None):
        """One response frame (without the size prefix)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        (size,) = struct.unpack(">i", self._read(4, deadline))
        if size < 4 or size > 200 << 20:
            raise DecodeError(f"response size {size}")
        return self._read(size, deadline)

    def request(self, api_key, version, body, corr=1, flexible=False, resp_header_v1=None,
                timeout=None):
        """Sends one request; returns the response body after checking the
        correlation id (and skipping response header v1's tags when the
        response header is v1: flexible and not ApiVersions)."""
        self.send(request_frame(api_key, version, corr, body, flexible))
        resp = self.recv_frame(timeout)
        (rcorr,) = struct.unpack_from(">i", resp, 0)
        if rcorr != corr:
            raise DecodeError(f"correlation id {rcorr}, sent {corr}")
        if resp_header_v1 is None:
            resp_header_v1 = flexible and api_key != API_API_VERSIONS
        r = Reader(resp, 4)
        if resp_header_v1:
            r.skip_tags()
        return r.rest()

    def wait_closed(self, timeout):
        """Reads until the peer closes. Returns (closed, bytes read): closed
        is True on EOF or a reset within timeout."""
        deadline = time.monotonic() + timeout
        got = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, bytes(got)
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return False, bytes(got)
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
                return True, bytes(got)
            if not chunk:
                return True, bytes(got)
            got += chunk


# ---------------------------------------------------------------- classic group APIs
# (FindCoordinator 10, JoinGroup 11, Heartbeat 12, LeaveGroup 13, SyncGroup 14;
# used by test_group_wire.py). Field layouts per version from Kafka's message
# schemas; flexible versions: FindCoordinator v3+, JoinGroup v6+, the others v4+.

API_FIND_COORDINATOR, API_JOIN_GROUP, API_HEARTBEAT, API_LEAVE_GROUP, API_SYNC_GROUP = 10, 11, 12, 13, 14

GROUP_FLEX_MIN = {API_FIND_COORDINATOR: 3, API_JOIN_GROUP: 6, API_HEARTBEAT: 4,
                  API_LEAVE_GROUP: 4, API_SYNC_GROUP: 4}


def group_api_flexible(api_key, version):
    return version >= GROUP_FLEX_MIN[api_key]


class GroupWireWriter(Writer):
    """Writer that picks classic or compact encodings by `flexible`."""

    def __init__(self, flexible):
        super().__init__()
        self.flex = flexible

    def s(self, v):
        return self.compact_string(v) if self.flex else self.string(v)

    def by(self, data):
        if not self.flex:
            return self.bytes32(data)
        if data is None:
            return self.raw(uvarint(0))
        return self.raw(uvarint(len(data) + 1)).raw(data)

    def arr(self, items, fn):
        return self.compact_array(items, fn) if self.flex else self.array(items, fn)

    def end(self):
        """End of a struct: its (empty) tagged-field section when flexible."""
        return self.tags() if self.flex else self


class GroupWireReader(Reader):
    """Reader that picks classic or compact encodings by `flexible`."""

    def __init__(self, data, flexible):
        super().__init__(data)
        self.flex = flexible

    def s(self):
        return self.compact_string() if self.flex else self.string()

    def by(self):
        return self.compact_bytes() if self.flex else self.bytes32()

    def arr(self, fn):
        return self.compact_array(fn) if self.flex else self.array(fn)

    def end(self):
        if self.flex:
            self.skip_tags()


def find_coordinator_body(version, key, key_type=0, keys=None):
    """v0: key only; v1-3: key + key_type; v4+: key_type + keys (default [key])."""
    w = GroupWireWriter(group_api_flexible(API_FIND_COORDINATOR, version))
    if version <= 3:
        w.s(key)
    if version >= 1:
        w.i8(key_type)
    if version >= 4:
        w.arr([key] if keys is None else keys, lambda w, k: w.s(k))
    return w.end().bytes()


def parse_find_coordinator(body, version):
    """-> list of dicts (key, error_code, error_message, node_id, host, port);
    v0-3 give one entry with key None."""
    r = GroupWireReader(body, group_api_flexible(API_FIND_COORDINATOR, version))
    if version >= 1:
        r.i32()  # throttle
    if version <= 3:
        d = dict(key=None, error_code=r.i16())
        d["error_message"] = r.s() if version >= 1 else None
        d.update(node_id=r.i32(), host=r.s(), port=r.i32())
        out = [d]
    else:
        def coord(r):
            d = dict(key=r.s(), node_id=r.i32(), host=r.s(), port=r.i32(), error_code=r.i16(),
                     error_message=r.s())
            r.end()
            return d
        out = r.arr(coord)
    r.end()
    r.done()
    return out


def join_group_body(version, group_id, member_id="", protocols=(("range", b"meta"),),
                    session_timeout_ms=10000, rebalance_timeout_ms=10000, protocol_type="consumer",
                    group_instance_id=None, reason=None):
    w = GroupWireWriter(group_api_flexible(API_JOIN_GROUP, version))
    w.s(group_id).i32(session_timeout_ms)
    if version >= 1:
        w.i32(rebalance_timeout_ms)
    w.s(member_id)
    if version >= 5:
        w.s(group_instance_id)
    w.s(protocol_type)
    w.arr(list(protocols), lambda w, p: w.s(p[0]).by(p[1]).end())
    if version >= 8:
        w.s(reason)
    return w.end().bytes()


def parse_join_group(body, version):
    """-> dict (error_code, generation_id, protocol_type [v7+, else absent],
    protocol_name, leader, skip_assignment [v9+], member_id, members: list of
    (member_id, group_instance_id [None before v5], metadata))."""
    r = GroupWireReader(body, group_api_flexible(API_JOIN_GROUP, version))
    d = {}
    if version >= 2:
        d["throttle_time_ms"] = r.i32()
    d["error_code"] = r.i16()
    d["generation_id"] = r.i32()
    if version >= 7:
        d["protocol_type"] = r.s()
    d["protocol_name"] = r.s()
    d["leader"] = r.s()
    if version >= 9:
        d["skip_assignment"] = r.i8() != 0
    d["member_id"] = r.s()

    def member(r):
        mid = r.s()
        inst = r.s() if version >= 5 else None
        md = r.by()
        r.end()
        return (mid, inst, md)

    d["members"] = r.arr(member)
    r.end()
    r.done()
    return d


def sync_group_body(version, group_id, generation_id, member_id, assignments=(),
                    group_instance_id=None, protocol_type="consumer", protocol_name="range"):
    """assignments: [(member_id, bytes)]."""
    w = GroupWireWriter(group_api_flexible(API_SYNC_GROUP, version))
    w.s(group_id).i32(generation_id).s(member_id)
    if version >= 3:
        w.s(group_instance_id)
    if version >= 5:
        w.s(protocol_type).s(protocol_name)
    w.arr(list(assignments), lambda w, a: w.s(a[0]).by(a[1]).end())
    return w.end().bytes()


def parse_sync_group(body, version):
    """-> dict (error_code, protocol_type/protocol_name [v5+], assignment)."""
    r = GroupWireReader(body, group_api_flexible(API_SYNC_GROUP, version))
    d = {}
    if version >= 1:
        d["throttle_time_ms"] = r.i32()
    d["error_code"] = r.i16()
    if version >= 5:
        d["protocol_type"] = r.s()
        d["protocol_name"] = r.s()
    d["assignment"] = r.by()
    r.end()
    r.done()
    return d


def heartbeat_body(version, group_id, generation_id, member_id, group_instance_id=None):
    w = GroupWireWriter(group_api_flexible(API_HEARTBEAT, version))
    w.s(group_id).i32(generation_id).s(member_id)
    if version >= 3:
        w.s(group_instance_id)
    return w.end().bytes()


def parse_heartbeat(body, version):
    """-> error code."""
    r = GroupWireReader(body, group_api_flexible(API_HEARTBEAT, version))
    if version >= 1:
        r.i32()  # throttle
    err = r.i16()
    r.end()
    r.done()
    return err


def leave_group_body(version, group_id, members):
    """members: [(member_id, group_instance_id)] (v3+; a reason is sent from
    v5); v0-2 send members[0]'s id only."""
    w = GroupWireWriter(group_api_flexible(API_LEAVE_GROUP, version))
    w.s(group_id)
    if version <= 2:
        w.s(members[0][0])
    else:
        def member(w, m):
            w.s(m[0]).s(m[1])
            if version >= 5:
                w.s("leaving (test)")
            w.end()
        w.arr(list(members), member)
    return w.end().bytes()


def parse_leave_group(body, version):
    """-> (top-level error code, [(member_id, group_instance_id, error_code)]
    or None before v3)."""
    r = GroupWireReader(body, group_api_flexible(API_LEAVE_GROUP, version))
    if version >= 1:
        r.i32()  # throttle
    err = r.i16()
    members = None
    if version >= 3:
        def member(r):
            m = (r.s(), r.s(), r.i16())
            r.end()
            return m
        members = r.arr(member)
    r.end()
    r.done()
    return err, members


# ---------------------------------------------------------------- DeleteRecords
# (key 21; v0-1 classic, v2 flexible; used by test_delete_records_wire.py).
# Fields from Kafka's DeleteRecordsRequest/Response schemas.

API_DELETE_RECORDS = 21


def delete_records_body(version, topics, timeout_ms=10000):
    """topics: [(name, [(partition, offset)])] -> request body."""
    w = GroupWireWriter(version >= 2)

    def part(w, p):
        w.i32(p[0]).i64(p[1])
        w.end()

    def topic(w, t):
        w.s(t[0]).arr(t[1], part)
        w.end()

    w.arr(list(topics), topic)
    w.i32(timeout_ms)
    return w.end().bytes()


def parse_delete_records(body, version):
    """-> (throttle_ms, [(topic, partition, low_watermark, error_code)]) in
    the answer's order."""
    r = GroupWireReader(body, version >= 2)
    throttle = r.i32()
    out = []

    def part(r, name):
        out.append((name, r.i32(), r.i64(), r.i16()))
        r.end()

    def topic(r):
        name = r.s()
        r.arr(lambda r: part(r, name))
        r.end()

    r.arr(topic)
    r.end()
    r.done()
    return throttle, out


# ---------------------------------------------------------------- configs
# DescribeConfigs (32, v0-4, flexible v4+), AlterConfigs (33, v0-2, flexible
# v2+), IncrementalAlterConfigs (44, v0-1, flexible v1+); field layouts from
# Kafka's message schemas. Used by test_configs_wire.py.

API_DESCRIBE_CONFIGS, API_ALTER_CONFIGS, API_INCREMENTAL_ALTER_CONFIGS = 32, 33, 44
CONFIG_FLEX_MIN = {API_DESCRIBE_CONFIGS: 4, API_ALTER_CONFIGS: 2, API_INCREMENTAL_ALTER_CONFIGS: 1}
RES_TOPIC, RES_BROKER, RES_BROKER_LOGGER = 2, 4, 8
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


def describe_configs_body(version, resources, synonyms=True, docs=False):
    """resources: [(type, name, keys or None)] -> request body."""
    w = GroupWireWriter(version >= CONFIG_FLEX_MIN[API_DESCRIBE_CONFIGS])

    def res(w, r):
        w.i8(r[0]).s(r[1]).arr(r[2], lambda w, k: w.s(k))
        w.end()

    w.arr(list(resources), res)
    if version >= 1:
        w.raw(bytes([1 if synonyms else 0]))
    if version >= 3:
        w.raw(bytes([1 if docs else 0]))
    return w.end().bytes()


def parse_describe_configs(body, version):
    """-> [{error, message, type, name, configs: {name: {value, read_only,
    source, sensitive, synonyms: [(name, value, source)], type, doc}}}]."""
    r = GroupWireReader(body, version >= CONFIG_FLEX_MIN[API_DESCRIBE_CONFIGS])
    r.i32()  # throttle

    def syn(r):
        s = (r.s(), r.s(), r.i8())
        r.end()
        return s

    def entry(r):
        e = {"name": r.s(), "value": r.s(), "read_only": bool(r.i8())}
        if version == 0:
            e["is_default"] = bool(r.i8())
        else:
            e["source"] = r.i8()
        e["sensitive"] = bool(r.i8())
        e["synonyms"] = r.arr(syn) if version >= 1 else []
        if version >= 3:
            e["type"] = r.i8()
            e["doc"] = r.s()
        r.end()
        return e

    def result(r):
        d = {"error": r.i16(), "message": r.s(), "type": r.i8(), "name": r.s()}
        d["configs"] = {e["name"]: e for e in (r.arr(entry) or [])}
        r.end()
        return d

    out = r.arr(result)
    r.end()
    r.done()
    return out


def alter_configs_body(version, resources, validate_only=False):
    """AlterConfigs. resources: [(type, name, [(key, value)])]."""
    w = GroupWireWriter(version >= CONFIG_FLEX_MIN[API_ALTER_CONFIGS])

    def cfg(w, c):
        w.s(c[0]).s(c[1])
        w.end()

    def res(w, r):
        w.i8(r[0]).s(r[1]).arr(list(r[2]), cfg)
        w.end()

    w.arr(list(resources), res)
    w.raw(bytes([1 if validate_only else 0]))
    return w.end().bytes()


def incremental_alter_configs_body(version, resources, validate_only=False):
    """IncrementalAlterConfigs. resources: [(type, name, [(key, op, value)])]."""
    w = GroupWireWriter(version >= CONFIG_FLEX_MIN[API_INCREMENTAL_ALTER_CONFIGS])

    def cfg(w, c):
        w.s(c[0]).i8(c[1]).s(c[2])
        w.end()

    def res(w, r):
        w.i8(r[0]).s(r[1]).arr(list(r[2]), cfg)
        w.end()

    w.arr(list(resources), res)
    w.raw(bytes([1 if validate_only else 0]))
    return w.end().bytes()


def parse_alter_configs(body, flexible):
    """Both alter responses -> [(error_code, message, type, name)]."""
    r = GroupWireReader(body, flexible)
    r.i32()  # throttle

    def res(r):
        t = (r.i16(), r.s(), r.i8(), r.s())
        r.end()
        return t

    out = r.arr(res)
    r.end()
    r.done()
    return out


# ---------------------------------------------------------------- InitProducerId (22)
# Kafka's InitProducerIdRequest/Response: v0-1 classic, v2+ flexible, v3+
# adds ProducerId/ProducerEpoch to the request.

API_INIT_PRODUCER_ID = 22
INIT_PID_FLEX_MIN = 2


def init_producer_id(version, transactional_id=None, timeout_ms=60000, producer_id=-1,
                     producer_epoch=-1):
    """InitProducerId request body (transactional_id None = null)."""
    w = GroupWireWriter(version >= INIT_PID_FLEX_MIN)
    w.s(transactional_id).i32(timeout_ms)
    if version >= 3:
        w.i64(producer_id).i16(producer_epoch)
    return w.end().bytes()


def parse_init_producer_id(body, version):
    """-> (throttle_ms, error_code, producer_id, producer_epoch); checks that
    nothing follows."""
    r = GroupWireReader(body, version >= INIT_PID_FLEX_MIN)
    out = (r.i32(), r.i16(), r.i64(), r.i16())
    r.end()
    r.done()
    return out


# ---------------------------------------------------------------- DescribeProducers
# (key 61, v0, flexible; KIP-664). Fields from Kafka's
# DescribeProducersRequest/Response schemas. Used by test_idempotence_wire.py.

API_DESCRIBE_PRODUCERS = 61


def describe_producers_body(topics):
    """topics: [(name, [partition, ...])] -> request body (v0)."""
    w = GroupWireWriter(True)

    def topic(w, t):
        w.s(t[0]).arr(t[1], lambda w, p: w.i32(p))
        w.end()

    w.arr(list(topics), topic)
    return w.end().bytes()


def parse_describe_producers(body):
    """-> {(topic, partition): (error_code, error_message, [(producer_id,
    epoch, last_sequence, last_timestamp, coordinator_epoch,
    current_txn_start_offset)])}"""
    r = GroupWireReader(body, True)
    r.i32()  # throttle
    out = {}

    def producer(r, acc):
        acc.append((r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64()))
        r.end()

    def part(r, name):
        index, err, msg = r.i32(), r.i16(), r.compact_string()
        acc = []
        r.arr(lambda r: producer(r, acc))
        r.end()
        out[(name, index)] = (err, msg, acc)

    def topic(r):
        name = r.s()
        r.arr(lambda r: part(r, name))
        r.end()

    r.arr(topic)
    r.end()
    r.done()
    return out
