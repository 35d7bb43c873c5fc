"""The production stack, for real, on loopback: the installer's files, nothing else.

deployment/install.sh renders every file (--dry-run into a scratch root), then
pebble (Let's Encrypt's test CA), nginx with the rendered site, uWSGI started the
way the rendered systemd unit starts it, and `certbot --nginx` as the installer
runs it. The tests then drive it over HTTPS as a reader's browser would.
"""

from __future__ import annotations

import grp
import http.client
import os
import re
import shlex
import shutil
import socket
import ssl
import stat
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import pytest
import requests
from cryptography import x509
from harness.processes import ProcessGroup, wait_for
from playwright.sync_api import expect, sync_playwright

from mayfly import asset_version, crypto
from mayfly.api import max_body_bytes
from mayfly.client import Client, Link
from mayfly.config import load

from ..browser.story import assert_burned, create_secret, open_link, read_message
from .stack import (
    DOMAIN,
    EMAIL,
    INSTALLER,
    WEB_GROUP,
    Pebble,
    free_ports,
    nginx_main_conf,
    nss_home_trusting,
    parse_env_file,
    resolving,
    run,
    tool,
    unit_settings,
)

pytestmark = pytest.mark.slow

SECRETS = 50
READERS = 10
# Short-lived certificates, as Let's Encrypt's are becoming: six days.
CERT_VALIDITY = 6 * 24 * 3600
FIXTURE_NAME = "deploy-fixture.txt"
FIXTURE_TEXT = "served by nginx from the static directory, never by uWSGI\n"
OPERATOR_LINE = "MAYFLY_MAX_VIEWS=50"
MEASUREMENTS = Path(__file__).resolve().parents[2] / "build" / "deployment-measurements.txt"


@dataclass
class Stack:
    """What the fixture built, and how to reach it."""

    work: Path
    root: Path
    http_port: int
    https_port: int
    pebble: Pebble
    ca_file: Path
    nginx_conf: Path
    certbot_env: dict[str, str]
    installer_runs: list[str] = field(default_factory=list)
    certbot_output: str = ""
    services: dict[str, ProcessGroup] = field(default_factory=dict)
    notify: list[str] = field(default_factory=list)

    @property
    def nginx_reload(self) -> str:
        return shlex.join([tool("nginx"), "-c", str(self.nginx_conf), "-s", "reload"])

    @property
    def base(self) -> str:
        return f"https://{DOMAIN}:{self.https_port}"

    def session(self) -> requests.Session:
        session = requests.Session()
        # Only our CA, and no proxy: REQUESTS_CA_BUNDLE or *_proxy in the
        # environment would otherwise override the session's settings.
        session.trust_env = False
        session.verify = str(self.ca_file)
        return session

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def served_certificate(self) -> x509.Certificate:
        """The leaf certificate nginx presents for our domain (verified)."""
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=10) as raw:
            with self.tls_context().wrap_socket(raw, server_hostname=DOMAIN) as tls:
                return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))

    def certbot_dirs(self) -> list[str]:
        return ["--config-dir", str(self.at("/etc/letsencrypt")),
                "--work-dir", str(self.at("/var/lib/letsencrypt")),
                "--logs-dir", str(self.at("/var/log/letsencrypt"))]


def install(stack: Stack) -> str:
    """Run the installer in --dry-run into the scratch root; return what it printed."""
    argv = [str(INSTALLER), "--domain", DOMAIN, "--email", EMAIL, "--dry-run",
            "--root", str(stack.root), "--listen", "127.0.0.1",
            "--http-port", str(stack.http_port), "--https-port", str(stack.https_port),
            "--acme-server", stack.pebble.directory,
            # One client address sends everything here: lift both rate limits.
            "--api-rate", "10000r/s", "--api-burst", "10000",
            "--env", "MAYFLY_RATE_LIMIT_CREATE=", "--env", "MAYFLY_RATE_LIMIT_REVEAL="]
    output = run(argv).stdout
    stack.installer_runs.append(output)
    return output


def planned(output: str, program: str) -> list[str]:
    """The command lines of one program the installer would run."""
    return [shlex.split(line.removeprefix("would run: ")) for line in output.splitlines()
            if line.startswith(f"would run: {program} ")]


def start_uwsgi(stack: Stack) -> ProcessGroup:
    """Start uWSGI exactly as the rendered mayfly.service does (user aside: we are root).

    The command, environment file, working directory and umask come from the unit;
    the group is the web server's, as in the unit, so nginx reaches the socket by
    group permission alone. The unit's Type=notify is checked too: uWSGI must say
    READY=1 on $NOTIFY_SOCKET.
    """
    unit = unit_settings(stack.at("/etc/systemd/system/mayfly.service"))
    assert unit["Type"] == ["notify"]
    assert unit["Group"] == [WEB_GROUP]
    env = {"PATH": os.defpath, **parse_env_file(Path(unit["EnvironmentFile"][0]))}
    notify_path = stack.work / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(0.5)
    env["NOTIFY_SOCKET"] = str(notify_path)
    extra = {"group": WEB_GROUP, "extra_groups": []} if os.geteuid() == 0 else {}
    service = ProcessGroup(shlex.split(unit["ExecStart"][0]), stack.work / "uwsgi.log",
                           env=env, cwd=unit["WorkingDirectory"][0], name="uwsgi",
                           umask=int(unit["UMask"][0], 8), **extra)
    stack.services["uwsgi"] = service

    def ready() -> bool:
        try:
            stack.notify.append(listener.recv(4096).decode())
        except TimeoutError:
            pass
        return any("READY=1" in message for message in stack.notify)

    try:
        wait_for("uWSGI's READY=1 notification", ready, service, deadline=60)
    finally:
        listener.close()
    # Then the unit's ExecStartPost=, which waits until mayfly answers on the socket.
    (post,) = unit["ExecStartPost"]
    run(shlex.split(post), env=env)
    return service


def wait_for_pebble_certificate(stack: Stack, not_serial: int | None = None) -> x509.Certificate:
    """Poll until nginx serves a certificate that verifies against pebble's root."""
    def served():
        try:
            cert = stack.served_certificate()
        except ssl.SSLError:
            return None
        return cert if cert.serial_number != not_serial else None

    return wait_for("nginx serving pebble's certificate", served, stack.services["nginx"])


@pytest.fixture(scope="module")
def stack():
    """pebble, nginx, uWSGI and certbot, all from the installer's files; torn down after."""
    for program in ("nginx", "pebble", "certbot", "openssl", "uwsgi", "sslyze",
                    "systemd-analyze"):
        tool(program)
    work = Path(tempfile.mkdtemp(prefix="mayfly-stack-"))
    # nginx's workers run as www-data and must reach the static files and socket.
    work.chmod(0o755)
    http_port, https_port = free_ports(2)
    root = work / "root"
    (root / "opt/mayfly").mkdir(parents=True)
    services: list[ProcessGroup] = []
    try:
        pebble = Pebble(work / "pebble", CERT_VALIDITY)
        services.append(pebble.service)
        ca_file = work / "pebble-root.pem"
        stack = Stack(work=work, root=root, http_port=http_port, https_port=https_port,
                      pebble=pebble, ca_file=ca_file, nginx_conf=root / "etc/nginx/nginx.conf",
                      certbot_env={**os.environ, "REQUESTS_CA_BUNDLE": str(pebble.cert)})
        # The virtualenv the installer would make: this one, where mayfly is installed.
        (root / "opt/mayfly/venv").symlink_to(Path(sys.prefix))
        # The static files, as a real run of the installer copies them, plus one
        # file that exists only here: if it is served, nginx served it.
        static = root / "opt/mayfly/static"
        shutil.copytree(Path(str(files("mayfly").joinpath("static"))), static)
        (static / FIXTURE_NAME).write_text(FIXTURE_TEXT)

        install(stack)

        for path in ("var/lib/nginx", "var/log/nginx", "run"):
            (root / path).mkdir(parents=True, exist_ok=True)
        stack.nginx_conf.write_text(nginx_main_conf(root))
        if os.geteuid() == 0:
            shutil.chown(stack.at("/run/mayfly"), "root", WEB_GROUP)

        services.append(start_uwsgi(stack))
        nginx = ProcessGroup([tool("nginx"), "-c", str(stack.nginx_conf)], work / "nginx.log",
                             name="nginx")
        services.append(nginx)
        stack.services["nginx"] = nginx
        wait_for("nginx on its HTTPS port",
                 lambda: socket.create_connection(("127.0.0.1", https_port), 1).close() or True,
                 nginx)

        # The installer's own certbot command, with this machine's nginx binary, and
        # a deploy hook that reloads this nginx (there is no systemctl here).
        (certbot,) = planned(stack.installer_runs[0], "certbot")
        certbot[certbot.index("--deploy-hook") + 1] = stack.nginx_reload
        issued = run([tool("certbot"), *certbot[1:], "--nginx-ctl", tool("nginx")],
                     env=stack.certbot_env, timeout=180)
        stack.certbot_output = issued.stdout + issued.stderr
        ca_file.write_text(pebble.root_pem())

        # The second run renders the live certificate paths and keeps the operator's lines.
        with stack.at("/etc/mayfly/mayfly.env").open("a") as env_file:
            env_file.write(OPERATOR_LINE + "\n")
        install(stack)
        run([tool("nginx"), "-c", str(stack.nginx_conf), "-t", "-q"])
        run([tool("nginx"), "-c", str(stack.nginx_conf), "-s", "reload"])
        with resolving(DOMAIN, "127.0.0.1"):
            wait_for_pebble_certificate(stack)
            yield stack
    finally:
        for service in reversed(services):
            service.stop()
        # MAYFLY_KEEP_STACK=1 keeps the files and logs for a post-mortem.
        if not os.environ.get("MAYFLY_KEEP_STACK"):
            shutil.rmtree(work, ignore_errors=True)


def directives(path: Path) -> str:
    """A rendered file without its comments."""
    return "".join(line for line in path.read_text().splitlines(keepends=True)
                   if not line.lstrip().startswith("#"))


def record(name: str, value: str) -> None:
    """Keep a measured figure for docs/deployment.md (build/ is not committed)."""
    MEASUREMENTS.parent.mkdir(exist_ok=True)
    with MEASUREMENTS.open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%d %H:%M')} {name}: {value}\n")


# --- The installer ----------------------------------------------------------------


def test_installer_plans_every_step_in_order(stack):
    output = stack.installer_runs[0]
    steps = [line[4:] for line in output.splitlines() if line.startswith("==> ")]
    assert steps[0] == "System packages" and steps[-1] == "Check"
    apt = planned(output, "apt-get")[-1]
    assert {"nginx", "certbot", "python3-certbot-nginx", "python3-venv"} <= set(apt)
    (useradd,) = planned(output, "useradd")
    assert "--system" in useradd and useradd[-1] == "mayfly"
    # The virtualenv exists here (the fixture's): it is upgraded, not made again.
    assert not planned(output, "/usr/bin/python3")
    (pip,) = planned(output, str(stack.at("/opt/mayfly/venv/bin/python")))
    assert pip[1:6] == ["-m", "pip", "install", "--quiet", "--upgrade"]
    systemctl = planned(output, "systemctl")
    assert ["systemctl", "enable", "--quiet", "mayfly.service", "mayfly-purge.timer"] in systemctl
    # One start, never a start and then a restart (which stopped workers mid-load).
    assert [argv for argv in systemctl if "mayfly.service" in argv and argv[1] != "enable"] == [
        ["systemctl", "restart", "mayfly.service"]]
    assert ["systemctl", "enable", "--now", "certbot.timer"] in systemctl
    (certbot,) = planned(output, "certbot")
    assert certbot[:3] == ["certbot", "certonly", "--nginx"]
    assert certbot[certbot.index("--server") + 1] == stack.pebble.directory
    assert output.rstrip().endswith(f"mayfly is ready: {stack.base}/")


def test_a_dry_run_on_a_fresh_root_makes_the_virtualenv_from_the_system_python(tmp_path):
    output = run([str(INSTALLER), "--domain", DOMAIN, "--email", EMAIL, "--dry-run",
                  "--root", str(tmp_path)]).stdout
    (venv,) = planned(output, "/usr/bin/python3")
    assert venv == ["/usr/bin/python3", "-m", "venv", str(tmp_path / "opt/mayfly/venv")]
    assert "note: estimating the body limit" in output
    site = (tmp_path / "etc/nginx/sites-available/mayfly.conf").read_text()
    assert "listen 443 ssl http2;" in site and "listen [::]:80;" in site
    assert f"return 301 https://{DOMAIN}$request_uri;" in site


def test_a_dry_run_on_the_real_system_writes_nothing():
    output = run([str(INSTALLER), "--domain", DOMAIN, "--email", EMAIL, "--dry-run"]).stdout
    assert "would write /etc/nginx/sites-available/mayfly.conf" in output
    assert not [line for line in output.splitlines()
                if line.startswith(("wrote ", "linked ", "+ "))]


def test_installer_writes_only_under_its_root(stack):
    for path in ("/etc/mayfly/mayfly.env", "/opt/mayfly/libexec/mayfly-ready.py",
                 "/etc/systemd/system/mayfly.service", "/etc/systemd/system/mayfly-purge.service",
                 "/etc/systemd/system/mayfly-purge.timer",
                 "/etc/nginx/sites-available/mayfly.conf", "/etc/mayfly/tls/ffdhe2048.pem"):
        assert stack.at(path).is_file(), path
    link = stack.at("/etc/nginx/sites-enabled/mayfly.conf")
    assert link.resolve() == stack.at("/etc/nginx/sites-available/mayfly.conf")
    for path in ("/etc/nginx/sites-available/mayfly.conf",
                 "/etc/systemd/system/mayfly.service"):
        text = directives(stack.at(path))
        assert "@" not in re.sub(r"@(system-service|privileged|resources)", "", text)
        for ours in ("/opt/mayfly", "/etc/mayfly", "/var/lib/mayfly", "/run/mayfly"):
            assert text.count(ours) == text.count(f"{stack.root}{ours}"), (path, ours)


def test_second_run_keeps_settings_and_installs_the_live_certificate(stack):
    second = stack.installer_runs[1]
    assert f"unchanged {stack.at('/etc/systemd/system/mayfly.service')}" in second
    env = stack.at("/etc/mayfly/mayfly.env").read_text()
    assert OPERATOR_LINE in env.splitlines()
    assert env.count("MAYFLY_PUBLIC_URL=") == 1
    site = directives(stack.at("/etc/nginx/sites-available/mayfly.conf"))
    live = stack.at(f"/etc/letsencrypt/live/{DOMAIN}")
    assert f"ssl_certificate {live}/fullchain.pem;" in site
    assert "placeholder" not in site


def test_certbot_obtains_the_certificate_and_leaves_our_site_alone(stack):
    assert "Successfully received certificate." in stack.certbot_output
    assert "Deploying certificate" not in stack.certbot_output
    renewal = stack.at(f"/etc/letsencrypt/renewal/{DOMAIN}.conf").read_text()
    assert "authenticator = nginx" in renewal
    # Renewal reloads nginx through the deploy hook, stored with the certificate.
    assert f"renew_hook = {stack.nginx_reload}" in renewal
    site = stack.at("/etc/nginx/sites-available/mayfly.conf").read_text()
    assert "managed by Certbot" not in site


def test_nginx_replaces_what_clients_say_about_the_connection(stack):
    site = directives(stack.at("/etc/nginx/sites-available/mayfly.conf"))
    # Each named parameter replaces the client's header of the same name; uWSGI
    # reads X-Forwarded-Ssl and X-Forwarded-Proto as the scheme, the app's ProxyFix
    # the rest. An empty value with if_not_empty sends nothing at all.
    for param in ("uwsgi_param HTTP_X_FORWARDED_FOR $remote_addr;",
                  "uwsgi_param HTTP_X_FORWARDED_PROTO $scheme;",
                  "uwsgi_param HTTP_X_FORWARDED_HOST $host;",
                  'uwsgi_param HTTP_X_FORWARDED_SSL "" if_not_empty;',
                  "uwsgi_param UWSGI_SCHEME $scheme;"):
        assert param in site, param


def test_body_limits_of_nginx_and_the_app_agree(stack):
    env = parse_env_file(stack.at("/etc/mayfly/mayfly.env"))
    app_limit = max_body_bytes(load(environ=env))
    site = stack.at("/etc/nginx/sites-available/mayfly.conf").read_text()
    assert f"client_max_body_size {app_limit};" in site


# --- HTTPS, redirects, static files, limits ---------------------------------------


def test_https_answers_with_a_certificate_from_the_acme_server(stack):
    response = stack.session().get(f"{stack.base}/healthz", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    cert = stack.served_certificate()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [DOMAIN]
    assert "Pebble" in cert.issuer.rfc4514_string()
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.total_seconds() <= CERT_VALIDITY + 3600


def test_http_redirects_to_https(stack):
    url = f"http://{DOMAIN}:{stack.http_port}/s/abc?x=1"
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{stack.base}/s/abc?x=1"


def test_http_answers_acme_challenges_without_redirecting(stack):
    acme = stack.at("/var/www/mayfly-acme/.well-known/acme-challenge")
    acme.mkdir(parents=True, exist_ok=True)
    (acme / "token123").write_text("token123.thumbprint")
    url = f"http://{DOMAIN}:{stack.http_port}/.well-known/acme-challenge/token123"
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 200 and response.text == "token123.thumbprint"


def test_static_files_come_from_nginx_with_long_caching(stack):
    versioned = f"{stack.base}/static/{asset_version()}/{FIXTURE_NAME}"
    response = stack.session().get(versioned, timeout=10)
    # The file exists only in nginx's static directory, not in the app's package.
    assert response.status_code == 200 and response.text == FIXTURE_TEXT
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" in response.headers
    plain = stack.session().get(f"{stack.base}/static/{FIXTURE_NAME}", timeout=10)
    assert plain.text == FIXTURE_TEXT and plain.headers["Cache-Control"] == "no-cache"
    missing = stack.session().get(f"{stack.base}/static/nope.js", timeout=10)
    assert missing.status_code == 404 and "<center>nginx</center>" in missing.text


def test_scripts_are_served_as_javascript(stack):
    static = stack.at("/opt/mayfly/static")
    scripts = [path for path in static.rglob("*") if path.suffix in {".js", ".mjs"}]
    assert scripts, "the web UI has scripts"
    for path in scripts:
        url = f"{stack.base}/static/{asset_version()}/{path.relative_to(static)}"
        response = stack.session().get(url, timeout=10)
        assert response.status_code == 200, url
        assert response.headers["Content-Type"] == "application/javascript", url
        assert response.headers["Content-Encoding"] == "gzip", url


def test_every_response_carries_one_hsts_header(stack):
    for path in ("/healthz", "/api/v1/secrets/unknown", f"/static/{FIXTURE_NAME}",
                 f"/static/{asset_version()}/{FIXTURE_NAME}"):
        response = stack.session().get(stack.base + path, timeout=10)
        values = response.raw.headers.getlist("Strict-Transport-Security")
        assert values == ["max-age=63072000; includeSubDomains"], path


def request_headers_only(stack: Stack, length: int) -> http.client.HTTPResponse:
    """POST a create request announcing ``length`` bytes, and send none of them."""
    conn = http.client.HTTPSConnection(DOMAIN, stack.https_port, timeout=10,
                                       context=stack.tls_context())
    conn.putrequest("POST", "/api/v1/secrets")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_an_oversized_body_gets_413_from_nginx(stack):
    limit = max_body_bytes(load(environ=parse_env_file(stack.at("/etc/mayfly/mayfly.env"))))
    too_big = request_headers_only(stack, limit + 1)
    assert too_big.status == 413
    assert b"<center>nginx</center>" in too_big.body
    # At the limit nginx lets it through and the app judges the content.
    body = b'{"x":"' + b"a" * (limit - 8) + b'"}'
    assert len(body) == limit
    response = stack.session().post(f"{stack.base}/api/v1/secrets", data=body, timeout=60,
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")


# --- uWSGI as the unit runs it ------------------------------------------------------


def test_uwsgi_runs_five_workers_behind_a_group_only_socket(stack):
    master = stack.services["uwsgi"].pid
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                children.append(entry.name)
    assert len(children) == 5
    sock = stack.at("/run/mayfly/mayfly.sock")
    mode = sock.stat()
    assert stat.S_ISSOCK(mode.st_mode) and stat.S_IMODE(mode.st_mode) == 0o660
    if os.geteuid() == 0:
        assert grp.getgrgid(mode.st_gid).gr_name == WEB_GROUP


def test_the_purge_timer_service_runs(stack):
    unit = unit_settings(stack.at("/etc/systemd/system/mayfly-purge.service"))
    timer = unit_settings(stack.at("/etc/systemd/system/mayfly-purge.timer"), "Timer")
    assert timer["Persistent"] == ["true"]
    env = {"PATH": os.defpath, **parse_env_file(Path(unit["EnvironmentFile"][0]))}
    result = run(shlex.split(unit["ExecStart"][0]), env=env)
    assert result.stdout.startswith("purged ")


# --- Exactly once, through TLS, nginx and five workers -------------------------------


def test_each_secret_is_revealed_exactly_once_under_concurrent_readers(stack):
    client = Client(stack.base, session=stack.session())
    sent = [client.send(crypto.Message(f"secret number {n}")) for n in range(SECRETS)]
    barriers = [threading.Barrier(READERS, timeout=60) for _ in sent]

    def reveal(index: int) -> tuple[int, int, str | None]:
        link = Link.parse(sent[index].link)
        keys = crypto.derive_keys(link.key())
        body = {"link_proof": crypto.b64encode(keys.link_proof),
                "access_proof": crypto.b64encode(keys.access_proof)}
        barriers[index].wait()
        with stack.session() as session:
            answer = session.post(f"{stack.base}/api/v1/secrets/{link.id}/reveal", json=body,
                                  timeout=60)
        text = None
        if answer.status_code == 200:
            blob = crypto.b64decode(answer.json()["ciphertext"])
            text = crypto.unpack(crypto.unseal(keys.content_key, blob)).text
        return index, answer.status_code, text

    with ThreadPoolExecutor(max_workers=5 * READERS) as pool:
        tasks = [pool.submit(reveal, index) for index in range(SECRETS) for _ in range(READERS)]
        results = [task.result(timeout=300) for task in tasks]

    by_secret: dict[int, Counter] = {index: Counter() for index in range(SECRETS)}
    for index, status, text in results:
        by_secret[index][status] += 1
        if status == 200:
            assert text == f"secret number {index}"
    for index, statuses in by_secret.items():
        assert statuses == Counter({200: 1, 404: READERS - 1}), (index, statuses)


def test_the_access_log_keeps_no_ids(stack):
    client = Client(stack.base, session=stack.session())
    sent = client.send(crypto.Message("not for the log"))
    message, _ = client.read(Link.parse(sent.link))
    assert message.text == "not for the log"
    log = stack.at("/var/log/nginx/mayfly.access.log").read_text()
    assert sent.id not in log
    assert '"POST /api/v1/secrets/:id/reveal HTTP/1.1" 200' in log
    assert '"GET /api/v1/secrets/:id HTTP/1.1" 200' in log


# --- A person with a browser ---------------------------------------------------------


@pytest.fixture
def trusting_home(stack, tmp_path) -> Path:
    """A HOME whose NSS store (what Chromium trusts on Linux) holds pebble's root."""
    return nss_home_trusting(stack.ca_file, tmp_path)


def browser_story(stack: Stack, home: Path) -> list[str]:
    """A sender creates a message, a reader reads it once; return what went wrong."""
    problems: list[str] = []
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update",
            "--disable-default-apps", f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=tool("chromium"), args=args,
                                             env={**os.environ, "HOME": str(home)})
        try:
            def person():
                context = browser.new_context(base_url=stack.base)
                context.set_default_timeout(15_000)
                page = context.new_page()
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
                page.on("console", lambda msg: msg.type == "error" and not msg.text.startswith(
                    "Failed to load resource: the server responded with a status of 4")
                    and problems.append(msg.text))
                return page

            sender, reader = person(), person()
            shared = create_secret(sender, "over real HTTPS")
            assert shared.link.startswith(f"{stack.base}/s/")
            # The QR code comes from a module script (.mjs) that nginx serves.
            expect(sender.get_by_test_id("qr").locator("svg")).to_be_visible()
            open_link(reader, shared.link)
            assert read_message(reader) == "over real HTTPS"
            reader.reload()
            assert_burned(reader)
        finally:
            browser.close()
    return problems


def test_a_reader_reads_once_over_https_in_a_browser(stack, trusting_home):
    # A thread of its own: Playwright's sync API refuses a thread in which another
    # instance (the browser suite's, kept for the session) is running.
    with ThreadPoolExecutor(max_workers=1) as pool:
        problems = pool.submit(browser_story, stack, trusting_home).result(timeout=300)
    assert problems == []


# --- TLS quality ----------------------------------------------------------------------


def test_tls_meets_mozillas_intermediate_configuration(stack):
    result = run([tool("sslyze"), "--mozilla_config=intermediate",
                  f"--certinfo_ca_file={stack.ca_file}",
                  f"{DOMAIN}:{stack.https_port}{{127.0.0.1}}"], timeout=300, check=False)
    verdict = [line.strip() for line in result.stdout.splitlines()
               if "COMPLIANT" in line.upper()]
    record("sslyze --mozilla_config=intermediate",
           f"exit {result.returncode}; " + " | ".join(verdict))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# --- systemd units ------------------------------------------------------------------


def units(stack: Stack) -> list[str]:
    directory = stack.at("/etc/systemd/system")
    return [str(directory / name)
            for name in ("mayfly.service", "mayfly-purge.service", "mayfly-purge.timer")]


def test_systemd_units_verify_cleanly(stack):
    result = run([tool("systemd-analyze"), "verify", "--man=no", *units(stack)])
    assert result.stderr == ""


@pytest.mark.parametrize("unit", ["mayfly.service", "mayfly-purge.service"])
def test_systemd_exposure_score_is_low(stack, unit):
    path = stack.at(f"/etc/systemd/system/{unit}")
    result = run([tool("systemd-analyze"), "security", "--offline=true", "--no-pager",
                  str(path)])
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", result.stdout)
    assert match, result.stdout[-2000:]
    record(f"systemd-analyze security {unit}", f"{match[1]} {match[2]}")
    assert float(match[1]) <= 1.0


# --- Renewal (last: it replaces the certificate) -------------------------------------


def test_certificate_renews_and_nginx_serves_the_new_one(stack):
    before = stack.served_certificate()
    run([tool("certbot"), "renew", "--force-renewal", "--no-random-sleep-on-renew",
         "--non-interactive", *stack.certbot_dirs()], env=stack.certbot_env, timeout=180)
    after = wait_for_pebble_certificate(stack, not_serial=before.serial_number)
    assert after.not_valid_before_utc >= before.not_valid_before_utc
    assert stack.session().get(f"{stack.base}/healthz", timeout=10).status_code == 200
