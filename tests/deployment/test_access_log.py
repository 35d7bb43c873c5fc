"""The nginx site's private access log: the shape of each path, never an id."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from harness.nginx import Nginx

pytestmark = pytest.mark.slow  # a real nginx

SITE = Path(__file__).resolve().parents[2] / "deployment" / "nginx" / "mayfly.conf"
ID = "AbCdEfGhIjKlMnOpQrStUvWx"
# The site's log map, and a server that logs with it and answers 204 to everything.
SERVER = """
    log_format shape '$mayfly_loggable_path';
    server {
        listen {listen};
        access_log {logs}/access.log shape;
        location / { return 204; }
    }
"""


def the_sites_log_map() -> str:
    """The map block of the shipped site, exactly as the installer renders it (no placeholder)."""
    text = SITE.read_text()
    start = text.index("map $uri $mayfly_loggable_path")
    return text[start:text.index("\n}\n", start) + 2]


@pytest.mark.parametrize(("path", "logged"), [
    (f"/s/{ID}", "/s/:id"),
    (f"/r/{ID}", "/r/:id"),
    (f"/q/{ID}", "/q/:id"),
    (f"/a/{ID}", "/a/:id"),
    (f"/api/v1/secrets/{ID}", "/api/v1/secrets/:id"),
    (f"/api/v1/secrets/{ID}/reveal", "/api/v1/secrets/:id/reveal"),
    (f"/api/v1/requests/{ID}", "/api/v1/requests/:id"),
    (f"/api/v1/requests/{ID}/open", "/api/v1/requests/:id/open"),
    (f"/api/v1/requests/{ID}/answer", "/api/v1/requests/:id/answer"),
    ("/api/v1/requests", "/api/v1/requests"),
])
def test_the_access_log_keeps_the_shape_of_a_path_and_drops_its_id(tmp_path, path, logged):
    nginx = Nginx(tmp_path, the_sites_log_map() + SERVER).start(ok=(204,))
    log = nginx.logs / "access.log"
    try:
        requests.get(f"{nginx.url}{path}?note=x", timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and logged not in log.read_text():
            time.sleep(0.05)
        lines = log.read_text().splitlines()
    finally:
        nginx.stop()
    assert logged in lines
    assert not any(ID in line for line in lines)
