"""Shared fixtures: settings for tests, a controllable clock, backends, live servers."""

from __future__ import annotations

import pytest
from harness.redis_servers import RedisClusterServers, RedisServer

from mayfly import app_rules, create_app
from mayfly.storage import open_storage

from .live import NO_LIMITS, LiveServer

# Storage backends; each name has a fixture <name>_url yielding a MAYFLY_STORAGE_URL.
# Tests marked every_backend run on all of them, the Redis runs in the slow suite
# (they start servers); every other test runs once, on SQLite.
BACKENDS = ["sqlite", "redis", "redis_cluster"]


def pytest_generate_tests(metafunc):
    """Run tests marked every_backend once per backend, the Redis ones as slow tests."""
    if metafunc.definition.get_closest_marker("every_backend") is None:
        return
    if "backend" not in metafunc.fixturenames:
        raise pytest.UsageError(f"{metafunc.definition.nodeid} is marked every_backend but "
                                "uses no backend (storage_url, storage, app or client)")
    metafunc.parametrize("backend", [
        pytest.param(name, marks=() if name == "sqlite" else pytest.mark.slow)
        for name in BACKENDS], indirect=True)


def only_in_slow_tests(request) -> None:
    """Fail a test that starts a server without being marked slow: the fast suite needs none."""
    if request.node.get_closest_marker("slow") is None:
        pytest.fail(f"{request.fixturename} starts a server: mark the test slow", pytrace=False)


def emptied(request, fixture: str) -> str:
    """The URL of a session's Redis fixture, flushed for a slow test."""
    only_in_slow_tests(request)
    server = request.getfixturevalue(fixture)
    server.flush()
    return server.url


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
def redis_url(request) -> str:
    """The session's standalone Redis, emptied for this test (a slow one)."""
    return emptied(request, "redis_server")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A 3-master Redis Cluster (AOF on) for the whole session."""
    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_url(request) -> str:
    """The session's Redis Cluster, emptied for this test (a slow one)."""
    return emptied(request, "redis_cluster")


@pytest.fixture
def redis_aof_server(request, tmp_path):
    """A standalone redis-server of the test's own, with AOF, that it may kill and restart."""
    only_in_slow_tests(request)
    server = RedisServer(tmp_path / "redis-aof", appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture
def backend(request) -> str:
    """The storage backend's name: SQLite, or each in turn for tests marked every_backend."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def storage_url(request, backend) -> str:
    """The current backend's storage URL."""
    return request.getfixturevalue(f"{backend}_url")


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
