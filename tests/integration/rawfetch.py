"""Raw Fetch of stored record batches, below every client library: what the
broker really keeps, header field by header field, and the records inside
(decompressed here with Python's own codec modules, independent of the
broker's and the clients' code). Built on tests/fault/kwire.py (framing,
Fetch v4 request and response).

  fetch_batches(port, topic, partition)  every batch of a partition, in order
  decompress(codec, data)                one batch's records section
  parse_records(batch)                   its records as dicts
  CODEC_NAMES                            attribute codec bits -> Kafka's name

A batch dict: base_offset, last_offset, length, leader_epoch, magic, crc,
crc_ok, attributes, codec (attributes & 7), log_append_time (bit 3),
transactional (bit 4), control (bit 5), last_offset_delta, base_timestamp,
max_timestamp, producer_id, producer_epoch, base_sequence, count, payload
(the bytes after the header, compressed as stored), size (whole batch).
"""

import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fault"))
import kwire  # noqa: E402

CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
HEADER = struct.Struct(">qiibIhiqqqhii")   # the 61-byte batch header
XERIAL_MAGIC = b"\x82SNAPPY\x00"


def _parse_batch(data, pos):
    (base, length, epoch, magic, crc, attrs, lod, bts, mts, pid, pep, bseq,
     cnt) = HEADER.unpack_from(data, pos)
    end = pos + 12 + length
    return dict(base_offset=base, last_offset=base + lod, length=length, leader_epoch=epoch,
                magic=magic, crc=crc, crc_ok=kwire.crc32c(data[pos + 21:end]) == crc,
                attributes=attrs, codec=attrs & 0x07, log_append_time=bool(attrs & 0x08),
                transactional=bool(attrs & 0x10), control=bool(attrs & 0x20),
                last_offset_delta=lod, base_timestamp=bts, max_timestamp=mts, producer_id=pid,
                producer_epoch=pep, base_sequence=bseq, count=cnt,
                payload=bytes(data[pos + HEADER.size:end]), size=12 + length)


def split_batches(data):
    """Complete batches in a Fetch response's records bytes (a trailing
    partial batch, which a fetch may end with, is dropped)."""
    out, pos = [], 0
    while len(data) - pos >= HEADER.size:
        (length,) = struct.unpack_from(">i", data, pos + 8)
        if length < HEADER.size - 12 or pos + 12 + length > len(data):
            break
        out.append(_parse_batch(data, pos))
        pos += 12 + length
    return out


def fetch_batches(port, topic, partition, start=0, max_bytes=4 << 20, timeout=10.0):
    """Every batch of topic/partition from offset `start` up to the high
    watermark, through Fetch v4 on a raw socket. Raises AssertionError on a
    Fetch error or when the broker gives no complete batch below the high
    watermark."""
    out, offset = [], start
    with kwire.Conn(port, timeout=timeout) as conn:
        while True:
            body = conn.request(kwire.API_FETCH, 4,
                                kwire.fetch_v4(topic, partition, offset, max_bytes=max_bytes,
                                               max_wait_ms=0, min_bytes=0))
            err, hw, records = kwire.parse_fetch_v4(body)[(topic, partition)]
            assert err == 0, f"Fetch {topic}-{partition} at {offset}: error code {err}"
            if offset >= hw:
                return out
            batches = [b for b in split_batches(records) if b["last_offset"] >= offset]
            assert batches, (f"Fetch {topic}-{partition} at {offset} (high watermark {hw}): "
                             f"no complete batch in {len(records)} bytes")
            out += batches
            offset = batches[-1]["last_offset"] + 1


# ---------------------------------------------------------------- codecs

def _snappy_xerial(data):
    import snappy
    # 8-byte magic, int32 version, int32 compatible version, then blocks of
    # int32 length + raw snappy block (the snappy-java stream format).
    pos, out = 16, bytearray()
    while pos < len(data):
        (n,) = struct.unpack_from(">i", data, pos)
        pos += 4
        out += snappy.uncompress(data[pos:pos + n])
        pos += n
    return bytes(out)


def decompress(codec, data):
    """The records section of a batch of `codec` (attribute bits) as plain
    bytes. Raises ImportError when Python lacks that codec's module."""
    if codec == 0:
        return data
    if codec == 1:
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)   # exactly one gzip member
    if codec == 2:
        if data.startswith(XERIAL_MAGIC):
            return _snappy_xerial(data)
        import snappy
        return snappy.uncompress(data)
    if codec == 3:
        import lz4.frame
        return lz4.frame.decompress(data)
    if codec == 4:
        import zstandard
        # Stream decoding: Kafka's zstd frames need not carry the content size.
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise ValueError(f"codec bits {codec}")


def parse_records(batch):
    """Decompresses a batch and decodes its records: list of dicts (offset,
    timestamp, attributes, key, value, headers [(name bytes, value or None)]).
    Asserts the record count, the offset deltas and that nothing is left
    over."""
    raw = decompress(batch["codec"], batch["payload"])
    r = kwire.Reader(raw)
    recs = []
    for _ in range(batch["count"]):
        length = r.varint()
        end = r.p + length
        attrs = r.i8()
        ts_delta = r.varint()
        off_delta = r.varint()
        kl = r.varint()
        key = None if kl < 0 else r._take(kl)
        vl = r.varint()
        value = None if vl < 0 else r._take(vl)
        headers = []
        for _ in range(r.varint()):
            hk = r._take(r.varint())
            hl = r.varint()
            headers.append((hk, None if hl < 0 else r._take(hl)))
        assert r.p == end, f"batch {batch['base_offset']}: record length {length} does not match"
        recs.append(dict(offset=batch["base_offset"] + off_delta,
                         timestamp=batch["base_timestamp"] + ts_delta, attributes=attrs,
                         key=key, value=value, headers=headers))
    assert r.remaining == 0, (f"batch {batch['base_offset']}: {r.remaining} bytes after "
                              f"{batch['count']} records")
    return recs


def gzip_xfl(payload):
    """The XFL byte of a gzip member (RFC 1952): zlib writes 2 at level 9,
    4 at level 1 (and for the fastest strategies), 0 otherwise."""
    assert payload[:2] == b"\x1f\x8b", f"not gzip: {payload[:4]!r}"
    return payload[8]
