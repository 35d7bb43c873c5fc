"""What only the SQLite backend does (the shared contract is in test_contract.py)."""

from __future__ import annotations

from mayfly.storage import open_storage
from mayfly.storage.base import NOTICE_GIVE_UP

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
