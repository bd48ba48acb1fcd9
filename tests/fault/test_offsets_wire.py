"""Committed offsets and group administration over raw sockets.

APIs: OffsetCommit (8, v0-8), OffsetFetch (9, v0-8), DescribeGroups (15,
v0-5), ListGroups (16, v0-5), DeleteGroups (42, v0-2), OffsetDelete (47, v0).
Every request is encoded here by hand (kwire's Writer/Reader), version by
version where the versions differ, and every answer is checked field by
field against what Kafka answers:

  - commits for unknown topics / out-of-range partitions
    (UNKNOWN_TOPIC_OR_PARTITION), metadata over offset.metadata.max.bytes
    (OFFSET_METADATA_TOO_LARGE), generation 5 for an unknown group
    (UNKNOWN_MEMBER_ID), generation -1 (accepted, then fetched back);
  - fetches of unknown groups (-1, "", epoch -1, NONE), v8 with two groups;
  - DescribeGroups of "" (INVALID_GROUP_ID), unknown (Dead), offsets-only
    (Empty) and joined (Stable) groups; ListGroups with state and type
    filters; DeleteGroups (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, offsets
    gone, duplicates); OffsetDelete of a subscribed topic
    (GROUP_SUBSCRIBED_TO_TOPIC) after a raw JoinGroup + SyncGroup with
    consumer-protocol metadata;
  - committed offsets surviving a clean restart and kill -9.

After each bad request a fresh connection must still commit and fetch for
another group (serving()). One broker (group.initial.rebalance.delay.ms=0)
serves the module; the restart tests start their own.
"""

import itertools
import struct
import time
import uuid

import pytest

import harness
from kwire import Conn, Reader, Writer, request_frame, uvarint

API_OFFSET_COMMIT, API_OFFSET_FETCH = 8, 9
API_JOIN_GROUP, API_SYNC_GROUP, API_LEAVE_GROUP = 11, 14, 13
API_DESCRIBE_GROUPS, API_LIST_GROUPS = 15, 16
API_DELETE_GROUPS, API_OFFSET_DELETE = 42, 47

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
ILLEGAL_GENERATION = 22
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
GROUP_SUBSCRIBED_TO_TOPIC = 86

INT32_MIN = -(1 << 31)
# READ (3), DELETE (6), DESCRIBE (8): what Kafka without an authorizer
# reports for a group (AclEntry.supportedOperations(GROUP)).
GROUP_OPS = (1 << 3) | (1 << 6) | (1 << 8)

# First flexible version of each API.
FLEX = {API_OFFSET_COMMIT: 8, API_OFFSET_FETCH: 6, API_DESCRIBE_GROUPS: 5,
        API_LIST_GROUPS: 3, API_DELETE_GROUPS: 2, API_OFFSET_DELETE: 99,
        API_JOIN_GROUP: 6, API_SYNC_GROUP: 4}

_corr = itertools.count(1)


def gid(prefix="g"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- flexible-aware codec

class W:
    """A Writer that writes strings, bytes and arrays in the compact form
    when flexible, and adds the tagged-field sections."""

    def __init__(self, flex):
        self.w = Writer()
        self.flex = flex

    def i8(self, v): self.w.i8(v); return self
    def i16(self, v): self.w.i16(v); return self
    def i32(self, v): self.w.i32(v); return self
    def i64(self, v): self.w.i64(v); return self

    def str(self, s):
        (self.w.compact_string if self.flex else self.w.string)(s)
        return self

    def bytes(self, data):
        if not self.flex:
            self.w.bytes32(data)
        elif data is None:
            self.w.raw(uvarint(0))
        else:
            self.w.raw(uvarint(len(data) + 1)).raw(data)
        return self

    def arr(self, items, fn):
        def each(_w, it):
            fn(self, it)
        (self.w.compact_array if self.flex else self.w.array)(items, each)
        return self

    def tags(self):
        if self.flex:
            self.w.tags()
        return self

    def done(self):
        return self.tags().w.bytes()


class R:
    def __init__(self, data, flex):
        self.r = Reader(data)
        self.flex = flex

    def i8(self): return self.r.i8()
    def i16(self): return self.r.i16()
    def i32(self): return self.r.i32()
    def i64(self): return self.r.i64()

    def str(self):
        return self.r.compact_string() if self.flex else self.r.string()

    def bytes(self):
        return self.r.compact_bytes() if self.flex else self.r.bytes32()

    def arr(self, fn):
        return (self.r.compact_array if self.flex else self.r.array)(lambda _r: fn(self))

    def tags(self):
        if self.flex:
            self.r.skip_tags()

    def done(self):
        self.tags()
        self.r.done()


def call(port, key, v, body_fn, parse_fn):
    """One request on a fresh connection; body_fn(W) writes the body."""
    flex = v >= FLEX[key]
    w = W(flex)
    body_fn(w)
    with Conn(port, timeout=harness.scaled(10)) as c:
        resp = c.request(key, v, w.done(), corr=next(_corr), flexible=flex)
    r = R(resp, flex)
    out = parse_fn(r)
    r.done()
    return out


# ---------------------------------------------------------------- OffsetCommit

def offset_commit(port, v, group, offsets, generation=-1, member="", instance=None,
                  retention_ms=-1):
    """offsets: [(topic, partition, offset, metadata, leader_epoch)] ->
    [(topic, partition, error)] in the answer's order."""
    by_topic = {}
    for t, p, o, md, ep in offsets:
        by_topic.setdefault(t, []).append((p, o, md, ep))

    def body(w):
        w.str(group)
        if v >= 1:
            w.i32(generation).str(member)
        if v >= 7:
            w.str(instance)
        if 2 <= v <= 4:
            w.i64(retention_ms)

        def part(w, p):
            w.i32(p[0]).i64(p[1])
            if v >= 6:
                w.i32(p[3])
            if v == 1:
                w.i64(-1)
            w.str(p[2]).tags()

        w.arr(list(by_topic.items()), lambda w, t: w.str(t[0]).arr(t[1], part).tags())

    def parse(r):
        if v >= 3:
            assert r.i32() == 0
        out = []

        def part(r, t):
            out.append((t, r.i32(), r.i16()))
            r.tags()

        def topic(r):
            name = r.str()
            r.arr(lambda r: part(r, name))
            r.tags()

        r.arr(topic)
        return out

    return call(port, API_OFFSET_COMMIT, v, body, parse)


# ---------------------------------------------------------------- OffsetFetch

def _parse_fetch_topics(r, v, out):
    def part(r, t):
        idx, off = r.i32(), r.i64()
        ep = r.i32() if v >= 5 else None
        md, err = r.str(), r.i16()
        r.tags()
        out.append((t, idx, off, ep, md, err))

    def topic(r):
        name = r.str()
        r.arr(lambda r: part(r, name))
        r.tags()

    r.arr(topic)


def offset_fetch(port, v, group, topics, require_stable=False):
    """topics: {topic: [partitions]} or None (all; v2+). Returns (top-level
    error or None before v2, [(topic, partition, offset, epoch, metadata,
    error)])."""
    assert v < 8

    def body(w):
        w.str(group)
        w.arr(None if topics is None else list(topics.items()),
              lambda w, t: w.str(t[0]).arr(t[1], lambda w, p: w.i32(p)).tags())
        if v >= 7:
            w.i8(1 if require_stable else 0)

    def parse(r):
        if v >= 3:
            assert r.i32() == 0
        out = []
        _parse_fetch_topics(r, v, out)
        err = r.i16() if v >= 2 else None
        return err, out

    return call(port, API_OFFSET_FETCH, v, body, parse)


def offset_fetch_v8(port, groups, require_stable=False):
    """groups: [(group, {topic: [partitions]} or None)] -> [(group, error,
    [(topic, partition, offset, epoch, metadata, error)])]."""
    def body(w):
        def grp(w, g):
            w.str(g[0])
            w.arr(None if g[1] is None else list(g[1].items()),
                  lambda w, t: w.str(t[0]).arr(t[1], lambda w, p: w.i32(p)).tags())
            w.tags()
        w.arr(groups, grp)
        w.i8(1 if require_stable else 0)

    def parse(r):
        assert r.i32() == 0
        res = []

        def grp(r):
            name = r.str()
            out = []
            _parse_fetch_topics(r, 8, out)
            err = r.i16()
            r.tags()
            res.append((name, err, out))

        r.arr(grp)
        return res

    return call(port, API_OFFSET_FETCH, 8, body, parse)


# ---------------------------------------------------------------- DescribeGroups / ListGroups

def describe_groups(port, v, groups, include_ops=False):
    """-> [dict(error, group, state, protocol_type, protocol_data, members,
    ops)]; members: [dict(member_id, instance_id, client_id, client_host,
    metadata, assignment)]."""
    def body(w):
        w.arr(groups, lambda w, g: w.str(g))
        if v >= 3:
            w.i8(1 if include_ops else 0)

    def parse(r):
        if v >= 1:
            assert r.i32() == 0

        def member(r):
            m = dict(member_id=r.str())
            m["instance_id"] = r.str() if v >= 4 else None
            m.update(client_id=r.str(), client_host=r.str(), metadata=r.bytes(),
                     assignment=r.bytes())
            r.tags()
            return m

        def grp(r):
            g = dict(error=r.i16(), group=r.str(), state=r.str(), protocol_type=r.str(),
                     protocol_data=r.str())
            g["members"] = r.arr(member)
            g["ops"] = r.i32() if v >= 3 else None
            r.tags()
            return g

        return r.arr(grp)

    return call(port, API_DESCRIBE_GROUPS, v, body, parse)


def list_groups(port, v, states=(), types=()):
    """-> (error, {group: (protocol_type, state or None, type or None)})."""
    def body(w):
        if v >= 4:
            w.arr(list(states), lambda w, s: w.str(s))
        if v >= 5:
            w.arr(list(types), lambda w, s: w.str(s))

    def parse(r):
        if v >= 1:
            assert r.i32() == 0
        err = r.i16()
        out = {}

        def grp(r):
            name, pt = r.str(), r.str()
            st = r.str() if v >= 4 else None
            ty = r.str() if v >= 5 else None
            r.tags()
            assert name not in out, f"group {name} listed twice"
            out[name] = (pt, st, ty)

        r.arr(grp)
        return err, out

    return call(port, API_LIST_GROUPS, v, body, parse)


# ---------------------------------------------------------------- DeleteGroups / OffsetDelete

def delete_groups(port, v, groups):
    """-> [(group, error)] in the answer's order."""
    def parse(r):
        assert r.i32() == 0

        def res(r):
            x = (r.str(), r.i16())
            r.tags()
            return x

        return r.arr(res)

    return call(port, API_DELETE_GROUPS, v, lambda w: w.arr(groups, lambda w, g: w.str(g)), parse)


def offset_delete(port, group, topics):
    """topics: [(topic, [partitions])] -> (error, [(topic, partition, error)])."""
    def body(w):
        w.str(group)
        w.arr(topics, lambda w, t: w.str(t[0]).arr(t[1], lambda w, p: w.i32(p)))

    def parse(r):
        err = r.i16()
        assert r.i32() == 0
        out = []

        def topic(r):
            name = r.str()
            r.arr(lambda r: out.append((name, r.i32(), r.i16())))

        r.arr(topic)
        return err, out

    return call(port, API_OFFSET_DELETE, 0, body, parse)


# ---------------------------------------------------------------- a joined consumer group

def consumer_subscription(topics, user_data=None):
    """ConsumerProtocolSubscription v0: version, topics, user_data."""
    w = Writer().i16(0).array(topics, lambda w, t: w.string(t))
    return w.bytes32(user_data).bytes()


def consumer_assignment(assign):
    """ConsumerProtocolAssignment v0: version, [(topic, [partitions])], user_data."""
    w = Writer().i16(0).array(list(assign.items()),
                              lambda w, t: w.string(t[0]).array(t[1], lambda w, p: w.i32(p)))
    return w.bytes32(None).bytes()


def join_and_sync(port, group, topics, assign, client_id="offsets-wire"):
    """A one-member consumer group through JoinGroup v0 and SyncGroup v0 on
    one connection (initial delay 0: the join completes at once). Returns
    (generation, member_id, subscription, assignment bytes)."""
    sub = consumer_subscription(topics)
    asg = consumer_assignment(assign)
    with Conn(port, timeout=harness.scaled(15)) as c:
        w = (Writer().string(group).i32(60000).string("").string("consumer")
             .array([("range", sub)], lambda w, p: w.string(p[0]).bytes32(p[1])))
        c.send(request_frame(API_JOIN_GROUP, 0, 101, w.bytes(), client_id=client_id))
        resp = c.recv_frame()
        assert struct.unpack_from(">i", resp, 0)[0] == 101
        r = Reader(resp, 4)
        err, gen, proto, leader, member = r.i16(), r.i32(), r.string(), r.string(), r.string()
        members = r.array(lambda r: (r.string(), r.bytes32()))
        r.done()
        assert (err, proto, leader) == (NONE, "range", member), (err, proto, leader, member)
        assert members == [(member, sub)]
        w = (Writer().string(group).i32(gen).string(member)
             .array([(member, asg)], lambda w, a: w.string(a[0]).bytes32(a[1])))
        c.send(request_frame(API_SYNC_GROUP, 0, 102, w.bytes(), client_id=client_id))
        resp = c.recv_frame()
        r = Reader(resp, 4)
        assert r.i16() == NONE
        assert r.bytes32() == asg
        r.done()
    return gen, member, sub, asg


# ---------------------------------------------------------------- fixtures and checks

@pytest.fixture(scope="module")
def gb(_module_broker_factory):
    return _module_broker_factory(name="offsets-broker", group_initial_rebalance_delay_ms=0)


@pytest.fixture(scope="module")
def topic(gb):
    name = harness.unique_name("offw")
    gb.create_topic(name, partitions=3)
    return name


def serving(port, topic):
    """The broker still serves: a fresh group commits and reads back."""
    g = gid("alive")
    assert offset_commit(port, 2, g, [(topic, 0, 7, "m", -1)]) == [(topic, 0, NONE)]
    err, parts = offset_fetch(port, 2, g, {topic: [0]})
    assert (err, parts) == (NONE, [(topic, 0, 7, None, "m", NONE)])


# ---------------------------------------------------------------- commit and fetch, every version

@pytest.mark.parametrize("v", range(0, 9))
def test_commit_each_version_fetch_each_version(gb, topic, v):
    g = gid(f"c{v}")
    offs = [(topic, 0, 100 + v, f"md{v}", 5), (topic, 2, 200 + v, None, 6)]
    res = offset_commit(gb.port, v, g, offs, generation=-1)
    assert res == [(topic, 0, NONE), (topic, 2, NONE)]
    for fv in range(0, 8):
        err, parts = offset_fetch(gb.port, fv, g, {topic: [2, 0, 1]})

        def epoch(sent):
            """What fetch v{fv} shows of a leader epoch sent with commit v{v}."""
            if fv < 5:
                return None           # not in the answer
            return sent if v >= 6 else -1

        assert err == (NONE if fv >= 2 else None)
        assert parts == [
            (topic, 2, 200 + v, epoch(6), "", NONE),      # null metadata reads ""
            (topic, 0, 100 + v, epoch(5), f"md{v}", NONE),
            (topic, 1, -1, epoch(-1), "", NONE),          # never committed
        ], f"commit v{v}, fetch v{fv}"
    # v2+: a null topic array returns every offset, by topic then partition
    for fv in (2, 6, 7):
        err, parts = offset_fetch(gb.port, fv, g, None)
        assert err == NONE
        assert [(t, p, o) for t, p, o, *_ in parts] == [(topic, 0, 100 + v), (topic, 2, 200 + v)]
    [(name, gerr, parts)] = offset_fetch_v8(gb.port, [(g, {topic: [0]})])
    assert (name, gerr) == (g, NONE)
    assert parts == [(topic, 0, 100 + v, 5 if v >= 6 else -1, f"md{v}", NONE)]


def test_commit_retention_and_overwrite(gb, topic):
    g = gid("ret")
    # v2-4 RetentionTimeMs: an explicit expiry far away keeps the offset
    assert offset_commit(gb.port, 2, g, [(topic, 1, 5, "a", -1)], retention_ms=3600_000) == [(topic, 1, NONE)]
    assert offset_commit(gb.port, 4, g, [(topic, 1, 9, "b", -1)]) == [(topic, 1, NONE)]
    assert offset_fetch(gb.port, 5, g, {topic: [1]}) == (NONE, [(topic, 1, 9, -1, "b", NONE)])


# ---------------------------------------------------------------- bad commits

def test_commit_unknown_topics_and_partitions(gb, topic):
    g = gid("badtp")
    missing = harness.unique_name("missing")
    for v in (0, 2, 8):
        res = offset_commit(gb.port, v, g, [(topic, 0, 1, "", -1), (topic, 3, 1, "", -1),
                                            (topic, -1, 1, "", -1), (missing, 0, 1, "", -1)])
        assert res == [(topic, 0, NONE), (topic, 3, UNKNOWN_TOPIC_OR_PARTITION),
                       (topic, -1, UNKNOWN_TOPIC_OR_PARTITION),
                       (missing, 0, UNKNOWN_TOPIC_OR_PARTITION)], f"v{v}"
    # only the valid partition was stored
    err, parts = offset_fetch(gb.port, 2, g, None)
    assert [(t, p) for t, p, *_ in parts] == [(topic, 0)]
    # nothing valid at all: answered without the group (no group check)
    assert offset_commit(gb.port, 2, "", [(missing, 0, 1, "", -1)]) == [(missing, 0, UNKNOWN_TOPIC_OR_PARTITION)]
    serving(gb.port, topic)


def test_commit_metadata_too_large(gb, topic):
    g = gid("big")
    big = "x" * 5000  # offset.metadata.max.bytes is 4096
    for v in (1, 3, 8):
        res = offset_commit(gb.port, v, g, [(topic, 0, 11, big, -1), (topic, 1, 12, "ok", -1)])
        assert res == [(topic, 0, OFFSET_METADATA_TOO_LARGE), (topic, 1, NONE)], f"v{v}"
    err, parts = offset_fetch(gb.port, 3, g, {topic: [0, 1]})
    assert parts == [(topic, 0, -1, None, "", NONE), (topic, 1, 12, None, "ok", NONE)]
    # exactly the limit is fine
    assert offset_commit(gb.port, 2, g, [(topic, 0, 13, "y" * 4096, -1)]) == [(topic, 0, NONE)]
    serving(gb.port, topic)


def test_commit_generation_checks(gb, topic):
    g = gid("gen")
    missing = harness.unique_name("missing")
    # generation 5 for a group that does not exist: UNKNOWN_MEMBER_ID for
    # the valid partitions, unknown topics keep their own code
    for v in (1, 2, 7, 8):
        res = offset_commit(gb.port, v, g, [(topic, 0, 1, "", -1), (missing, 0, 1, "", -1)],
                            generation=5, member="someone")
        assert res == [(topic, 0, UNKNOWN_MEMBER_ID), (missing, 0, UNKNOWN_TOPIC_OR_PARTITION)], f"v{v}"
    assert offset_fetch(gb.port, 1, g, {topic: [0]}) == (None, [(topic, 0, -1, None, "", NONE)])
    # generation -1 from outside the group protocol: accepted
    assert offset_commit(gb.port, 7, g, [(topic, 0, 42, "ext", 3)], generation=-1) == [(topic, 0, NONE)]
    assert offset_fetch(gb.port, 7, g, {topic: [0]}) == (NONE, [(topic, 0, 42, 3, "ext", NONE)])
    # an empty group id
    assert offset_commit(gb.port, 2, "", [(topic, 0, 1, "", -1)]) == [(topic, 0, INVALID_GROUP_ID)]
    serving(gb.port, topic)


def test_commit_zero_partitions(gb, topic):
    assert offset_commit(gb.port, 2, gid("zero"), []) == []
    assert offset_commit(gb.port, 8, gid("zero"), []) == []
    serving(gb.port, topic)


def test_commit_member_checks(gb, topic):
    """Commits of a joined group go through the member check (Kafka's order:
    unknown member, then generation)."""
    g = gid("mem")
    gen, member, _, _ = join_and_sync(gb.port, g, [topic], {topic: [0, 1, 2]})
    one = [(topic, 0, 5, "", -1)]
    for v in (1, 2, 5, 8):
        assert offset_commit(gb.port, v, g, one, generation=gen, member=member) == [(topic, 0, NONE)]
        assert offset_commit(gb.port, v, g, one, generation=gen + 1, member=member) == \
            [(topic, 0, ILLEGAL_GENERATION)], f"v{v}"
        assert offset_commit(gb.port, v, g, one, generation=gen, member="stranger") == \
            [(topic, 0, UNKNOWN_MEMBER_ID)], f"v{v}"
        # generation -1 is only for groups without members
        assert offset_commit(gb.port, v, g, one, generation=-1, member="") == \
            [(topic, 0, UNKNOWN_MEMBER_ID)], f"v{v}"
    # v0 carries no member: the same as generation -1
    assert offset_commit(gb.port, 0, g, one) == [(topic, 0, UNKNOWN_MEMBER_ID)]
    serving(gb.port, topic)


def test_malformed_requests_close(gb, topic):
    """A body that does not parse closes that connection only."""
    cases = [
        (API_OFFSET_COMMIT, 2, Writer().string("g").i32(-1).bytes()),            # truncated
        (API_OFFSET_FETCH, 1, Writer().string("g").i32(-1).bytes()),             # null topics before v2
        (API_DESCRIBE_GROUPS, 0, Writer().i32(1000).bytes()),                    # count beyond the body
        (API_OFFSET_DELETE, 0, Writer().string("g").i32(1).i16(-1).bytes()),     # null topic name
    ]
    for key, v, body in cases:
        with Conn(gb.port, timeout=harness.scaled(5)) as c:
            c.send(request_frame(key, v, 7, body))
            closed, got = c.wait_closed(harness.scaled(5))
            assert closed and got == b"", f"api {key} v{v}"
        serving(gb.port, topic)


# ---------------------------------------------------------------- fetch

def test_fetch_unknown_group(gb, topic):
    g = gid("nobody")
    missing = harness.unique_name("missing")
    for v in range(0, 8):
        err, parts = offset_fetch(gb.port, v, g, {topic: [0], missing: [4]})
        ep = -1 if v >= 5 else None
        assert err == (NONE if v >= 2 else None)
        assert parts == [(topic, 0, -1, ep, "", NONE), (missing, 4, -1, ep, "", NONE)], f"v{v}"
    for v in (2, 6, 7):
        assert offset_fetch(gb.port, v, g, None) == (NONE, [])
    # require_stable changes nothing: there are no pending transactional offsets
    assert offset_fetch(gb.port, 7, g, {topic: [1]}, require_stable=True) == (NONE, [(topic, 1, -1, -1, "", NONE)])
    # an empty group id: top-level error (v2+), per partition before v2
    assert offset_fetch(gb.port, 1, "", {topic: [0]}) == (None, [(topic, 0, -1, None, "", INVALID_GROUP_ID)])
    assert offset_fetch(gb.port, 3, "", {topic: [0]}) == (INVALID_GROUP_ID, [])
    serving(gb.port, topic)


def test_fetch_v8_two_groups(gb, topic):
    g1, g2, g3 = gid("v8a"), gid("v8b"), gid("v8c")
    assert offset_commit(gb.port, 8, g1, [(topic, 1, 77, "one", 2)]) == [(topic, 1, NONE)]
    assert offset_commit(gb.port, 8, g3, [(topic, 2, 5, "", -1), (topic, 0, 4, "", -1)]) == \
        [(topic, 2, NONE), (topic, 0, NONE)]
    res = offset_fetch_v8(gb.port, [(g1, {topic: [1, 0]}), (g2, {topic: [1]}), (g3, None), ("", None)])
    assert res == [
        (g1, NONE, [(topic, 1, 77, 2, "one", NONE), (topic, 0, -1, -1, "", NONE)]),
        (g2, NONE, [(topic, 1, -1, -1, "", NONE)]),
        (g3, NONE, [(topic, 0, 4, -1, "", NONE), (topic, 2, 5, -1, "", NONE)]),
        ("", INVALID_GROUP_ID, []),
    ]
    assert offset_fetch_v8(gb.port, []) == []
    serving(gb.port, topic)


# ---------------------------------------------------------------- describe / list

def test_describe_groups(gb, topic):
    offs_only, unknown, joined = gid("donly"), gid("dunk"), gid("djoin")
    assert offset_commit(gb.port, 2, offs_only, [(topic, 0, 1, "", -1)]) == [(topic, 0, NONE)]
    gen, member, sub, asg = join_and_sync(gb.port, joined, [topic], {topic: [0, 1, 2]},
                                          client_id="desc-client")
    for v in range(0, 6):
        res = describe_groups(gb.port, v, ["", unknown, offs_only, joined], include_ops=True)
        ops = GROUP_OPS if v >= 3 else None
        bad = INT32_MIN if v >= 3 else None
        assert res[0] == dict(error=INVALID_GROUP_ID, group="", state="", protocol_type="",
                              protocol_data="", members=[], ops=bad), f"v{v}"
        assert res[1] == dict(error=NONE, group=unknown, state="Dead", protocol_type="",
                              protocol_data="", members=[], ops=ops), f"v{v}"
        assert res[2] == dict(error=NONE, group=offs_only, state="Empty", protocol_type="",
                              protocol_data="", members=[], ops=ops), f"v{v}"
        assert res[3] == dict(error=NONE, group=joined, state="Stable", protocol_type="consumer",
                              protocol_data="range", ops=ops, members=[dict(
                                  member_id=member, instance_id=None, client_id="desc-client",
                                  client_host="/127.0.0.1", metadata=sub, assignment=asg)]), f"v{v}"
    # without IncludeAuthorizedOperations: omitted (INT32_MIN)
    for v in (3, 5):
        assert [g["ops"] for g in describe_groups(gb.port, v, [joined, unknown])] == [INT32_MIN] * 2
    assert describe_groups(gb.port, 5, []) == []
    serving(gb.port, topic)


def test_list_groups(gb, topic):
    offs_only, joined = gid("lonly"), gid("ljoin")
    assert offset_commit(gb.port, 2, offs_only, [(topic, 0, 1, "", -1)]) == [(topic, 0, NONE)]
    join_and_sync(gb.port, joined, [topic], {topic: [0]})
    for v in range(0, 6):
        err, groups = list_groups(gb.port, v)
        assert err == NONE
        st = (lambda s: s) if v >= 4 else (lambda s: None)
        ty = "classic" if v >= 5 else None
        assert groups[offs_only] == ("", st("Empty"), ty), f"v{v}"
        assert groups[joined] == ("consumer", st("Stable"), ty), f"v{v}"
    # state filter: case-insensitive, spaces trimmed
    for v in (4, 5):
        err, groups = list_groups(gb.port, v, states=["sTaBlE"])
        assert joined in groups and offs_only not in groups
        assert all(s == "Stable" for _, s, _ in groups.values())
        err, groups = list_groups(gb.port, v, states=[" EMPTY ", "Dead"])
        assert offs_only in groups and joined not in groups
        err, groups = list_groups(gb.port, v, states=["PreparingRebalance"])
        assert offs_only not in groups and joined not in groups
    # type filter: every group is classic
    err, groups = list_groups(gb.port, 5, types=["consumer"])
    assert (err, groups) == (NONE, {})
    err, groups = list_groups(gb.port, 5, types=["Classic"], states=["stable"])
    assert joined in groups and offs_only not in groups
    serving(gb.port, topic)


# ---------------------------------------------------------------- delete

def test_delete_groups(gb, topic):
    unknown, offs_only, joined = gid("xunk"), gid("xonly"), gid("xjoin")
    assert offset_commit(gb.port, 2, offs_only, [(topic, 0, 3, "", -1), (topic, 1, 4, "", -1)]) == \
        [(topic, 0, NONE), (topic, 1, NONE)]
    join_and_sync(gb.port, joined, [topic], {topic: [0]})
    res = delete_groups(gb.port, 0, [unknown, offs_only, joined, offs_only, ""])
    # duplicates answered once, at their first position (Kafka: distinct)
    assert res == [(unknown, GROUP_ID_NOT_FOUND), (offs_only, NONE), (joined, NON_EMPTY_GROUP),
                   ("", INVALID_GROUP_ID)]
    assert offset_fetch(gb.port, 2, offs_only, None) == (NONE, [])
    assert offset_fetch(gb.port, 1, offs_only, {topic: [0]}) == (None, [(topic, 0, -1, None, "", NONE)])
    assert describe_groups(gb.port, 0, [offs_only])[0]["state"] == "Dead"
    assert offs_only not in list_groups(gb.port, 2)[1]
    # gone: deleting again is GROUP_ID_NOT_FOUND (v1, v2)
    assert delete_groups(gb.port, 1, [offs_only]) == [(offs_only, GROUP_ID_NOT_FOUND)]
    assert delete_groups(gb.port, 2, [offs_only, unknown]) == [(offs_only, GROUP_ID_NOT_FOUND),
                                                               (unknown, GROUP_ID_NOT_FOUND)]
    assert delete_groups(gb.port, 2, []) == []
    # the joined group keeps working
    assert describe_groups(gb.port, 0, [joined])[0]["state"] == "Stable"
    serving(gb.port, topic)


def test_offset_delete(gb, topic):
    other = harness.unique_name("offw-other")
    gb.create_topic(other, partitions=2)
    missing = harness.unique_name("missing")
    joined, offs_only = gid("odjoin"), gid("odonly")
    gen, member, _, _ = join_and_sync(gb.port, joined, [topic], {topic: [0, 1, 2]})
    assert offset_commit(gb.port, 2, joined, [(topic, 0, 10, "", -1), (other, 0, 20, "", -1)],
                         generation=gen, member=member) == [(topic, 0, NONE), (other, 0, NONE)]
    err, parts = offset_delete(gb.port, joined, [(topic, [0, 1]), (other, [0, 1, 5]), (missing, [0])])
    assert err == NONE
    assert parts == [(topic, 0, GROUP_SUBSCRIBED_TO_TOPIC), (topic, 1, GROUP_SUBSCRIBED_TO_TOPIC),
                     (other, 0, NONE), (other, 1, NONE), (other, 5, UNKNOWN_TOPIC_OR_PARTITION),
                     (missing, 0, UNKNOWN_TOPIC_OR_PARTITION)]
    err, parts = offset_fetch(gb.port, 2, joined, None)
    assert [(t, p, o) for t, p, o, *_ in parts] == [(topic, 0, 10)]  # the subscribed one stays
    # a group known only by its offsets has no subscriptions
    assert offset_commit(gb.port, 2, offs_only, [(topic, 0, 1, "", -1), (topic, 1, 2, "", -1)]) == \
        [(topic, 0, NONE), (topic, 1, NONE)]
    assert offset_delete(gb.port, offs_only, [(topic, [1])]) == (NONE, [(topic, 1, NONE)])
    assert [p for _, p, *_ in offset_fetch(gb.port, 2, offs_only, None)[1]] == [0]
    # group-level errors: no topics in the answer
    assert offset_delete(gb.port, gid("odnone"), [(topic, [0])]) == (GROUP_ID_NOT_FOUND, [])
    assert offset_delete(gb.port, "", [(topic, [0])]) == (INVALID_GROUP_ID, [])
    serving(gb.port, topic)


# ---------------------------------------------------------------- durability

def _commit_some(port, topic, g):
    offs = [(topic, 0, 1000, "r0", 1), (topic, 1, 2000, "", -1), (topic, 2, 3000, "r2", 7)]
    assert offset_commit(port, 8, g, offs) == [(topic, 0, NONE), (topic, 1, NONE), (topic, 2, NONE)]
    return [(topic, 0, 1000, 1, "r0", NONE), (topic, 1, 2000, -1, "", NONE), (topic, 2, 3000, 7, "r2", NONE)]


@pytest.mark.parametrize("how", ["restart", "kill9"])
def test_offsets_survive(broker_factory, how):
    b = broker_factory(group_initial_rebalance_delay_ms=0)
    t = harness.unique_name("offw-dur")
    b.create_topic(t, partitions=3)
    g, gone, kept = gid("dur"), gid("durdel"), gid("durdel2")
    want = _commit_some(b.port, t, g)
    _commit_some(b.port, t, gone)
    _commit_some(b.port, t, kept)
    assert offset_delete(b.port, kept, [(t, [1])]) == (NONE, [(t, 1, NONE)])
    assert delete_groups(b.port, 2, [gone]) == [(gone, NONE)]
    # the same group committed again: the later offset wins after reload
    assert offset_commit(b.port, 2, g, [(t, 1, 2500, "again", -1)]) == [(t, 1, NONE)]
    want[1] = (t, 1, 2500, -1, "again", NONE)
    if how == "restart":
        b.restart()
    else:
        b.kill9()
        b.start()
    assert offset_fetch(b.port, 6, g, {t: [0, 1, 2]}) == (NONE, want)
    assert offset_fetch(b.port, 6, gone, None) == (NONE, [])
    assert [p for _, p, *_ in offset_fetch(b.port, 6, kept, None)[1]] == [0, 2]
    err, groups = list_groups(b.port, 4)
    assert groups.get(g) == ("", "Empty", None) and gone not in groups
    serving(b.port, t)


# ---------------------------------------------------------------- expiry (offsets.retention.*)

def test_offsets_expire_and_empty_groups_go(broker_factory):
    """With the retention check every 200 ms: an offset committed with an
    explicit v2 RetentionTimeMs of 300 ms disappears (and stays gone after a
    restart: a tombstone was written), while one without keeps the broker's
    7-day retention; a group that became Empty with no offsets is deleted
    at the next check, as Kafka's cleanup does, and one with offsets stays."""
    from kwire import leave_group_body, parse_leave_group
    b = broker_factory(group_initial_rebalance_delay_ms=0, offsets_retention_check_interval_ms=200)
    t = harness.unique_name("offw-exp")
    b.create_topic(t, partitions=2)
    g, bare, kept = gid("exp"), gid("bare"), gid("kept")
    assert offset_commit(b.port, 2, g, [(t, 0, 11, "short", -1)], retention_ms=300) == [(t, 0, NONE)]
    assert offset_commit(b.port, 2, g, [(t, 1, 22, "long", -1)]) == [(t, 1, NONE)]
    for group, commit in ((bare, False), (kept, True)):
        gen, member, _, _ = join_and_sync(b.port, group, [t], {t: [0, 1]})
        if commit:
            assert offset_commit(b.port, 2, group, [(t, 0, 5, "", -1)], generation=gen,
                                 member=member) == [(t, 0, NONE)]
        with Conn(b.port, timeout=harness.scaled(10)) as c:
            c.send(request_frame(API_LEAVE_GROUP, 0, 7, leave_group_body(0, group, [(member, None)])))
            assert parse_leave_group(c.recv_frame()[4:], 0)[0] == NONE
    deadline = time.monotonic() + harness.scaled(10)
    while time.monotonic() < deadline:
        left = offset_fetch(b.port, 2, g, None)[1]
        groups = list_groups(b.port, 4)[1]
        if len(left) == 1 and bare not in groups:
            break
        time.sleep(0.1)
    assert offset_fetch(b.port, 2, g, None) == (NONE, [(t, 1, 22, None, "long", NONE)])
    groups = list_groups(b.port, 4)[1]
    assert bare not in groups, groups
    assert groups.get(kept) == ("consumer", "Empty", None), groups
    b.restart()
    assert offset_fetch(b.port, 2, g, None) == (NONE, [(t, 1, 22, None, "long", NONE)])
    groups = list_groups(b.port, 4)[1]
    assert bare not in groups and groups.get(kept) == ("consumer", "Empty", None), groups
