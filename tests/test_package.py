"""The package is the product: build the sdist and wheel, install the wheel, serve from it."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import requests

import mayfly

from .live import ProcessGroup, free_port, wait_until_up

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def run(*argv: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                            timeout=900, **kwargs)
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel built from it, as `python -m build` makes them."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, REPO)
    return out


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed (not editable) and nothing else of ours."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", venv)
    (wheel,) = dist.glob("mayfly-*.whl")
    run(venv / "bin" / "pip", "install", "--quiet", wheel)
    return venv


def package_files() -> set[str]:
    """Every file of src/mayfly under version control, relative to src/."""
    listed = run("git", "ls-files", "src/mayfly", cwd=REPO).stdout.split()
    assert listed, "git ls-files found nothing: not a checkout?"
    return {name.removeprefix("src/") for name in listed}


def test_the_wheel_and_the_sdist_hold_every_file_of_the_package(dist):
    (wheel,) = dist.glob("mayfly-*.whl")
    (sdist,) = dist.glob("mayfly-*.tar.gz")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as archive:
        prefix = f"mayfly-{mayfly.__version__}/src/"
        in_sdist = {m.name.removeprefix(prefix) for m in archive.getmembers()}
    wanted = package_files()
    assert {"mayfly/openapi.json", "mayfly/uwsgi.ini"} <= wanted
    assert wanted - in_wheel == set()
    assert wanted - in_sdist == set()


def test_the_installed_command_reports_the_version_of_the_package(venv):
    result = run(venv / "bin" / "mayfly", "--version")
    assert result.stdout == f"mayfly, version {mayfly.__version__}\n"
    metadata = run(venv / "bin" / "python", "-c",
                   "import importlib.metadata as m; print(m.metadata('mayfly').json)")
    assert "Programming Language :: Python :: 3" in metadata.stdout


# The page languages (src/mayfly/translations) as PyPI's "Natural Language" classifiers.
LANGUAGES = {"de": "German", "en": "English", "es": "Spanish", "fr": "French", "ja": "Japanese",
             "ko": "Korean", "pt_BR": "Portuguese (Brazilian)", "ru": "Russian",
             "zh_Hans_CN": "Chinese (Simplified)", "zh_Hant_TW": "Chinese (Traditional)"}


def test_the_classifiers_are_pypis_and_name_every_page_language():
    from trove_classifiers import classifiers as known

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["classifiers"]
    assert set(declared) - known == set()
    catalogues = {p.name for p in (REPO / "src/mayfly/translations").iterdir() if p.is_dir()}
    assert catalogues == set(LANGUAGES)
    spoken = {c.removeprefix("Natural Language :: ") for c in declared
              if c.startswith("Natural Language :: ")}
    assert spoken == set(LANGUAGES.values())
    minors = [int(c.rsplit(".", 1)[1]) for c in declared
              if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    # Every minor from the oldest requires-python allows, without a gap.
    assert project["requires-python"] == f">=3.{min(minors)}"
    assert sorted(minors) == list(range(min(minors), max(minors) + 1))


@pytest.fixture(scope="module")
def installed_server(venv, tmp_path_factory):
    """`mayfly serve` from the wheel's virtualenv, started outside the checkout."""
    work = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "MAYFLY_DATA_DIR": str(work / "data"),
           "MAYFLY_RATE_LIMIT_CREATE": "", "MAYFLY_RATE_LIMIT_REVEAL": ""}
    server = ProcessGroup([venv / "bin" / "mayfly", "serve", "--port", str(port),
                           "--processes", "2"], work / "serve.log", env=env, cwd=work)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process=server, deadline=60)
        yield f"http://127.0.0.1:{port}", venv, work / "serve.log"
    finally:
        server.stop(grace=30)


def test_the_installed_server_answers_every_api_route_without_5xx(installed_server):
    url, _, log = installed_server
    spec = requests.get(f"{url}/api/openapi.json", timeout=10)
    assert spec.status_code == 200
    base = spec.json()["servers"][0]["url"] if spec.json().get("servers") else ""
    answered = []
    for path, operations in spec.json()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "AAAAAAAAAAAAAAAAAAAAAAAA", base + path)
        for method in operations:
            if method not in {"get", "post", "delete", "put", "patch"}:
                continue
            response = requests.request(method, url + concrete, timeout=10,
                                        json={} if method in {"post", "put", "patch"} else None)
            answered.append((method, concrete, response.status_code))
    assert len(answered) >= 6
    assert [a for a in answered if a[2] >= 500] == [], answered
    assert "Traceback" not in log.read_text()


def test_the_installed_server_serves_every_page_and_static_asset(installed_server):
    url, venv, log = installed_server
    pages = {path: requests.get(url + path, timeout=10) for path in [
        "/", "/s/AAAAAAAAAAAAAAAAAAAAAAAA", "/r/AAAAAAAAAAAAAAAAAAAAAAAA", "/lang/en?next=/",
        "/lang/zh-CN?next=/", "/no-such-page", "/metrics", "/healthz"]}
    assert {path: r.status_code for path, r in pages.items() if r.status_code >= 500} == {}
    assert pages["/"].status_code == 200
    (digest,) = set(re.findall(r"/static/([0-9a-f]{12})/", pages["/"].text))
    (static,) = venv.glob("lib/python*/site-packages/mayfly/static")
    assets = [p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file()]
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    failed = {}
    for asset in assets:
        response = requests.get(f"{url}/static/{digest}/{asset}", timeout=10)
        if response.status_code != 200:
            failed[asset] = response.status_code
    assert failed == {}
    assert "Traceback" not in log.read_text()
