"""Shared fixtures: settings for tests, a controllable clock, backends, live servers."""

from __future__ import annotations

import pytest

from mayfly import app_rules, create_app
from mayfly.storage import open_storage

from .live import NO_LIMITS, LiveServer
from .redis_servers import RedisClusterServers, RedisServer

# Storage backends the contract and API suites run against. Each entry maps a
# name to a fixture name that yields a MAYFLY_STORAGE_URL.
BACKENDS = ["sqlite", "redis", "redis_cluster"]


class FakeClock:
    """A clock the test moves by hand instead of sleeping."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at a fixed moment."""
    return FakeClock()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite database in the test's temporary directory."""
    return f"sqlite:///{tmp_path}/mayfly.db"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A standalone redis-server (memory only) for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's standalone Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A 3-master Redis Cluster (AOF on) for the whole session."""
    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster) -> str:
    """The session's Redis Cluster, emptied for this test."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
def redis_aof_server(tmp_path):
    """A standalone redis-server of the test's own, with AOF, that it may kill and restart."""
    server = RedisServer(tmp_path / "redis-aof", appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def storage_url(request) -> str:
    """Each backend's storage URL in turn (the suites below run once per backend)."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def storage(storage_url, tmp_path):
    """An open Storage of the current backend."""
    backend = open_storage(storage_url, str(tmp_path))
    yield backend
    backend.close()


@pytest.fixture
def settings_overrides() -> dict:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def app(storage_url, tmp_path, clock, settings_overrides):
    """The application on the current backend, with the fake clock and no rate limits."""
    config = {"storage_url": storage_url, "data_dir": str(tmp_path),
              **{k.removeprefix("MAYFLY_").lower(): v for k, v in NO_LIMITS.items()},
              **settings_overrides}
    app = create_app(config)
    app_rules(app).clock = clock
    yield app
    app_rules(app).storage.close()


@pytest.fixture
def client(app):
    """A Flask test client of ``app``."""
    return app.test_client()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """mayfly under real uWSGI with 5 workers on SQLite, shared by a module."""
    with LiveServer(tmp_path_factory.mktemp("live")) as server:
        yield server
