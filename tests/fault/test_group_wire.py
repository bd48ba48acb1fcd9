"""Classic consumer-group APIs over raw sockets: FindCoordinator (10),
JoinGroup (11), Heartbeat (12), LeaveGroup (13), SyncGroup (14).

One broker for the module (group.initial.rebalance.delay.ms=0 so joins
complete at once, node.id=3 so the coordinator's id is visibly ours, a
small __consumer_offsets). The tests check, version by version where the
encodings differ, the exact answers and Kafka error codes:

  - FindCoordinator v0-4: this broker (node id, advertised host and port,
    the same as Metadata reports), for groups, transactional ids and the
    empty key (Kafka answers that too); key type 7 is INVALID_REQUEST with
    Node.noNode() (-1, "", -1), per key from v4.
  - a whole group life at JoinGroup v0, v5 and v9 (with SyncGroup,
    Heartbeat and LeaveGroup at matching versions, flexible ones included):
    MEMBER_ID_REQUIRED and the rejoin from v4, the leader's member list
    (with group instance ids from v5), a second member forcing a rebalance
    (REBALANCE_IN_PROGRESS to the leader's heartbeat), a follower's SyncGroup
    waiting for the leader's assignments, heartbeats, and leaving (batched
    by member id and by instance id from v3).
  - bad input: an empty, a 1000-entry and a 2 MiB protocol list, an empty
    group id, a session timeout outside the bounds, an empty protocol type,
    unknown groups and members, a wrong generation, a v5 SyncGroup without
    protocol type/name. Each is answered with Kafka's code on a connection
    that stays open, and afterwards a fresh connection still runs a whole
    group (join, sync, heartbeat, leave).
"""

import time

import pytest

import harness
import kwire
from harness import scaled
from kwire import (API_FIND_COORDINATOR, API_HEARTBEAT, API_JOIN_GROUP, API_LEAVE_GROUP,
                   API_SYNC_GROUP, Conn, group_api_flexible, request_frame)

NONE = 0
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
INVALID_REQUEST = 42
MEMBER_ID_REQUIRED = 79

NODE_ID = 3
SESSION_MS = 10000

PARSERS = {
    API_FIND_COORDINATOR: kwire.parse_find_coordinator,
    API_JOIN_GROUP: kwire.parse_join_group,
    API_SYNC_GROUP: kwire.parse_sync_group,
    API_HEARTBEAT: kwire.parse_heartbeat,
    API_LEAVE_GROUP: kwire.parse_leave_group,
}


@pytest.fixture(scope="module")
def gb(_module_broker_factory):
    return _module_broker_factory(name="group-wire", group_initial_rebalance_delay_ms=0,
                                  node_id=NODE_ID, offsets_topic_num_partitions=4)


# ---------------------------------------------------------------- client helpers

class Client:
    """One connection; requests may be sent ahead of reading their answers
    (a JoinGroup or a follower's SyncGroup parks in the broker)."""

    def __init__(self, port):
        self.conn = Conn(port, timeout=scaled(15))
        self.corr = 0
        self.pending = []   # (corr, api, version) in send order

    def close(self):
        self.conn.close()

    def send(self, api, version, body):
        self.corr += 1
        self.conn.send(request_frame(api, version, self.corr, body,
                                     flexible=group_api_flexible(api, version)))
        self.pending.append((self.corr, api, version))

    def recv(self, timeout=None):
        """The next answer (responses come in request order), parsed."""
        corr, api, version = self.pending.pop(0)
        frame = self.conn.recv_frame(scaled(timeout or 15))
        r = kwire.Reader(frame)
        got = r.i32()
        assert got == corr, f"correlation id {got}, expected {corr}"
        if group_api_flexible(api, version):
            r.skip_tags()  # response header v1
        return PARSERS[api](r.rest(), version)

    def call(self, api, version, body):
        self.send(api, version, body)
        return self.recv()

    # ---- one call per API ----
    def find(self, version, key, key_type=0, keys=None):
        return self.call(API_FIND_COORDINATOR, version,
                         kwire.find_coordinator_body(version, key, key_type, keys))

    def join(self, version, group, **kw):
        return self.call(API_JOIN_GROUP, version, kwire.join_group_body(version, group, **kw))

    def sync(self, version, group, gen, member, assignments=(), **kw):
        return self.call(API_SYNC_GROUP, version,
                         kwire.sync_group_body(version, group, gen, member, assignments, **kw))

    def heartbeat(self, version, group, gen, member, instance=None):
        return self.call(API_HEARTBEAT, version,
                         kwire.heartbeat_body(version, group, gen, member, instance))

    def leave(self, version, group, members):
        return self.call(API_LEAVE_GROUP, version, kwire.leave_group_body(version, group, members))


def new_group(tag):
    return harness.unique_name(f"gw-{tag}")


def heartbeat_until(c, version, group, gen, member, want, within=5.0):
    """Heartbeats until the answer is want (True) or within seconds pass
    (False). Only NONE may come before want."""
    deadline = time.monotonic() + scaled(within)
    while True:
        err = c.heartbeat(version, group, gen, member)
        if err == want:
            return True
        assert err == NONE, err
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def join_dynamic(c, version, group, metadata=b"meta"):
    """First join of a dynamic member: from v4 the MEMBER_ID_REQUIRED round
    trip first (checked). Returns the final answer."""
    r = c.join(version, group, protocols=[("range", metadata)])
    if version >= 4:
        assert r["error_code"] == MEMBER_ID_REQUIRED
        assert r["member_id"].startswith(kwire.CLIENT_ID + "-")
        assert r["generation_id"] == -1
        assert r["leader"] == "" and r["members"] == []
        assert r["protocol_name"] == ("" if version < 7 else None)
        r = c.join(version, group, member_id=r["member_id"], protocols=[("range", metadata)])
    return r


def stable_group(port, tag):
    """A one-member Stable group (JoinGroup v0 + SyncGroup v0). Returns
    (client, group, member id, generation)."""
    c = Client(port)
    g = new_group(tag)
    r = c.join(0, g)
    assert r["error_code"] == NONE, r
    s = c.sync(0, g, r["generation_id"], r["member_id"], [(r["member_id"], b"a")])
    assert s["error_code"] == NONE, s
    return c, g, r["member_id"], r["generation_id"]


def assert_serves(gb):
    """A fresh connection finds the coordinator and runs a whole group."""
    c = Client(gb.port)
    try:
        f = c.find(0, "probe")[0]
        assert (f["error_code"], f["node_id"], f["port"]) == (NONE, NODE_ID, gb.port)
        g = new_group("probe")
        r = c.join(0, g)
        assert r["error_code"] == NONE and r["generation_id"] == 1, r
        s = c.sync(0, g, 1, r["member_id"], [(r["member_id"], b"x")])
        assert (s["error_code"], s["assignment"]) == (NONE, b"x")
        assert c.heartbeat(0, g, 1, r["member_id"]) == NONE
        assert c.leave(0, g, [(r["member_id"], None)]) == (NONE, None)
    finally:
        c.close()


# ---------------------------------------------------------------- FindCoordinator

def broker_endpoint(gb):
    with Conn(gb.port) as c:
        md = kwire.parse_metadata(c.request(kwire.API_METADATA, 1, kwire.metadata_v1([])), 1)
    assert len(md["brokers"]) == 1
    return md["brokers"][0]


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_find_coordinator_answers_this_broker(gb, version):
    node = broker_endpoint(gb)
    assert node == (NODE_ID, "127.0.0.1", gb.port)
    c = Client(gb.port)
    try:
        for key_type, key in [(0, "some-group"), (0, ""), (1, "some-txn-id")]:
            if version == 0 and key_type != 0:
                continue
            [r] = c.find(version, key, key_type)
            assert r["error_code"] == NONE, (key_type, key, r)
            assert (r["node_id"], r["host"], r["port"]) == node
            assert r["error_message"] is None
            assert r["key"] == (key if version >= 4 else None)
    finally:
        c.close()


def test_find_coordinator_v4_batch(gb):
    c = Client(gb.port)
    try:
        rs = c.find(4, None, 0, keys=["g-a", "g-b", ""])
        assert [r["key"] for r in rs] == ["g-a", "g-b", ""]
        for r in rs:
            assert (r["error_code"], r["node_id"], r["host"], r["port"]) == \
                (NONE, NODE_ID, "127.0.0.1", gb.port)
        assert c.find(4, None, 0, keys=[]) == []
    finally:
        c.close()


@pytest.mark.parametrize("version", [1, 3, 4])
def test_find_coordinator_unknown_key_type(gb, version):
    c = Client(gb.port)
    try:
        rs = c.find(version, "g", key_type=7, keys=["k1", "k2"] if version >= 4 else None)
        assert len(rs) == (2 if version >= 4 else 1)
        for r in rs:
            assert r["error_code"] == INVALID_REQUEST
            assert (r["node_id"], r["host"], r["port"]) == (-1, "", -1)
            assert r["error_message"]
        # the connection stays usable
        assert c.find(version, "g")[0]["error_code"] == NONE
    finally:
        c.close()
    assert_serves(gb)


# ---------------------------------------------------------------- the happy path

# JoinGroup version -> (SyncGroup, Heartbeat, LeaveGroup) versions: v0 all
# classic; v5 with flexible SyncGroup/Heartbeat/LeaveGroup v4; v9 with the
# newest of each (v5 SyncGroup carries protocol type/name, v5 LeaveGroup
# reasons).
FLOWS = {0: (0, 0, 0), 5: (4, 4, 4), 9: (5, 4, 5)}


def check_join_fields(r, jv, gen, leader, member):
    assert r["error_code"] == NONE, r
    assert r["generation_id"] == gen
    assert r["protocol_name"] == "range"
    assert r["leader"] == leader
    assert r["member_id"] == member
    if jv >= 7:
        assert r["protocol_type"] == "consumer"
    else:
        assert "protocol_type" not in r
    if jv >= 9:
        assert r["skip_assignment"] is False
    if jv >= 2:
        assert r["throttle_time_ms"] == 0


def check_sync(r, sv, assignment):
    assert r["error_code"] == NONE, r
    assert r["assignment"] == assignment
    if sv >= 5:
        assert (r["protocol_type"], r["protocol_name"]) == ("consumer", "range")


@pytest.mark.parametrize("jv", sorted(FLOWS))
def test_group_life(gb, jv):
    sv, hv, lv = FLOWS[jv]
    static = jv >= 5          # member B is static (group.instance.id) where it exists
    inst_b = "inst-b" if static else None
    g = new_group(f"life-v{jv}")
    a, b = Client(gb.port), Client(gb.port)
    try:
        assert a.find(0, g)[0]["error_code"] == NONE

        # A alone: generation 1, A leads and sees itself.
        ra = join_dynamic(a, jv, g, b"meta-a")
        ida = ra["member_id"]
        check_join_fields(ra, jv, 1, ida, ida)
        assert ra["members"] == [(ida, None, b"meta-a")]
        check_sync(a.sync(sv, g, 1, ida, [(ida, b"asg-a1")]), sv, b"asg-a1")
        assert a.heartbeat(hv, g, 1, ida) == NONE

        # B joins: a static member is taken at once, a dynamic one from v4
        # first gets its id. Its join then waits for the rebalance.
        if static:
            b.send(API_JOIN_GROUP, jv, kwire.join_group_body(jv, g, protocols=[("range", b"meta-b")],
                                                               group_instance_id=inst_b))
        else:
            mid = ""
            if jv >= 4:
                r = b.join(jv, g, protocols=[("range", b"meta-b")])
                assert r["error_code"] == MEMBER_ID_REQUIRED
                mid = r["member_id"]
            b.send(API_JOIN_GROUP, jv, kwire.join_group_body(jv, g, member_id=mid,
                                                               protocols=[("range", b"meta-b")]))

        # The leader learns of the rebalance from its heartbeat and rejoins
        # (B's join travels on another connection, hence the retries).
        assert heartbeat_until(a, hv, g, 1, ida, REBALANCE_IN_PROGRESS)
        ra = a.join(jv, g, member_id=ida, protocols=[("range", b"meta-a")])
        rb = b.recv()
        idb = rb["member_id"]
        if static:
            assert idb.startswith(inst_b + "-")
        check_join_fields(ra, jv, 2, ida, ida)
        check_join_fields(rb, jv, 2, ida, idb)
        assert sorted(ra["members"]) == sorted([(ida, None, b"meta-a"), (idb, inst_b, b"meta-b")])
        assert rb["members"] == []          # only the leader gets the list

        # The follower's SyncGroup waits for the leader's assignments.
        b.send(API_SYNC_GROUP, sv, kwire.sync_group_body(sv, g, 2, idb, group_instance_id=inst_b))
        check_sync(a.sync(sv, g, 2, ida, [(ida, b"asg-a2"), (idb, b"asg-b2")]), sv, b"asg-a2")
        check_sync(b.recv(), sv, b"asg-b2")
        assert a.heartbeat(hv, g, 2, ida) == NONE
        assert b.heartbeat(hv, g, 2, idb, inst_b) == NONE

        # Leave: v0-2 one member per request; v3+ both at once, B by its
        # instance id when static.
        if lv < 3:
            assert b.leave(lv, g, [(idb, None)]) == (NONE, None)
            assert a.leave(lv, g, [(ida, None)]) == (NONE, None)
        else:
            mb = ("", inst_b) if static else (idb, None)
            err, members = a.leave(lv, g, [(ida, None), mb])
            assert err == NONE
            assert members == [(ida, None, NONE), (mb[0], mb[1], NONE)]
        assert a.heartbeat(hv, g, 2, ida) == UNKNOWN_MEMBER_ID
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------- bad JoinGroups

def join_error(gb, version, group, expect, **kw):
    """A JoinGroup that must fail with expect; the connection stays open
    (FindCoordinator on it still works) and the broker still serves."""
    c = Client(gb.port)
    try:
        r = c.join(version, group, **kw)
        assert r["error_code"] == expect, r
        assert r["generation_id"] == -1
        assert r["leader"] == "" and r["members"] == []
        assert r["protocol_name"] == ("" if version < 7 else None)
        if version >= 7:
            assert r["protocol_type"] is None
        assert c.find(0, "still-open")[0]["error_code"] == NONE
        return r
    finally:
        c.close()
        assert_serves(gb)


@pytest.mark.parametrize("version", [0, 6])
def test_join_empty_protocol_list(gb, version):
    join_error(gb, version, new_group("noproto"), INCONSISTENT_GROUP_PROTOCOL, protocols=[])


def test_join_1000_protocols(gb):
    protos = [(f"p{i}", b"m") for i in range(1000)]
    join_error(gb, 1, new_group("manyproto"), INVALID_REQUEST, protocols=protos)


@pytest.mark.parametrize("version", [0, 9])
def test_join_2mib_metadata(gb, version):
    join_error(gb, version, new_group("bigmeta"), INVALID_REQUEST,
               protocols=[("range", b"\x5a" * (2 << 20))])


@pytest.mark.parametrize("version", [0, 9])
def test_join_empty_group_id(gb, version):
    r = join_error(gb, version, "", INVALID_GROUP_ID, member_id="someone")
    assert r["member_id"] == "someone"


@pytest.mark.parametrize("timeout_ms", [1000, 1800001])
def test_join_session_timeout_out_of_bounds(gb, timeout_ms):
    # group.min.session.timeout.ms = 6000, group.max.session.timeout.ms = 1800000
    join_error(gb, 5, new_group("session"), INVALID_SESSION_TIMEOUT, session_timeout_ms=timeout_ms)


def test_join_empty_protocol_type(gb):
    join_error(gb, 3, new_group("notype"), INCONSISTENT_GROUP_PROTOCOL, protocol_type="")


# ---------------------------------------------------------------- unknown groups / members

@pytest.mark.parametrize("sv", [0, 3, 5])
def test_sync_unknown_group_and_member(gb, sv):
    c = Client(gb.port)
    try:
        r = c.sync(sv, new_group("nogroup"), 1, "nobody", [("nobody", b"x")])
        assert (r["error_code"], r["assignment"]) == (UNKNOWN_MEMBER_ID, b"")
        if sv >= 5:
            assert (r["protocol_type"], r["protocol_name"]) == (None, None)
        owner, g, mid, gen = stable_group(gb.port, "syncmember")
        r = c.sync(sv, g, gen, "nobody")
        assert r["error_code"] == UNKNOWN_MEMBER_ID
        # the real member is untouched
        assert owner.heartbeat(0, g, gen, mid) == NONE
        owner.close()
    finally:
        c.close()
    assert_serves(gb)


def test_sync_v5_requires_protocol_type_and_name(gb):
    c, g, mid, gen = stable_group(gb.port, "sync5")
    try:
        for pt, pn in [(None, "range"), ("consumer", None)]:
            r = c.sync(5, g, gen, mid, protocol_type=pt, protocol_name=pn)
            assert r["error_code"] == INCONSISTENT_GROUP_PROTOCOL
        r = c.sync(5, g, gen, mid)
        assert (r["error_code"], r["assignment"]) == (NONE, b"a")
    finally:
        c.close()
    assert_serves(gb)


@pytest.mark.parametrize("hv", [0, 3, 4])
def test_heartbeat_errors(gb, hv):
    c = Client(gb.port)
    try:
        assert c.heartbeat(hv, new_group("nogroup"), 1, "nobody") == UNKNOWN_MEMBER_ID
        assert c.heartbeat(hv, "", 1, "nobody") == INVALID_GROUP_ID
        owner, g, mid, gen = stable_group(gb.port, "hb")
        assert c.heartbeat(hv, g, gen, "nobody") == UNKNOWN_MEMBER_ID
        assert c.heartbeat(hv, g, gen + 1, mid) == ILLEGAL_GENERATION
        assert c.heartbeat(hv, g, gen - 1, mid) == ILLEGAL_GENERATION
        assert c.heartbeat(hv, g, gen, mid) == NONE
        owner.close()
    finally:
        c.close()
    assert_serves(gb)


@pytest.mark.parametrize("lv", [0, 2, 3, 4, 5])
def test_leave_unknown_group_and_member(gb, lv):
    c = Client(gb.port)
    try:
        err, members = c.leave(lv, new_group("nogroup"), [("nobody", None)])
        if lv < 3:
            assert (err, members) == (UNKNOWN_MEMBER_ID, None)
        else:
            assert (err, members) == (NONE, [("nobody", None, UNKNOWN_MEMBER_ID)])
        err, members = c.leave(lv, "", [("nobody", None)])
        assert err == INVALID_GROUP_ID
        assert members == (None if lv < 3 else [])
        owner, g, mid, gen = stable_group(gb.port, "leave")
        if lv < 3:
            assert c.leave(lv, g, [("nobody", None)]) == (UNKNOWN_MEMBER_ID, None)
        else:
            err, members = c.leave(lv, g, [("nobody", None), (mid, None), ("", "no-such-instance")])
            assert err == NONE
            assert members == [("nobody", None, UNKNOWN_MEMBER_ID), (mid, None, NONE),
                               ("", "no-such-instance", UNKNOWN_MEMBER_ID)]
            assert owner.heartbeat(0, g, gen, mid) == UNKNOWN_MEMBER_ID
        owner.close()
    finally:
        c.close()
    assert_serves(gb)


# ---------------------------------------------------------------- what JoinGroup stored

def describe_group_v0(port, group):
    """DescribeGroups v0 (key 15) for one group -> (error, state, protocol
    type, protocol, [(member id, client id, client host, metadata,
    assignment)])."""
    with Conn(port) as c:
        body = c.request(15, 0, kwire.Writer().array([group], lambda w, g: w.string(g)).bytes())
    r = kwire.Reader(body)

    def member(r):
        return (r.string(), r.string(), r.string(), r.bytes32(), r.bytes32())

    def grp(r):
        return (r.i16(), r.string(), r.string(), r.string(), r.string(), r.array(member))

    [(err, gid, state, ptype, proto, members)] = r.array(grp)
    r.done()
    assert gid == group
    return err, state, ptype, proto, members


def test_join_records_client_id_and_host(gb):
    c, g, mid, gen = stable_group(gb.port, "describe")
    try:
        err, state, ptype, proto, members = describe_group_v0(gb.port, g)
        assert (err, state, ptype, proto) == (NONE, "Stable", "consumer", "range")
        # Kafka's client host is InetAddress.toString(): "/" + the IP.
        assert members == [(mid, kwire.CLIENT_ID, "/127.0.0.1", b"meta", b"a")]
    finally:
        c.close()
