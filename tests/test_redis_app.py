"""The application on Redis: 503 while Redis is down, recovery, limits shared by processes."""

from __future__ import annotations

import pytest

from mayfly import create_app
from mayfly.config import load
from mayfly.limits import storage_uri

from .requests_for import new_secret


def make_app(url: str, tmp_path, **settings):
    """An app of its own on ``url`` (each stands for one uWSGI worker or app server)."""
    return create_app({"storage_url": url, "data_dir": str(tmp_path), "rate_limit_create": "",
                       "rate_limit_reveal": "", **settings})


def assert_unavailable(response):
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 503
    assert response.json["type"].endswith("/storage-unavailable")


@pytest.mark.slow
def test_redis_down_answers_503_and_recovers_without_restart(redis_aof_server, tmp_path):
    # Limits on, in the same Redis: a limiter that cannot count must not make it a 500.
    client = make_app(redis_aof_server.url, tmp_path, rate_limit_create="100/minute",
                      rate_limit_reveal="100/minute").test_client()
    create, reveal = new_secret()
    created = client.post("/api/v1/secrets", json=create)
    assert created.status_code == 201
    secret_id = created.json["id"]

    redis_aof_server.kill()
    assert_unavailable(client.get("/healthz"))
    assert_unavailable(client.post("/api/v1/secrets", json=new_secret()[0]))
    assert_unavailable(client.get(f"/api/v1/secrets/{secret_id}"))
    assert_unavailable(client.post(f"/api/v1/secrets/{secret_id}/reveal", json=reveal))
    assert_unavailable(client.get("/metrics"))

    redis_aof_server.start()
    assert client.get("/healthz").status_code == 200
    revealed = client.post(f"/api/v1/secrets/{secret_id}/reveal", json=reveal)
    assert (revealed.status_code, revealed.json["views_left"]) == (200, 0)
    assert client.post(f"/api/v1/secrets/{secret_id}/reveal", json=reveal).status_code == 404


@pytest.mark.parametrize("url", ["redis://h:1/0", "rediss://:pw@h:1/0",
                                 "redis+cluster://h:1,h:2"])
def test_limits_are_kept_in_the_secrets_redis_by_default(url):
    assert storage_uri(load({"storage_url": url}, environ={})) == url


@pytest.mark.parametrize(("settings", "expected"), [
    ({"storage_url": "redis://h:1/0", "rate_limit_storage": "memory://"}, "memory://"),
    ({"storage_url": "sqlite:///x.db"}, "memory://"),
])
def test_an_explicit_limit_storage_or_sqlite_keeps_its_own(settings, expected):
    assert storage_uri(load(settings, environ={})) == expected


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["redis", "redis_cluster"])
def test_rate_limits_hold_across_app_processes(request, backend, tmp_path):
    url = request.getfixturevalue(f"{backend}_url")
    apps = [make_app(url, tmp_path, rate_limit_create="3/minute") for _ in range(2)]
    clients = [app.test_client() for app in apps]
    statuses = [clients[n % 2].post("/api/v1/secrets", json=new_secret()[0]).status_code
                for n in range(6)]
    assert statuses == [201, 201, 201, 429, 429, 429]
