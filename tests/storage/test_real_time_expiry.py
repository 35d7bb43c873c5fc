"""A short lifetime, on the real clock, on every backend (the only sleep in the suites)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from .test_contract import new_record

pytestmark = pytest.mark.every_backend


def test_secret_with_a_two_second_lifetime_is_gone_after_it(storage):
    now = time.time()
    record = new_record()
    record = type(record)(**{**record.__dict__, "created_at": now, "expires_at": now + 2,
                             "keep_until": now + 60})
    storage.create(record)
    assert storage.lookup(record.id, time.time()) is not None
    time.sleep(max(0.0, now + 2.05 - time.time()))
    assert storage.lookup(record.id, time.time()) is None
    assert storage.take(record.id, time.time()) is None
    assert storage.receipt(record.id, time.time()) is not None


def test_an_unread_secret_without_receipt_retention_still_queues_its_expiry_notice(storage):
    # Redis deletes keys on its own clock: the receipt, which holds the address,
    # must not be gone before the purge that notices the expiry.
    now = time.time()
    record = dataclasses.replace(new_record(), created_at=now, expires_at=now + 1,
                                 keep_until=now + 1, notify_address="sender@example.org",
                                 notify_language="en")
    storage.create(record)
    time.sleep(max(0.0, now + 1.2 - time.time()))
    storage.purge(time.time())
    notices = storage.claim_notices(time.time(), time.time() + 60, 10)
    assert [(notice.state, notice.address) for notice in notices] == [
        ("expired", "sender@example.org")]
