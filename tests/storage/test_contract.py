"""The Storage contract (storage/base.py), run against every backend."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mayfly.storage.base import COUNTERS, NewRecord, ReplyKey

pytestmark = pytest.mark.every_backend
NOW = 1_800_000_000.0


REPLY_KEY = ReplyKey(public_key=b"\x04" + b"P" * 64, wrapped_key=b"\x01" + b"W" * 60)


def new_record(views: int = 1, lifetime: float = 3600, keep: float = 7 * 86400,
               ciphertext: bytes = b"\x01" + bytes(40), kdf: dict | None = None,
               reply_key: ReplyKey | None = None) -> NewRecord:
    """A record as the rules would make it, with a random id."""
    return NewRecord(
        id=os.urandom(18).hex()[:24],
        ciphertext=ciphertext,
        link_hash=b"L" * 32,
        access_hash=b"A" * 32,
        kdf=kdf,
        manage_hash=b"M" * 32,
        created_at=NOW,
        expires_at=NOW + lifetime,
        keep_until=NOW + lifetime + keep,
        max_views=views,
        reply_key=reply_key,
    )


def race_in_processes(attempt, processes: int = 8) -> bytes:
    """Run ``attempt`` in forked processes at once; one byte each: b"1" if it got something."""
    children = []
    read_end, write_end = os.pipe()
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.write(write_end, b"1" if attempt() else b"0")
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    os.close(write_end)
    outcomes = os.read(read_end, 64)
    os.close(read_end)
    return outcomes


def test_lookup_returns_what_create_stored(storage):
    kdf = {"name": "PBKDF2-HMAC-SHA256", "salt": "AAAAAAAAAAAAAAAAAAAAAA", "iterations": 600000}
    record = new_record(views=3, kdf=kdf)
    storage.create(record)
    live = storage.lookup(record.id, NOW)
    assert (live.link_hash, live.access_hash, live.kdf) == (b"L" * 32, b"A" * 32, kdf)
    assert (live.views_left, live.max_views, live.failed_attempts) == (3, 3, 0)
    assert live.expires_at == record.expires_at


def test_lookup_of_unknown_id_is_none(storage):
    assert storage.lookup("x" * 24, NOW) is None


def test_take_hands_out_the_ciphertext_and_counts_down(storage):
    record = new_record(views=2, ciphertext=b"\x01secret bytes" + bytes(30))
    storage.create(record)
    first = storage.take(record.id, NOW + 1)
    assert (first.ciphertext, first.views_left) == (record.ciphertext, 1)
    second = storage.take(record.id, NOW + 2)
    assert second.views_left == 0
    assert storage.take(record.id, NOW + 3) is None
    assert storage.lookup(record.id, NOW + 3) is None


@pytest.mark.parametrize("size", [256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024 + 7])
def test_a_large_ciphertext_comes_back_whole_at_each_view(storage, size):
    ciphertext = b"\x01" + os.urandom(size - 1)
    record = new_record(views=2, ciphertext=bytearray(ciphertext))
    storage.create(record)
    assert storage.take(record.id, NOW + 1).ciphertext == ciphertext
    assert storage.take(record.id, NOW + 2).ciphertext == ciphertext
    assert storage.take(record.id, NOW + 3) is None


def test_a_large_reply_comes_back_whole_once(storage):
    ciphertext = b"\x04" + os.urandom(1024 * 1024 + 3)
    record = new_record(reply_key=REPLY_KEY)
    storage.create(record)
    storage.take(record.id, NOW + 1)
    number = storage.post_reply(record.id, bytearray(ciphertext), NOW + 2)
    assert storage.take_reply(record.id, number, NOW + 3) == ciphertext
    assert storage.take_reply(record.id, number, NOW + 4) is None


def test_secret_is_gone_after_last_view_but_receipt_remains(storage):
    record = new_record()
    storage.create(record)
    storage.take(record.id, NOW + 5)
    receipt = storage.receipt(record.id, NOW + 6)
    assert receipt.state == "read"
    assert (receipt.first_read_at, receipt.last_read_at, receipt.ended_at) == (NOW + 5,) * 3
    assert receipt.views_left == 0


def test_expired_secret_is_not_live_even_before_purge(storage):
    record = new_record(lifetime=60)
    storage.create(record)
    assert storage.lookup(record.id, NOW + 59.9) is not None
    assert storage.lookup(record.id, NOW + 60) is None
    assert storage.take(record.id, NOW + 60) is None
    assert storage.fail(record.id, NOW + 60, 5) is None
    assert storage.burn(record.id, NOW + 60) is False
    # What was stored, until a purge marks it: calling it expired is the rules' job.
    assert storage.receipt(record.id, NOW + 61).state == "waiting"


def test_fail_counts_attempts_and_burns_at_the_limit(storage):
    record = new_record()
    storage.create(record)
    assert [storage.fail(record.id, NOW, 3) for _ in range(3)] == [2, 1, 0]
    assert storage.lookup(record.id, NOW) is None
    assert storage.take(record.id, NOW) is None
    receipt = storage.receipt(record.id, NOW)
    assert (receipt.state, receipt.failed_attempts) == ("failed", 3)


LINK, ACCESS = b"L" * 32, b"A" * 32  # the digests new_record stores


def test_reveal_with_both_digests_right_takes_a_view(storage):
    record = new_record(views=2, ciphertext=b"\x01secret bytes" + bytes(30),
                        reply_key=REPLY_KEY)
    storage.create(record)
    revealed = storage.reveal(record.id, NOW + 1, LINK, ACCESS, 3)
    assert (revealed.wrong_link, revealed.attempts_left) == (False, None)
    assert revealed.taken.ciphertext == record.ciphertext
    assert revealed.taken.views_left == 1
    assert revealed.taken.reply_public_key == REPLY_KEY.public_key
    assert storage.reveal(record.id, NOW + 2, LINK, ACCESS, 3).taken.views_left == 0
    assert storage.reveal(record.id, NOW + 3, LINK, ACCESS, 3) is None
    receipt = storage.receipt(record.id, NOW + 3)
    assert (receipt.state, receipt.replies_left) == ("read", 2)


def test_reveal_of_a_secret_without_reply_key_has_none(storage):
    record = new_record()
    storage.create(record)
    assert storage.reveal(record.id, NOW, LINK, ACCESS, 3).taken.reply_public_key is None


def test_reveal_with_a_wrong_link_digest_counts_nothing(storage):
    record = new_record()
    storage.create(record)
    for wrong in (b"l" * 32, b"L" * 31 + b"l", b"", b"L" * 33):
        assert storage.reveal(record.id, NOW, wrong, ACCESS, 3).wrong_link is True
    live = storage.lookup(record.id, NOW)
    assert (live.views_left, live.failed_attempts) == (1, 0)
    assert storage.counters()["failed_attempts"] == 0


def test_reveal_with_a_wrong_access_digest_counts_an_attempt_and_burns_at_the_limit(storage):
    record = new_record()
    storage.create(record)
    lefts = [storage.reveal(record.id, NOW, LINK, b"a" * 32, 3).attempts_left
             for _ in range(3)]
    assert lefts == [2, 1, 0]
    assert storage.reveal(record.id, NOW, LINK, ACCESS, 3) is None
    receipt = storage.receipt(record.id, NOW)
    assert (receipt.state, receipt.failed_attempts) == ("failed", 3)
    assert storage.counters()["secrets_burned_by_attempts"] == 1


def test_reveal_of_an_unknown_or_expired_id_is_none(storage):
    record = new_record(lifetime=60)
    storage.create(record)
    assert storage.reveal("x" * 24, NOW, LINK, ACCESS, 3) is None
    assert storage.reveal(record.id, NOW + 60, LINK, ACCESS, 3) is None
    assert storage.reveal(record.id, NOW + 60, b"l" * 32, ACCESS, 3) is None
    assert storage.receipt(record.id, NOW + 60).views_left == 1


def test_reveal_is_atomic_across_threads(storage):
    record = new_record(views=3)
    storage.create(record)
    start = threading.Barrier(16)

    def attempt(_):
        start.wait()
        return storage.reveal(record.id, NOW, LINK, ACCESS, 3)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    winners = [r.taken for r in results if r is not None]
    assert sorted(w.views_left for w in winners) == [0, 1, 2]


def test_burn_destroys_a_live_secret_once(storage):
    record = new_record()
    storage.create(record)
    assert storage.burn(record.id, NOW + 1) is True
    assert storage.burn(record.id, NOW + 2) is False
    assert storage.take(record.id, NOW + 3) is None
    assert storage.receipt(record.id, NOW + 3).state == "burned"


def test_receipt_disappears_at_keep_until(storage):
    record = new_record(lifetime=60, keep=100)
    storage.create(record)
    assert storage.receipt(record.id, NOW + 159) is not None
    assert storage.receipt(record.id, NOW + 160) is None


def test_purge_removes_expired_ciphertexts_and_old_receipts(storage):
    expiring, lasting = new_record(lifetime=60, keep=100), new_record(lifetime=3600)
    storage.create(expiring)
    storage.create(lasting)
    purged = storage.purge(NOW + 61)
    assert purged.expired == 1
    assert storage.receipt(expiring.id, NOW + 61).state == "expired"
    assert storage.purge(NOW + 161).receipts == 1
    assert storage.receipt(expiring.id, NOW + 61) is None
    assert storage.take(lasting.id, NOW + 161) is not None


def test_scrub_leaves_the_secrets_and_says_what_it_did(storage):
    kept, taken = new_record(views=2), new_record()
    storage.create(kept)
    storage.create(taken)
    storage.take(taken.id, NOW)
    assert storage.scrub()
    assert storage.lookup(kept.id, NOW).views_left == 2
    assert storage.take(taken.id, NOW) is None
    assert storage.receipt(taken.id, NOW).state == "read"


def test_counters_count_every_outcome(storage):
    assert storage.counters() == dict.fromkeys(COUNTERS, 0)
    read, failed, burned, expired = (new_record() for _ in range(4))
    for record in (read, failed, burned, expired):
        storage.create(record)
    storage.take(read.id, NOW)
    storage.fail(failed.id, NOW, 2)
    storage.fail(failed.id, NOW, 2)
    storage.burn(burned.id, NOW)
    storage.purge(NOW + 3601)
    assert storage.counters() == {
        "secrets_created": 4,
        "views_revealed": 1,
        "secrets_read": 1,
        "secrets_expired_unread": 1,
        "secrets_burned_by_sender": 1,
        "secrets_burned_by_attempts": 1,
        "failed_attempts": 2,
        "replies_posted": 0,
        "replies_read": 0,
        "requests_created": 0,
        "requests_answered": 0,
        "answers_read": 0,
        "notices_sent": 0,
        "notices_dropped": 0,
    }


@pytest.mark.parametrize("views", [1, 3])
def test_take_is_atomic_across_threads(storage, views):
    record = new_record(views=views)
    storage.create(record)
    start = threading.Barrier(16)

    def attempt(_):
        start.wait()
        return storage.take(record.id, NOW)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    winners = [r for r in results if r is not None]
    assert len(winners) == views
    assert sorted(w.views_left for w in winners) == list(range(views))


def test_take_is_atomic_across_processes(storage):
    # Forked children each open their own connection, as uWSGI workers do.
    record = new_record()
    storage.create(record)
    storage.close()
    outcomes = race_in_processes(lambda: storage.take(record.id, NOW))
    assert sorted(outcomes) == sorted(b"10000000")


def test_a_secret_without_a_reply_key_takes_no_reply(storage):
    record = new_record()
    storage.create(record)
    storage.take(record.id, NOW)
    receipt = storage.receipt(record.id, NOW)
    assert (receipt.reply_key, receipt.reply_hash, receipt.replies_left) == (None, None, 0)
    assert storage.post_reply(record.id, b"\x04reply", NOW) is None


def test_each_view_grants_one_reply_and_the_receipt_keeps_the_reply_key(storage):
    record = new_record(views=2, reply_key=REPLY_KEY)
    storage.create(record)
    assert storage.lookup(record.id, NOW).reply_public_key == REPLY_KEY.public_key
    assert storage.post_reply(record.id, b"\x04early", NOW) == 0  # nobody has read it yet
    storage.take(record.id, NOW + 1)
    storage.take(record.id, NOW + 2)  # the last view: the secret forgets its proofs
    receipt = storage.receipt(record.id, NOW + 3)
    assert (receipt.state, receipt.replies_left) == ("read", 2)
    assert receipt.reply_key == REPLY_KEY
    assert receipt.reply_hash == record.link_hash
    assert storage.post_reply(record.id, b"\x04first", NOW + 4) == 1
    assert storage.post_reply(record.id, b"\x04second", NOW + 5) == 2
    assert storage.post_reply(record.id, b"\x04third", NOW + 6) == 0
    replies = storage.receipt(record.id, NOW + 7).replies
    assert [(r.number, r.created_at, r.read_at) for r in replies] == [
        (1, NOW + 4, None), (2, NOW + 5, None)]


def test_a_reply_is_taken_once_then_only_its_time_remains(storage):
    record = new_record(reply_key=REPLY_KEY)
    storage.create(record)
    storage.take(record.id, NOW)
    number = storage.post_reply(record.id, b"\x04the reply", NOW + 1)
    assert storage.take_reply(record.id, number, NOW + 2) == b"\x04the reply"
    assert storage.take_reply(record.id, number, NOW + 3) is None
    assert storage.take_reply(record.id, number + 1, NOW + 3) is None
    (reply,) = storage.receipt(record.id, NOW + 4).replies
    assert reply.read_at == NOW + 2
    counters = storage.counters()
    assert (counters["replies_posted"], counters["replies_read"]) == (1, 1)


def test_replies_live_no_longer_than_their_receipt(storage):
    record = new_record(lifetime=60, keep=100, reply_key=REPLY_KEY)
    storage.create(record)
    storage.take(record.id, NOW)
    number = storage.post_reply(record.id, b"\x04unread reply", NOW + 1)
    assert storage.take_reply(record.id, number, NOW + 160) is None
    assert storage.post_reply(record.id, b"\x04late", NOW + 160) is None
    storage.purge(NOW + 161)
    assert storage.receipt(record.id, NOW + 1) is None
    assert storage.take_reply(record.id, number, NOW + 1) is None


def test_posting_replies_is_atomic_across_threads(storage):
    record = new_record(views=3, reply_key=REPLY_KEY)
    storage.create(record)
    for _ in range(3):
        storage.take(record.id, NOW)
    start = threading.Barrier(16)

    def attempt(n):
        start.wait()
        return storage.post_reply(record.id, b"\x04reply %d" % n, NOW)

    with ThreadPoolExecutor(16) as pool:
        numbers = list(pool.map(attempt, range(16)))
    assert sorted(n for n in numbers if n) == [1, 2, 3]
    assert numbers.count(0) == 13


def test_taking_a_reply_is_atomic_across_threads(storage):
    record = new_record(reply_key=REPLY_KEY)
    storage.create(record)
    storage.take(record.id, NOW)
    number = storage.post_reply(record.id, b"\x04only once", NOW)
    start = threading.Barrier(16)

    def attempt(_):
        start.wait()
        return storage.take_reply(record.id, number, NOW)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    assert [r for r in results if r is not None] == [b"\x04only once"]


def test_taking_a_reply_is_atomic_across_processes(storage):
    record = new_record(reply_key=REPLY_KEY)
    storage.create(record)
    storage.take(record.id, NOW)
    number = storage.post_reply(record.id, b"\x04only once", NOW)
    storage.close()
    outcomes = race_in_processes(lambda: storage.take_reply(record.id, number, NOW))
    assert sorted(outcomes) == sorted(b"10000000")
