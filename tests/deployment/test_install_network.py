"""The installer's systemd sandbox: no network with SQLite, IP when something must be reached."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

INSTALL = Path(__file__).parents[2] / "deployment" / "install.py"


@pytest.fixture(scope="module")
def install():
    """deployment/install.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("mayfly_install", INSTALL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.mark.parametrize("env, network", [
    ({}, False),
    ({"MAYFLY_STORAGE_URL": "sqlite:////var/lib/mayfly/mayfly.db"}, False),
    ({"MAYFLY_STORAGE_URL": "redis://10.0.0.5:6379/0"}, True),
    ({"MAYFLY_SMTP_URL": "smtp://relay:pw@mail.example.org:587"}, True),
    ({"MAYFLY_WEBHOOK_URL": "https://ops.example.org/hook"}, True),
])
def test_the_unit_allows_ip_only_when_mayfly_must_reach_a_server(install, env, network):
    lines = install.network_lines(env)
    assert ("PrivateNetwork=yes" not in lines) is network
    assert ("AF_INET" in lines) is network
