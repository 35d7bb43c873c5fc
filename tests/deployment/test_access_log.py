"""The nginx site's private access log: the shape of each path, never an id."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from ..live import free_port, wait_until_up
from .nginx import nginx_binary

pytestmark = pytest.mark.slow  # a real nginx

SITE = Path(__file__).resolve().parents[2] / "deployment" / "nginx" / "mayfly.conf"
ID = "AbCdEfGhIjKlMnOpQrStUvWx"
CONF = """
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{}}
http {{
    client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
    uwsgi_temp_path {dir}; scgi_temp_path {dir};
    {map}
    log_format shape '$mayfly_loggable_path';
    server {{
        listen 127.0.0.1:{port};
        access_log {dir}/access.log shape;
        location / {{ return 204; }}
    }}
}}
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
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONF.format(dir=tmp_path, port=port, map=the_sites_log_map()))
    nginx = subprocess.Popen([nginx_binary(), "-c", str(conf), "-p", str(tmp_path),
                              "-g", "daemon off;"])
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process=nginx, ok=(204,))
        requests.get(f"http://127.0.0.1:{port}{path}?note=x", timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and logged not in (tmp_path / "access.log").read_text():
            time.sleep(0.05)
        lines = (tmp_path / "access.log").read_text().splitlines()
    finally:
        nginx.terminate()
        nginx.wait(10)
    assert logged in lines
    assert not any(ID in line for line in lines)
