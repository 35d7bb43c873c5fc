"""Exactly once under real concurrency: uWSGI, 5 worker processes, SQLite."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .helpers import Made, make_secret
from .live import LiveServer

pytestmark = pytest.mark.slow

SECRETS = 200
READERS = 20


def create_many(url: str, count: int, max_views: int) -> list[Made]:
    """Create secrets over HTTP with random proofs."""
    with requests.Session() as session:
        return [make_secret(session, base=url, max_views=max_views) for _ in range(count)]


def race(url: str, made: list[Made], readers: int) -> tuple[dict[str, int], float, int]:
    """Fire ``readers`` concurrent reveals at every secret; count the 200s per secret."""
    local = threading.local()

    def attempt(secret: Made) -> tuple[str, int]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.post(f"{url}/api/v1/secrets/{secret.id}/reveal",
                                      json=secret.proofs(), timeout=60)
        return secret.id, response.status_code

    jobs = [secret for secret in made for _ in range(readers)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2 * readers) as pool:
        outcomes = list(pool.map(attempt, jobs))
    elapsed = time.perf_counter() - started
    wins = dict.fromkeys((m.id for m in made), 0)
    for secret_id, status in outcomes:
        assert status in (200, 404), status
        wins[secret_id] += status == 200
    return wins, elapsed, len(jobs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A 5-worker uWSGI server on SQLite."""
    with LiveServer(tmp_path_factory.mktemp("exactly-once"), processes=5) as live:
        yield live


@pytest.mark.parametrize("max_views", [1, 3])
def test_each_secret_is_revealed_exactly_max_views_times(server, max_views):
    made = create_many(server.url, SECRETS, max_views)
    wins, elapsed, requests_sent = race(server.url, made, READERS)
    assert sorted(set(wins.values())) == [max_views]
    assert sum(wins.values()) == SECRETS * max_views
    print(f"\nmax_views={max_views}: {requests_sent} reveals in {elapsed:.2f} s "
          f"= {requests_sent / elapsed:.0f} requests/s, {sum(wins.values())} succeeded")


def test_a_revealed_secret_stays_burned_after_the_server_is_killed(tmp_path):
    with LiveServer(tmp_path, processes=2) as live:
        (made,) = create_many(live.url, 1, 1)
        first = requests.post(f"{live.url}/api/v1/secrets/{made.id}/reveal", json=made.proofs())
        assert first.status_code == 200
        live.kill()  # no clean shutdown: every process of the server at once
    with LiveServer(tmp_path, processes=2) as again:
        second = requests.post(f"{again.url}/api/v1/secrets/{made.id}/reveal",
                               json=made.proofs())
        assert second.status_code == 404
