"""Exactly once under real concurrency: uWSGI, 5 worker processes, over HTTP.

Reveals race on SQLite; replies (reading one, posting them) and answers to
requests on every backend.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mayfly.crypto import b64decode, b64encode

from .helpers import Made, make_secret
from .live import LiveServer
from .test_api_replies import REPLY_KEY, sealed_reply

pytestmark = pytest.mark.slow

SECRETS = 200
READERS = 20
# Reply races: this many messages, each raced by this many clients at once.
REPLIED = 40
CLIENTS = 16


def create_many(url: str, count: int, max_views: int) -> list[Made]:
    """Create secrets over HTTP with random proofs."""
    with requests.Session() as session:
        return [make_secret(session, base=url, max_views=max_views) for _ in range(count)]


def concurrently(attempt, jobs: list, threads: int) -> list:
    """Run ``attempt(session, job)`` for every job, ``threads`` at a time, one session a thread.

    Jobs for one secret stand next to each other, so they are in flight together.
    """
    local = threading.local()

    def run(job):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return attempt(local.session, job)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(run, jobs))


def race(url: str, made: list[Made], readers: int) -> tuple[dict[str, int], float, int]:
    """Fire ``readers`` concurrent reveals at every secret; count the 200s per secret."""

    def attempt(session: requests.Session, secret: Made) -> tuple[str, int]:
        response = session.post(f"{url}/api/v1/secrets/{secret.id}/reveal",
                                json=secret.proofs(), timeout=60)
        return secret.id, response.status_code

    jobs = [secret for secret in made for _ in range(readers)]
    started = time.perf_counter()
    outcomes = concurrently(attempt, jobs, 2 * readers)
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


def problem_type(response: requests.Response) -> str:
    """The last part of an RFC 9457 problem's type; anything else (a 500 page) fails."""
    assert response.headers["Content-Type"] == "application/problem+json", (
        response.status_code, response.text[:500])
    problem = response.json()
    assert problem["status"] == response.status_code and problem["title"], problem
    return problem["type"].rsplit("/", 1)[-1]


def read_message(session: requests.Session, url: str, made: Made) -> None:
    """Reveal the message once, as its reader: one view spent, one reply granted."""
    response = session.post(f"{url}/api/v1/secrets/{made.id}/reveal", json=made.proofs(),
                            timeout=60)
    assert response.status_code == 200, response.text


def post_reply(session: requests.Session, url: str, made: Made, blob: bytes):
    """Post a sealed reply with the message's link proof."""
    return session.post(f"{url}/api/v1/secrets/{made.id}/replies", timeout=60,
                        json={"link_proof": b64encode(made.link_proof),
                              "ciphertext": b64encode(blob)})


def take_reply(session: requests.Session, url: str, made: Made, number: int):
    """The sender takes reply ``number`` with the manage token."""
    return session.post(f"{url}/api/v1/secrets/{made.id}/replies/{number}/reveal",
                        headers=made.auth(), timeout=60)


@pytest.fixture
def backend_server(backend, storage_url, tmp_path):
    """A 5-worker uWSGI server on the current backend (a fresh database or emptied Redis)."""
    with LiveServer(tmp_path, processes=5, env={"MAYFLY_STORAGE_URL": storage_url}) as live:
        yield live


@pytest.mark.every_backend
def test_a_reply_raced_by_its_senders_is_handed_out_exactly_once(backend_server):
    url = backend_server.url
    sent: dict[str, bytes] = {}
    with requests.Session() as session:
        made = [make_secret(session, base=url, reply_key=REPLY_KEY) for _ in range(REPLIED)]
        for n, secret in enumerate(made):
            read_message(session, url, secret)
            sent[secret.id] = sealed_reply(f"reply {n}")
            posted = post_reply(session, url, secret, sent[secret.id])
            assert (posted.status_code, posted.json()) == (201, {"number": 1}), posted.text

    def attempt(session: requests.Session, secret: Made) -> tuple[str, int, bytes | str]:
        response = take_reply(session, url, secret, 1)
        if response.status_code == 200:
            return secret.id, 200, b64decode(response.json()["ciphertext"])
        return secret.id, response.status_code, problem_type(response)

    outcomes = concurrently(attempt, [m for m in made for _ in range(CLIENTS)], 2 * CLIENTS)
    assert Counter((status, got) for _, status, got in outcomes if status != 200) == {
        (404, "gone"): REPLIED * (CLIENTS - 1)}
    winners = Counter(secret_id for secret_id, status, _ in outcomes if status == 200)
    assert winners == dict.fromkeys(sent, 1)
    assert {secret_id: got for secret_id, status, got in outcomes if status == 200} == sent


@pytest.mark.every_backend
def test_replies_raced_by_readers_are_accepted_exactly_once_per_grant(backend_server):
    url = backend_server.url
    made: list[Made] = []
    grants: dict[str, int] = {}  # 1, 2 or 3 views read, so as many replies allowed
    with requests.Session() as session:
        for n in range(REPLIED):
            secret = make_secret(session, base=url, reply_key=REPLY_KEY, max_views=1 + n % 3)
            grants[secret.id] = 1 + n % 3
            for _ in range(grants[secret.id]):
                read_message(session, url, secret)
            made.append(secret)
    # Every reader's reply is its own, so a stored reply says whose post it was.
    jobs = [(secret, sealed_reply(f"{secret.id} {n}")) for secret in made for n in range(CLIENTS)]

    def attempt(session: requests.Session, job) -> tuple[str, int, int | str, bytes]:
        secret, blob = job
        response = post_reply(session, url, secret, blob)
        if response.status_code == 201:
            return secret.id, 201, response.json()["number"], blob
        return secret.id, response.status_code, problem_type(response), blob

    outcomes = concurrently(attempt, jobs, 2 * CLIENTS)
    assert Counter((status, got) for _, status, got, _ in outcomes if status != 201) == {
        (409, "no-replies-left"): REPLIED * CLIENTS - sum(grants.values())}
    accepted = [(secret_id, number, blob) for secret_id, status, number, blob in outcomes
                if status == 201]
    assert sorted((secret_id, number) for secret_id, number, _ in accepted) == sorted(
        (secret_id, number) for secret_id, allowed in grants.items()
        for number in range(1, allowed + 1))
    blobs = {(secret_id, number): blob for secret_id, number, blob in accepted}

    # What the sender finds is exactly what was accepted: nothing lost, nothing extra.
    with requests.Session() as session:
        for secret in made:
            receipt = session.get(f"{url}/api/v1/secrets/{secret.id}/receipt",
                                  headers=secret.auth(), timeout=60).json()
            assert receipt["replies_left"] == 0
            numbers = list(range(1, grants[secret.id] + 1))
            assert [r["number"] for r in receipt["replies"]] == numbers
            for number in numbers:
                taken = take_reply(session, url, secret, number)
                assert taken.status_code == 200, taken.text
                assert b64decode(taken.json()["ciphertext"]) == blobs[secret.id, number]


class AsFlaskClient:
    """A requests session to a live server, posting as a Flask test client does."""

    def __init__(self, session: requests.Session, url: str):
        self.session, self.url = session, url

    def post(self, path: str, json: dict) -> requests.Response:
        response = self.session.post(self.url + path, json=json, timeout=60)
        response.get_json = response.json
        response.get_data = lambda as_text=False: response.text
        return response


@pytest.mark.every_backend
def test_a_request_raced_by_its_answerers_takes_exactly_one_answer(backend_server):
    from .test_api_requests import make_request, proofs

    url = backend_server.url
    with requests.Session() as session:
        asked = [make_request(AsFlaskClient(session, url)) for _ in range(REPLIED)]
    jobs = [(made, sealed_reply(f"{made['id']} {n}")) for made in asked for n in range(CLIENTS)]

    def attempt(session: requests.Session, job) -> tuple[str, int, str, bytes]:
        made, blob = job
        response = session.post(f"{url}/api/v1/requests/{made['id']}/answer", timeout=60,
                                json={**proofs(made), "ciphertext": b64encode(blob)})
        if response.status_code == 201:
            return made["id"], 201, "", blob
        return made["id"], response.status_code, problem_type(response), blob

    outcomes = concurrently(attempt, jobs, 2 * CLIENTS)
    assert Counter((status, got) for _, status, got, _ in outcomes if status != 201) == {
        (409, "already-answered"): REPLIED * (CLIENTS - 1)}
    won = {request_id: blob for request_id, status, _, blob in outcomes if status == 201}
    assert sorted(won) == sorted(made["id"] for made in asked)
    # The asker reads exactly the answer that was accepted, once.
    with requests.Session() as session:
        for made in asked:
            taken = session.post(f"{url}/api/v1/secrets/{made['id']}/replies/1/reveal",
                                 headers=made["auth"], timeout=60)
            assert b64decode(taken.json()["ciphertext"]) == won[made["id"]]
