"""What only the Redis backend promises: one slot per secret, Redis TTLs, URLs, outages."""

from __future__ import annotations

import time

import pytest
import redis
from redis.crc import key_slot

from mayfly.errors import ConfigError, StorageUnavailable
from mayfly.storage import open_storage
from mayfly.storage.redis import RedisStorage, _send, parse_cluster_url, secret_keys

from ..live import free_port
from .test_contract import NOW, new_record


@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.slow)
                        for name in ("redis", "redis_cluster")])
def redis_storage(request, tmp_path):
    """A RedisStorage on the standalone server, then on the cluster."""
    backend = open_storage(request.getfixturevalue(f"{request.param}_url"), str(tmp_path))
    yield backend
    backend.close()


def node_holding(backend: RedisStorage, key: str) -> redis.Redis | redis.RedisCluster:
    """A client that answers for ``key`` (the cluster client routes by slot)."""
    return backend._redis()


def test_every_key_of_a_secret_shares_one_hash_slot():
    for n in range(200):
        slots = {key_slot(key.encode()) for key in secret_keys(f"{n:024d}")}
        assert len(slots) == 1


def test_ciphertext_and_receipt_expire_by_redis_ttls(redis_storage):
    record = new_record(lifetime=600, keep=3600)
    redis_storage.create(record)
    receipt_key, secret_key = secret_keys(record.id)[:2]
    client = node_holding(redis_storage, secret_key)
    assert client.pexpiretime(secret_key) == int(record.expires_at * 1000)
    assert client.pexpiretime(receipt_key) == int(record.keep_until * 1000)


def test_a_taken_secret_keeps_no_ciphertext_or_proof_hashes(redis_storage):
    record = new_record()
    redis_storage.create(record)
    redis_storage.take(record.id, NOW)
    receipt_key, secret_key = secret_keys(record.id)[:2]
    client = node_holding(redis_storage, secret_key)
    assert client.exists(secret_key) == 0
    assert set(client.hgetall(receipt_key)) >= {b"state", b"ended_at"}
    assert not {b"ciphertext", b"link_hash", b"access_hash"} & set(client.hgetall(receipt_key))


def test_redis_drops_the_ciphertext_itself_at_expiry(redis_storage):
    now = time.time()
    record = new_record(lifetime=1.0, keep=60)
    record = type(record)(**{**record.__dict__, "created_at": now, "expires_at": now + 1.0,
                             "keep_until": now + 61})
    redis_storage.create(record)
    receipt_key, secret_key = secret_keys(record.id)[:2]
    client = node_holding(redis_storage, secret_key)
    time.sleep(1.3)
    # No purge ran: Redis removed the key on its own.
    assert client.exists(secret_key) == 0
    assert redis_storage.receipt(record.id, time.time()) is not None
    assert redis_storage.counters()["secrets_expired_unread"] == 0
    assert redis_storage.purge(time.time()).expired == 1
    assert redis_storage.counters()["secrets_expired_unread"] == 1
    assert client.hget(receipt_key, "state") == b"expired"


def test_purge_counts_unread_secrets_whose_receipts_redis_already_dropped(redis_storage):
    now = time.time()
    unread, read = new_record(), new_record()
    for record in (unread, read):
        redis_storage.create(type(record)(**{**record.__dict__, "created_at": now,
                                              "expires_at": now + 1, "keep_until": now + 1}))
    redis_storage.take(read.id, now)
    time.sleep(1.3)
    assert redis_storage.receipt(unread.id, time.time()) is None
    purged = redis_storage.purge(time.time())
    assert (purged.expired, purged.receipts) == (1, 2)
    counters = redis_storage.counters()
    assert (counters["secrets_expired_unread"], counters["secrets_read"]) == (1, 1)


@pytest.mark.parametrize(("url", "nodes", "options"), [
    ("redis+cluster://127.0.0.1:7000", [("127.0.0.1", 7000)], {}),
    ("redis+cluster://a:7000,b:7001/", [("a", 7000), ("b", 7001)], {}),
    ("redis+cluster://:s%40cret@a:7000?socket_timeout=1", [("a", 7000)],
     {"password": "s@cret", "socket_timeout": 1.0}),
    ("redis+cluster://me:pw@[::1]:7000", [("::1", 7000)], {"username": "me", "password": "pw"}),
])
def test_cluster_urls_name_nodes_and_options(url, nodes, options):
    parsed, parsed_options = parse_cluster_url(url)
    assert [(node.host, node.port) for node in parsed] == nodes
    assert parsed_options == options


@pytest.mark.parametrize("url", [
    "redis+cluster://",
    "redis+cluster://a,b",
    "redis+cluster://a:7000?ssl=true",
    "redis+cluster://a:7000?socket_timeout=soon",
    "redis://host:notaport",
])
def test_bad_redis_urls_stop_the_start_naming_the_setting(url):
    with pytest.raises(ConfigError, match="MAYFLY_STORAGE_URL"):
        open_storage(url, "/nonexistent")


def test_opening_connects_to_nothing():
    # uWSGI loads the app before forking: no socket may be opened there.
    backend = open_storage(f"redis+cluster://127.0.0.1:{free_port()}", "/nonexistent")
    assert backend._client is None


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
def test_unreachable_redis_is_storage_unavailable_and_quick(scheme):
    backend = open_storage(f"{scheme}://127.0.0.1:{free_port()}", "/nonexistent")
    started = time.monotonic()
    for call in (backend.ping, backend.counters, lambda: backend.create(new_record()),
                 lambda: backend.take("x" * 24, NOW), lambda: backend.receipt("x" * 24, NOW),
                 lambda: backend.purge(NOW)):
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert isinstance(caught.value.__cause__, redis.RedisError | redis.RedisClusterException)
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_restarted_redis_keeps_unread_secrets_and_spent_views(redis_aof_server, tmp_path):
    backend = open_storage(redis_aof_server.url, str(tmp_path))
    records = [new_record(views=2) for _ in range(20)]
    for record in records:
        backend.create(record)
    for record in records[:10]:
        backend.take(record.id, NOW)
        backend.take(record.id, NOW)
    backend.take(records[10].id, NOW)

    redis_aof_server.kill()
    with pytest.raises(StorageUnavailable):
        backend.take(records[11].id, NOW)
    with pytest.raises(StorageUnavailable):
        backend.ping()
    redis_aof_server.start()

    # The same object, without a restart of ours: read ones stay read, unread ones wait.
    backend.ping()
    assert all(backend.take(record.id, NOW) is None for record in records[:10])
    assert backend.take(records[10].id, NOW).views_left == 0
    assert all(backend.lookup(record.id, NOW).views_left == 2 for record in records[11:])
    assert backend.counters()["views_revealed"] == 22
    backend.close()


def test_a_large_argument_goes_to_the_socket_without_a_copy(monkeypatch):
    conn = redis.Connection()  # not connected: what it would send is recorded
    sent = []
    monkeypatch.setattr(conn, "send_packed_command",
                        lambda packed, check_health=True: sent.append(packed))
    value = bytes(1 << 20)
    _send(conn, "EVALSHA", "0" * 40, 1, "key", value)
    assert any(part is value for part in sent[0])
    _send(conn, "EVALSHA", "0" * 40, 1, "key", b"small")
    assert b"$5\r\nsmall\r\n" in b"".join(sent[1])
