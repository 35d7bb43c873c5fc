"""Who purges under uWSGI: the notices mule where one runs, else the workers' writes."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from mayfly import app_rules, create_app
from mayfly.notices.mule import purges_for_this_worker

from ..helpers import make_secret

MULE = b"/srv/mayfly/lib/python3.11/site-packages/mayfly/notices/mule.py"


def fake_uwsgi(monkeypatch, mule: object, mule_id: int = 0) -> None:
    """A ``uwsgi`` module as a worker (mule_id 0) or a mule sees it."""
    opt = {"master": True} if mule is None else {"master": True, "mule": mule}
    monkeypatch.setitem(sys.modules, "uwsgi", SimpleNamespace(opt=opt, mule_id=lambda: mule_id))


def test_outside_uwsgi_the_writes_purge():
    assert not purges_for_this_worker()


@pytest.mark.parametrize(("mule", "mule_id", "expected"), [
    (MULE, 0, True),  # a worker beside the notices mule
    ([b"/srv/other.py", MULE], 0, True),
    (MULE, 1, False),  # the mule itself
    (None, 0, False),  # no notices configured: no mule
    (b"/srv/other.py", 0, False),  # another mule than ours: the writes still purge
])
def test_a_worker_leaves_the_purge_to_the_notices_mule(monkeypatch, mule, mule_id, expected):
    fake_uwsgi(monkeypatch, mule, mule_id)
    assert purges_for_this_worker() is expected


def test_beside_the_mule_a_write_does_not_purge(monkeypatch, tmp_path, clock):
    fake_uwsgi(monkeypatch, MULE)
    app = create_app({"data_dir": str(tmp_path), "rate_limit_create": ""})
    rules = app_rules(app)
    rules.clock = clock
    old = make_secret(app.test_client(), expires_in=300)
    clock.advance(301)
    make_secret(app.test_client())  # past purge_interval: without a mule this write purges
    assert rules.storage.lookup(old.id, clock() - 302) is not None  # not purged
    assert rules.purge().expired == 1  # as the mule's purge will
