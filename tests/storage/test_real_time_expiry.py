"""A short lifetime, on the real clock, on every backend (the only sleep in the suites)."""

from __future__ import annotations

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
