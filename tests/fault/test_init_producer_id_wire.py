"""InitProducerId (key 22, v0-4) over raw sockets, and producer-id
allocation across restarts and crashes (src/meta/pids.c).

  - every version 0-4 with a null TransactionalId: NONE, a fresh id, epoch
    0, ThrottleTimeMs 0, ids strictly increasing across calls and versions;
  - v3/v4 with the caller's ProducerId/ProducerEpoch: still a fresh id with
    epoch 0 (Kafka hands a non-transactional producer a new id); only one
    of the two set is INVALID_REQUEST;
  - a TransactionalId: "" INVALID_REQUEST, a bad timeout
    INVALID_TRANSACTION_TIMEOUT with id -1 / epoch -1; a valid one gets a
    producer id with epoch 0, and the next InitProducerId for the same id
    the same producer id with epoch 1 (the transaction coordinator; its own
    tests are test_txn_wire.py);
  - ids are handed out from blocks of 1000 reserved durably: after a clean
    stop, after SIGKILL and through metadata snapshots, allocation resumes
    exactly at the end of the highest reserved block, so no id repeats.
"""

import pytest

from kwire import (API_API_VERSIONS, API_INIT_PRODUCER_ID, INIT_PID_FLEX_MIN, Conn,
                   api_versions_body, init_producer_id, parse_api_versions,
                   parse_init_producer_id)

NONE = 0
INVALID_REQUEST = 42
INVALID_TRANSACTION_TIMEOUT = 50
BLOCK = 1000


def init_pid(conn, version, corr=1, **kw):
    body = conn.request(API_INIT_PRODUCER_ID, version, init_producer_id(version, **kw), corr=corr,
                        flexible=version >= INIT_PID_FLEX_MIN)
    return parse_init_producer_id(body, version)


def fresh_ids(port, n, version=4):
    """n fresh producer ids over one connection, each checked."""
    out = []
    with Conn(port) as c:
        for i in range(n):
            throttle, err, pid, epoch = init_pid(c, version, corr=i + 1)
            assert (throttle, err, epoch) == (0, NONE, 0), (i, throttle, err, pid, epoch)
            out.append(pid)
    return out


def test_advertised_range(module_broker):
    with Conn(module_broker.port) as c:
        body = c.request(API_API_VERSIONS, 3, api_versions_body(3), flexible=True,
                         resp_header_v1=False)
    err, keys, _ = parse_api_versions(body, 3)
    assert err == NONE and keys[API_INIT_PRODUCER_ID] == (0, 4)


def test_every_version_gives_fresh_ids(module_broker):
    got = []
    with Conn(module_broker.port) as c:
        for v in range(5):
            for k in range(2):
                throttle, err, pid, epoch = init_pid(c, v, corr=10 * v + k, timeout_ms=-1)
                assert (throttle, err, epoch) == (0, NONE, 0), (v, throttle, err, pid, epoch)
                got.append(pid)
    assert all(p >= 0 for p in got)
    assert got == sorted(got) and len(set(got)) == len(got), got


@pytest.mark.parametrize("version", [3, 4])
def test_known_producer_gets_a_new_id(module_broker, version):
    with Conn(module_broker.port) as c:
        _, err, pid, epoch = init_pid(c, version)
        assert (err, epoch) == (NONE, 0)
        _, err, pid2, epoch2 = init_pid(c, version, corr=2, producer_id=pid, producer_epoch=epoch)
        assert (err, epoch2) == (NONE, 0) and pid2 > pid
        for n, (p, e) in enumerate([(-1, 3), (pid2, -1)]):
            res = init_pid(c, version, corr=3 + n, producer_id=p, producer_epoch=e)
            assert res == (0, INVALID_REQUEST, -1, -1), (p, e, res)


@pytest.mark.parametrize("version", range(5))
def test_transactional_id(module_broker, version):
    bad = [("", 60000, INVALID_REQUEST), ("tx", 0, INVALID_TRANSACTION_TIMEOUT),
           ("tx", -5, INVALID_TRANSACTION_TIMEOUT),
           ("tx", 900001, INVALID_TRANSACTION_TIMEOUT)]   # > transaction.max.timeout.ms
    with Conn(module_broker.port) as c:
        for n, (tid, timeout, want) in enumerate(bad):
            res = init_pid(c, version, corr=n + 1, transactional_id=tid, timeout_ms=timeout)
            assert res == (0, want, -1, -1), (tid, timeout, res)
        tid = f"tx-v{version}"
        throttle, err, pid, epoch = init_pid(c, version, corr=20, transactional_id=tid,
                                             timeout_ms=900000)
        assert (throttle, err, epoch) == (0, NONE, 0) and pid >= 0, (err, pid, epoch)
        # a second instance of the same transactional id: same id, next epoch
        res = init_pid(c, version, corr=21, transactional_id=tid, timeout_ms=60000)
        assert res == (0, NONE, pid, 1), res
        # the connection is still usable and plain producers still get ids
        assert init_pid(c, version, corr=99)[1] == NONE


def test_ids_never_repeat_across_restarts(broker_factory):
    b = broker_factory()
    first = fresh_ids(b.port, BLOCK + 5)          # crosses into the second block
    assert first == list(range(first[0], first[0] + BLOCK + 5))
    base = first[0]
    assert base % BLOCK == 0
    b.restart()                                   # clean stop: rest of block 2 skipped
    after_stop = fresh_ids(b.port, 3)
    assert after_stop == [base + 2 * BLOCK + i for i in range(3)]
    b.kill9()                                     # crash: rest of block 3 skipped
    b.start()
    after_kill = fresh_ids(b.port, 2, version=0)
    assert after_kill == [base + 3 * BLOCK, base + 3 * BLOCK + 1]
    assert b.log_text().count("producer id block") == 4


def test_ids_survive_metadata_snapshots(broker_factory, topic_name):
    # a snapshot after every metadata record: the high-water mark must be
    # carried by the snapshot, since the log restarts empty after it
    b = broker_factory({"metadata.log.max.snapshot.interval.bytes": 1})
    first = fresh_ids(b.port, BLOCK + 1)
    topic = topic_name("after-ids")
    b.create_topic(topic)                         # another snapshot, after the blocks
    b.kill9()
    b.start()
    again = fresh_ids(b.port, 1, version=2)
    assert again == [first[0] + 2 * BLOCK]
    b.wait_topic(topic, 1)
