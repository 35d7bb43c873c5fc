"""What only the SQLite backend does (the shared contract is in test_contract.py)."""

from __future__ import annotations

import time

from mayfly.storage import open_storage
from mayfly.storage.base import NOTICE_GIVE_UP
from mayfly.storage.sqlite import Scrubber

from .test_contract import NOW
from .test_notice_queue import claim, noticed


def test_a_purge_drops_notices_nobody_delivered_for_a_day(sqlite_url, tmp_path):
    # With no worker left to drop them, the addresses must still go.
    storage = open_storage(sqlite_url, str(tmp_path))
    record = noticed(views=2)
    storage.create(record)
    storage.take(record.id, NOW)
    storage.take(record.id, NOW + 1)
    storage.purge(NOW + NOTICE_GIVE_UP)
    [left] = claim(storage, NOW + NOTICE_GIVE_UP)
    assert left.event_id == f"{record.id}:read:2"
    assert storage.counters()["notices_dropped"] == 1
    storage.close()


def test_a_failed_checkpoint_is_retried_until_the_storage_closes():
    calls = []

    def scrub() -> bool:
        calls.append(time.monotonic())
        raise OSError("the data directory is gone")

    scrubber = Scrubber(scrub, delay=0.01)
    scrubber.soon()
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) >= 3  # retried while open
    scrubber.cancel()
    time.sleep(0.1)  # a scrub under way when cancelled may still end
    after = len(calls)
    time.sleep(0.2)
    assert len(calls) == after
