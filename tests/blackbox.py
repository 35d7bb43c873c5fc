"""Black-box checks of a running mayfly, given only its URL: what any deployment must pass.

They speak HTTP and run the `mayfly` command, nothing else, so the same checks
serve `mayfly serve`, the container image and the compose set-ups. Each
function asserts one behaviour; ``CHECKS`` lists them all for parametrizing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from .requests_for import new_secret

TIMEOUT = 30


def mayfly(*args: str, server: str, stdin: str = "") -> str:
    """Run this virtualenv's `mayfly` command against a server; return its standard output."""
    binary = Path(sys.executable).parent / "mayfly"
    result = subprocess.run([str(binary), *args], input=stdin, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "MAYFLY_SERVER": server})
    assert result.returncode == 0, f"mayfly {args[0]} exited {result.returncode}: {result.stderr}"
    return result.stdout


def assert_problem(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    return problem


def check_health(url: str) -> None:
    response = requests.get(f"{url}/healthz", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def check_openapi_describes_the_api(url: str) -> None:
    response = requests.get(f"{url}/api/openapi.json", timeout=TIMEOUT)
    assert response.status_code == 200, response.text[:300]
    assert "/api/v1/secrets" in response.json()["paths"]


def check_cli_round_trip_reads_once(url: str) -> None:
    """The command line encrypts, the server stores, the reader decrypts, then it is gone."""
    out = mayfly("send", "--receipt", server=url, stdin="black-box canary 7f3a\n").split()
    link, receipt = out[0], out[1]
    assert link.startswith(f"{url}/s/") and "#" in link
    assert "black-box canary 7f3a" in mayfly("read", link, server=url)
    again = subprocess.run([str(Path(sys.executable).parent / "mayfly"), "read", link],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "read" in mayfly("status", receipt, server=url)


def check_reveal_needs_proofs_and_spends_one_view(url: str) -> None:
    create, reveal = new_secret(max_views=1)
    made = requests.post(f"{url}/api/v1/secrets", json=create, timeout=TIMEOUT)
    assert made.status_code == 201, made.text[:300]
    secret_id = made.json()["id"]
    wrong = {**reveal, "access_proof": reveal["link_proof"]}
    assert_problem(requests.post(f"{url}/api/v1/secrets/{secret_id}/reveal", json=wrong,
                                 timeout=TIMEOUT), 403)
    assert requests.get(f"{url}/api/v1/secrets/{secret_id}", timeout=TIMEOUT).status_code == 200
    first = requests.post(f"{url}/api/v1/secrets/{secret_id}/reveal", json=reveal,
                          timeout=TIMEOUT)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    assert first.json()["ciphertext"] == create["ciphertext"]
    assert_problem(requests.post(f"{url}/api/v1/secrets/{secret_id}/reveal", json=reveal,
                                 timeout=TIMEOUT), 404)


def check_bad_input_is_a_problem_not_an_error(url: str) -> None:
    assert_problem(requests.post(f"{url}/api/v1/secrets", data=b"{not json",
                                 headers={"Content-Type": "application/json"},
                                 timeout=TIMEOUT), 400)
    assert_problem(requests.post(f"{url}/api/v1/secrets", json={"ciphertext": 3},
                                 timeout=TIMEOUT), 400)
    assert_problem(requests.get(f"{url}/api/v1/secrets/{'A' * 24}", timeout=TIMEOUT), 404)


def check_pages_carry_the_security_headers(url: str) -> None:
    page = requests.get(f"{url}/", timeout=TIMEOUT)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def check_static_modules_are_served_as_javascript(url: str) -> None:
    """Browsers refuse ES modules of another type: the server must type them."""
    page = requests.get(f"{url}/", timeout=TIMEOUT).text
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page)
    assert scripts, "the compose page links no script"
    for src in scripts:
        response = requests.get(url + src, timeout=TIMEOUT)
        assert response.status_code == 200, src
        assert response.headers["Content-Type"].split(";")[0] == "text/javascript", src


CHECKS = [
    check_health,
    check_openapi_describes_the_api,
    check_cli_round_trip_reads_once,
    check_reveal_needs_proofs_and_spends_one_view,
    check_bad_input_is_a_problem_not_an_error,
    check_pages_carry_the_security_headers,
    check_static_modules_are_served_as_javascript,
]
