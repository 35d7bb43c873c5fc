"""The notice queue of the Storage contract (issue #12), on every backend."""

from __future__ import annotations

import dataclasses

import pytest

from .test_contract import NOW, new_record

pytestmark = pytest.mark.every_backend
LEASE = 300


def noticed(views: int = 1, address: str | None = "sender@example.org", **more):
    """A record whose sender asked for notices, in Simplified Chinese."""
    return dataclasses.replace(new_record(views=views, **more), notify_address=address,
                               notify_language="zh_CN" if address else None)


def claim(storage, now: float = NOW, limit: int = 100):
    return storage.claim_notices(now, now + LEASE, limit)


def test_a_view_queues_a_read_notice_with_views_left(storage):
    record = noticed(views=2)
    storage.create(record)
    storage.take(record.id, NOW + 5)
    [notice] = claim(storage, NOW + 6)
    assert (notice.channel, notice.state, notice.views_left) == ("email", "waiting", 1)
    assert (notice.address, notice.language) == ("sender@example.org", "zh_CN")
    assert (notice.at, notice.created_at, notice.attempts) == (NOW + 5, NOW, 1)
    assert notice.event_id == f"{record.id}:read:1"
    storage.take(record.id, NOW + 7)
    [last] = claim(storage, NOW + 8)
    assert (last.state, last.views_left, last.event_id) == ("read", 0, f"{record.id}:read:2")


def test_no_address_and_no_webhook_queue_nothing(storage):
    record = noticed(address=None)
    storage.create(record)
    storage.take(record.id, NOW)
    assert claim(storage) == []


def test_burned_by_attempts_queues_a_failed_notice(storage):
    record = noticed(views=3)
    storage.create(record)
    storage.fail(record.id, NOW, 2)
    assert claim(storage) == []  # one wrong passphrase is no change of state
    storage.fail(record.id, NOW + 1, 2)
    [notice] = claim(storage, NOW + 1)
    assert (notice.state, notice.views_left, notice.event_id) == ("failed", 3,
                                                                  f"{record.id}:failed")


def test_the_sender_is_not_mailed_of_their_own_burn(storage):
    record = noticed()
    storage.create(record)
    storage.burn(record.id, NOW)
    assert claim(storage) == []


def test_expiry_unread_queues_a_notice_when_purged(storage):
    unread, half_read = noticed(lifetime=60), noticed(views=2, lifetime=60)
    for record in (unread, half_read):
        storage.create(record)
    storage.take(half_read.id, NOW)
    claim(storage)  # the view's notice, out of the way (leased)
    storage.purge(NOW + 61)
    [notice] = claim(storage, NOW + 61)
    assert (notice.secret_id, notice.state, notice.at) == (unread.id, "expired", NOW + 60)


def test_the_webhook_hears_of_every_change_without_addresses(storage):
    storage.webhook_events = True
    read, burned, expired = noticed(address=None), noticed(address=None), noticed(lifetime=60)
    for record in (read, burned, expired):
        storage.create(record)
    storage.take(read.id, NOW)
    storage.burn(burned.id, NOW)
    storage.purge(NOW + 61)
    notices = claim(storage, NOW + 61)
    webhook = sorted((n.secret_id, n.state) for n in notices if n.channel == "webhook")
    assert webhook == sorted([(read.id, "read"), (burned.id, "burned"), (expired.id, "expired")])
    assert all(n.address is None for n in notices if n.channel == "webhook")
    assert [(n.secret_id, n.channel) for n in notices if n.channel == "email"] == \
        [(expired.id, "email")]


def test_the_address_leaves_the_secret_when_it_ends(storage):
    record = noticed()
    storage.create(record)
    storage.take(record.id, NOW)
    [notice] = claim(storage)
    storage.notice_done(notice, "notices_sent")
    assert claim(storage, NOW + 2 * LEASE) == []
    assert storage.counters()["notices_sent"] == 1
    assert b"sender@example.org" not in dump(storage)


def test_a_claimed_notice_is_claimed_again_only_after_its_lease(storage):
    record = noticed()
    storage.create(record)
    storage.take(record.id, NOW)
    [first] = claim(storage, NOW)
    assert claim(storage, NOW + LEASE - 1) == []
    [again] = claim(storage, NOW + LEASE)
    assert (again.key, again.event_id, again.attempts) == (first.key, first.event_id, 2)


def test_a_retried_notice_is_due_at_its_time_and_a_dropped_one_is_counted(storage):
    record = noticed()
    storage.create(record)
    storage.take(record.id, NOW)
    [notice] = claim(storage, NOW)
    storage.notice_retry(notice, NOW + 10)
    assert claim(storage, NOW + 9) == []
    [again] = claim(storage, NOW + 10)
    storage.notice_done(again, "notices_dropped")
    assert claim(storage, NOW + 10 * LEASE) == []
    assert storage.counters()["notices_dropped"] == 1


def test_an_expiry_notice_outlives_a_receipt_that_ends_with_the_secret(storage):
    # MAYFLY_RECEIPT_RETENTION=0: the purge that marks the secret expired also
    # ends its receipt; the notice it queued must survive that.
    record = noticed(lifetime=60, keep=0)
    storage.create(record)
    storage.purge(NOW + 61)
    [notice] = claim(storage, NOW + 61)
    assert (notice.state, notice.address, notice.event_id) == (
        "expired", "sender@example.org", f"{record.id}:expired")
    assert storage.receipt(record.id, NOW + 61) is None


def test_a_queued_notice_outlives_its_receipt_until_it_is_sent(storage):
    record = noticed(lifetime=60, keep=0)
    storage.create(record)
    storage.take(record.id, NOW + 59)
    storage.purge(NOW + 61)
    [notice] = claim(storage, NOW + 61)
    assert (notice.state, notice.event_id) == ("read", f"{record.id}:read:1")
    storage.notice_done(notice, "notices_sent")
    assert claim(storage, NOW + 10 * LEASE) == []


def dump(storage) -> bytes:
    """Everything the backend holds, as bytes, to look for a string in."""
    if hasattr(storage, "path"):
        import sqlite3

        with sqlite3.connect(storage.path) as db:
            return "\n".join(db.iterdump()).encode()
    client = storage._redis()
    nodes = [client] if not storage.cluster else [
        client.get_redis_connection(node) for node in client.get_primaries()]
    found = b""
    for node in nodes:
        for key in node.scan_iter(count=1000):
            kind = node.type(key)
            if kind == b"hash":
                found += b" ".join(k + b"=" + v for k, v in node.hgetall(key).items())
            elif kind == b"zset":
                found += b" ".join(node.zrange(key, 0, -1))
    return found
