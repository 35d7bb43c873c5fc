"""Peak resident memory of a uWSGI worker while it creates and reveals one large secret."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from . import fill
from .stack import Stack, memory_kib


def reset_peak(pid: int) -> bool:
    """Reset a process's VmHWM to its current RSS (Linux: clear_refs 5); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _extra_while(stack: Stack, send) -> tuple[int, object]:
    """The largest rise of a worker's peak RSS over its RSS before `send()`, in bytes."""
    before = {}
    for pid in stack.workers():
        reset_peak(pid)
        before[pid] = memory_kib(pid).get("VmRSS", 0)
    answer = send()
    rises = [memory_kib(pid).get("VmHWM", 0) - rss for pid, rss in before.items()]
    return max(rises, default=0) * 1024, answer


def big_secret(stack: Stack, size: int) -> dict:
    """Create then reveal one `size`-byte secret through nginx; the worst worker's extra RSS."""
    session = requests.Session()
    # The deployment's site on loopback has a self-signed certificate. (Per call:
    # Session.verify loses to REQUESTS_CA_BUNDLE in the environment.)
    insecure = {"verify": False}
    body = fill.create_body(size)
    # Warm every worker once, so that first-request imports do not count as the secret's cost.
    for _ in range(len(stack.workers()) * 2):
        session.get(stack.url + "/healthz", timeout=10, **insecure)

    def create():
        response = session.post(stack.url + "/api/v1/secrets", data=body, timeout=120,
                                headers={"Content-Type": "application/json"}, **insecure)
        assert response.status_code == 201, response.text[:500]
        return response.json()["id"]

    create_extra, secret_id = _extra_while(stack, create)

    def reveal():
        response = session.post(f"{stack.url}/api/v1/secrets/{secret_id}/reveal",
                                data=fill.REVEAL_BODY, timeout=120,
                                headers={"Content-Type": "application/json"}, **insecure)
        assert response.status_code == 200, response.text[:500]
        return len(json.loads(response.content)["ciphertext"])

    reveal_extra, _ = _extra_while(stack, reveal)
    return {"size": size, "create_extra": create_extra, "reveal_extra": reveal_extra,
            "create_ratio": create_extra / size, "reveal_ratio": reveal_extra / size}
