"""The Storage contract for requests (storage/base.py), run against every backend."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from .test_contract import NOW, REPLY_KEY, new_record, race_in_processes

pytestmark = pytest.mark.every_backend
NOTE = b"\x01the encrypted note" + bytes(20)


def new_request(lifetime: float = 3600, keep: float = 7 * 86400):
    """A request as the rules would make it: a note, a reply key, one view that is never used."""
    record = new_record(lifetime=lifetime, keep=keep, ciphertext=NOTE, reply_key=REPLY_KEY)
    return dataclasses.replace(record, kind="request")


def created(storage, **options):
    record = new_request(**options)
    storage.create(record)
    return record


def test_a_request_is_live_with_its_kind_and_one_answer_granted(storage):
    record = created(storage)
    assert storage.lookup(record.id, NOW).kind == "request"
    receipt = storage.receipt(record.id, NOW)
    assert (receipt.kind, receipt.state, receipt.replies_left) == ("request", "waiting", 1)
    assert receipt.reply_key == REPLY_KEY


def test_a_secret_says_it_is_a_secret_and_cannot_be_peeked(storage):
    record = new_record()
    storage.create(record)
    assert storage.lookup(record.id, NOW).kind == "secret"
    assert storage.receipt(record.id, NOW).kind == "secret"
    assert storage.peek(record.id, NOW) is None


def test_a_request_is_never_revealed_and_nothing_is_counted(storage):
    record = created(storage)
    assert storage.reveal(record.id, NOW, b"L" * 32, b"A" * 32, 3) is None
    assert storage.reveal(record.id, NOW, b"L" * 32, b"a" * 32, 3) is None
    assert storage.lookup(record.id, NOW).failed_attempts == 0
    assert storage.peek(record.id, NOW) == NOTE


def test_peeking_at_the_note_changes_nothing(storage):
    record = created(storage)
    for second in range(5):
        assert storage.peek(record.id, NOW + second) == NOTE
    assert storage.lookup(record.id, NOW + 5).views_left == 1
    assert storage.receipt(record.id, NOW + 5).state == "waiting"


def test_exactly_one_answer_is_accepted(storage):
    record = created(storage)
    assert storage.post_reply(record.id, b"\x04answer", NOW + 1) == 1
    assert storage.post_reply(record.id, b"\x04second", NOW + 2) == 0
    receipt = storage.receipt(record.id, NOW + 3)
    assert (receipt.state, receipt.replies_left) == ("waiting", 0)
    assert [(r.number, r.read_at) for r in receipt.replies] == [(1, None)]
    assert storage.peek(record.id, NOW + 3) == NOTE  # still shown to a late visitor


def test_reading_the_answer_ends_the_request_and_forgets_the_note(storage):
    record = created(storage)
    storage.post_reply(record.id, b"\x04answer", NOW + 1)
    assert storage.take_reply(record.id, 1, NOW + 2) == b"\x04answer"
    assert storage.take_reply(record.id, 1, NOW + 3) is None
    assert storage.peek(record.id, NOW + 3) is None
    assert storage.lookup(record.id, NOW + 3) is None
    receipt = storage.receipt(record.id, NOW + 3)
    assert (receipt.state, receipt.ended_at) == ("read", NOW + 2)
    assert receipt.replies[0].read_at == NOW + 2


def test_an_expired_request_takes_no_answer_and_gives_none(storage):
    unanswered = created(storage, lifetime=60)
    assert storage.post_reply(unanswered.id, b"\x04late", NOW + 60) is None
    answered = created(storage, lifetime=60)
    storage.post_reply(answered.id, b"\x04in time", NOW + 30)
    assert storage.take_reply(answered.id, 1, NOW + 60) is None
    assert storage.peek(answered.id, NOW + 60) is None
    storage.purge(NOW + 61)
    assert storage.receipt(answered.id, NOW + 61).state == "expired"
    assert storage.take_reply(answered.id, 1, NOW + 30) is None  # its ciphertext is gone


def test_a_burned_request_loses_its_answer_too(storage):
    record = created(storage)
    storage.post_reply(record.id, b"\x04answer", NOW + 1)
    assert storage.burn(record.id, NOW + 2)
    assert storage.take_reply(record.id, 1, NOW + 3) is None
    assert storage.post_reply(record.id, b"\x04again", NOW + 3) is None
    assert storage.receipt(record.id, NOW + 3).state == "burned"


def test_answering_is_atomic_across_threads(storage):
    record = created(storage)
    start = threading.Barrier(16)

    def attempt(n):
        start.wait()
        return storage.post_reply(record.id, b"\x04answer %d" % n, NOW)

    with ThreadPoolExecutor(16) as pool:
        numbers = list(pool.map(attempt, range(16)))
    assert sorted(numbers) == [0] * 15 + [1]
    assert len(storage.receipt(record.id, NOW).replies) == 1


def test_answering_is_atomic_across_processes(storage):
    record = created(storage)
    storage.close()
    outcomes = race_in_processes(lambda: storage.post_reply(record.id, b"\x04mine", NOW) == 1)
    assert sorted(outcomes) == sorted(b"10000000")
    assert [r.number for r in storage.receipt(record.id, NOW).replies] == [1]


def test_two_answerers_at_once_one_wins(storage):
    record = created(storage)
    storage.close()
    outcomes = race_in_processes(lambda: storage.post_reply(record.id, b"\x04mine", NOW) == 1,
                                 processes=2)
    assert sorted(outcomes) == sorted(b"01")


def test_requests_are_counted_apart_from_messages_and_their_replies(storage):
    record = created(storage)
    created(storage)  # never answered
    number = storage.post_reply(record.id, b"\x04the answer", NOW + 1)
    assert storage.take_reply(record.id, number, NOW + 2) == b"\x04the answer"
    counters = storage.counters()
    assert (counters["requests_created"], counters["requests_answered"],
            counters["answers_read"]) == (2, 1, 1)
    assert (counters["secrets_created"], counters["replies_posted"],
            counters["replies_read"]) == (0, 0, 0)
