"""The deployment-agnostic black-box checks, against `mayfly serve` (the reference)."""

from __future__ import annotations

import pytest

from .blackbox import CHECKS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_black_box_check_passes_against_a_live_server(live_server, check):
    check(live_server.url)
