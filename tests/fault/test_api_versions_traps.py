"""Wire-level traps (PROTOCOL.md §3), checked over raw sockets with the
encoder in kwire.py — no client library in between:

  - ApiVersions v0..v3 parse exactly (v3: request header v2, response header
    v0: the correlation id is followed directly by the error code);
  - ApiVersions at an unknown version (99) gets a v0-schema response with
    UNSUPPORTED_VERSION (35) and ApiVersions' own range (KIP-511);
  - Metadata: v0 [] = all topics; v1 [] = none; v1 null = all;
  - a Fetch at an offset inside a stored batch returns that whole batch.
"""

import struct

import pytest

import kwire
from harness import scaled
from kwire import Conn

UNSUPPORTED_VERSION = 35
REQUIRED_KEYS = (0, 1, 2, 3, 18)


def conn(b):
    return Conn(b.port, timeout=scaled(10))


def api_versions_raw(b, version, corr=7, flexible=None, body=None):
    """Sends ApiVersions at `version`; returns the response body (after the
    v0 response header, which is only the correlation id)."""
    if flexible is None:
        flexible = version >= 3
    if body is None:
        body = kwire.api_versions_body(version)
    with conn(b) as c:
        c.send(kwire.request_frame(kwire.API_API_VERSIONS, version, corr, body, flexible))
        resp = c.recv_frame()
    (rcorr,) = struct.unpack_from(">i", resp, 0)
    assert rcorr == corr, f"correlation id {rcorr}, sent {corr}"
    return resp[4:]


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_api_versions_each_version(module_broker, version):
    body = api_versions_raw(module_broker, version, corr=1000 + version)
    if version >= 3:
        # Response header v0 even for flexible versions: error code 0 comes
        # first, then the compact array length (count + 1, never 0 here).
        assert body[:2] == b"\x00\x00", f"v3 body starts {body[:8].hex()}"
        assert body[2] not in (0, 1), (f"v3: array length byte {body[2]} right after the "
                                       "error code (a tagged-field byte in the header?)")
    err, keys, throttle = kwire.parse_api_versions(body, version)  # strict: no bytes left
    assert err == 0
    for k in REQUIRED_KEYS:
        assert k in keys, f"ApiVersions v{version}: key {k} missing from {sorted(keys)}"
        lo, hi = keys[k]
        assert 0 <= lo <= hi, f"key {k}: range {lo}-{hi}"
    assert keys[18][0] == 0 and keys[18][1] >= 3, f"ApiVersions range {keys[18]}"
    assert keys[0][0] == 0 and keys[0][1] >= 3, f"Produce range {keys[0]} (must advertise 0, KAFKA-18659)"
    if version >= 1:
        assert throttle == 0


def test_api_versions_max_advertised(module_broker):
    """The highest ApiVersions version the broker advertises also parses."""
    _, keys, _ = kwire.parse_api_versions(api_versions_raw(module_broker, 0), 0)
    top = keys[18][1]
    err, keys_top, _ = kwire.parse_api_versions(api_versions_raw(module_broker, top), top)
    assert err == 0 and keys_top == keys


@pytest.mark.parametrize("body", [kwire.api_versions_body(3), b"", b"\xff" * 10],
                         ids=["v3-body", "empty-body", "unknown-body"])
def test_api_versions_unknown_version(module_broker, body):
    """Version 99 (header v2, as every ApiVersions version from 3 on): the
    broker cannot know the body's schema, so it ignores the body and answers
    in the v0 schema with UNSUPPORTED_VERSION and its ApiVersions range."""
    resp = api_versions_raw(module_broker, 99, corr=99, flexible=True, body=body)
    err, keys, _ = kwire.parse_api_versions(resp, 0)  # strict v0 parse
    assert err == UNSUPPORTED_VERSION
    assert 18 in keys, f"ApiKeys {keys} lacks ApiVersions"
    lo, hi = keys[18]
    assert lo == 0 and hi >= 3, f"ApiVersions range {lo}-{hi}"


def test_api_versions_then_more_requests(module_broker):
    """After an UNSUPPORTED_VERSION answer the connection stays usable (a
    client falls back on the same connection)."""
    with conn(module_broker) as c:
        c.send(kwire.request_frame(18, 99, 1, kwire.api_versions_body(3), True))
        r = c.recv_frame()
        err, _, _ = kwire.parse_api_versions(r[4:], 0)
        assert err == UNSUPPORTED_VERSION
        body = c.request(18, 2, b"", corr=2)
        err, keys, _ = kwire.parse_api_versions(body, 2)
        assert err == 0 and 3 in keys


def test_null_client_id(module_broker):
    """A request header whose ClientId is null (length -1) is valid."""
    with conn(module_broker) as c:
        c.send(kwire.frame(kwire.request_header(18, 2, 5, 1, client_id=None)))
        resp = c.recv_frame()
    assert struct.unpack_from(">i", resp, 0)[0] == 5
    err, keys, _ = kwire.parse_api_versions(resp[4:], 2)
    assert err == 0 and 18 in keys


@pytest.fixture(scope="module")
def two_topics(module_broker):
    import harness
    names = [harness.unique_name("traps-a"), harness.unique_name("traps-b")]
    for n in names:
        module_broker.create_topic(n, partitions=2)
    return names


def test_metadata_v0_empty_means_all(module_broker, two_topics):
    with conn(module_broker) as c:
        md = kwire.parse_metadata(c.request(3, 0, kwire.metadata_v0([])), 0)
    for n in two_topics:
        assert n in md["topics"], f"v0 [] must list every topic; got {sorted(md['topics'])}"
        err, parts = md["topics"][n]
        assert err == 0 and sorted(p[0] for p in parts) == [0, 1]
    assert len(md["brokers"]) == 1 and md["brokers"][0][2] == module_broker.port


def test_metadata_v1_empty_means_none(module_broker, two_topics):
    with conn(module_broker) as c:
        md = kwire.parse_metadata(c.request(3, 1, kwire.metadata_v1([])), 1)
    assert md["topics"] == {}, f"v1 [] must list no topic; got {sorted(md['topics'])}"
    assert len(md["brokers"]) == 1


def test_metadata_v1_null_means_all(module_broker, two_topics):
    with conn(module_broker) as c:
        md = kwire.parse_metadata(c.request(3, 1, kwire.metadata_v1(None)), 1)
    for n in two_topics:
        assert n in md["topics"], f"v1 null must list every topic; got {sorted(md['topics'])}"
        assert md["topics"][n][0] == 0


def test_metadata_v1_named_topic(module_broker, two_topics):
    with conn(module_broker) as c:
        md = kwire.parse_metadata(c.request(3, 1, kwire.metadata_v1([two_topics[1]])), 1)
    assert list(md["topics"]) == [two_topics[1]]


def test_fetch_inside_a_batch_returns_whole_batch(module_broker):
    import harness
    topic = harness.unique_name("midbatch")
    module_broker.create_topic(topic, partitions=1)
    values = [f"rec-{i}".encode() for i in range(10)]
    keys = [f"k{i}".encode() for i in range(10)]
    batch = kwire.build_batch(values, keys=keys)
    with conn(module_broker) as c:
        res = kwire.parse_produce_v3(c.request(0, 3, kwire.produce_v3(topic, {0: batch}, acks=-1)))
        assert res[(topic, 0)] == (0, 0), f"produce: {res}"
        # a second batch after it, to see that the fetch starts at the first
        batch2 = kwire.build_batch([b"after-0", b"after-1"])
        res = kwire.parse_produce_v3(c.request(0, 3, kwire.produce_v3(topic, {0: batch2}, acks=-1), corr=2))
        assert res[(topic, 0)] == (0, 10), f"produce 2: {res}"
        for off in (5, 0, 9):
            err, hw, records = kwire.parse_fetch_v4(
                c.request(1, 4, kwire.fetch_v4(topic, 0, off), corr=10 + off))[(topic, 0)]
            assert err == 0 and hw == 12
            batches = kwire.parse_batches(records)
            assert batches, f"fetch at {off}: no batch"
            first = batches[0]
            assert first["base_offset"] == 0 and first["count"] == 10, (
                f"fetch at {off}: first batch base {first['base_offset']} count {first['count']}")
            assert [(r[0], r[1], r[2]) for r in first["records"]] == [
                (i, keys[i], values[i]) for i in range(10)]
        err, hw, records = kwire.parse_fetch_v4(
            c.request(1, 4, kwire.fetch_v4(topic, 0, 11), corr=30))[(topic, 0)]
        bs = kwire.parse_batches(records)
        assert err == 0 and bs and bs[0]["base_offset"] == 10 and bs[0]["count"] == 2
