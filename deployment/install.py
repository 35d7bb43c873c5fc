#!/usr/bin/env python3
"""Install mayfly on a Debian or Ubuntu server: uWSGI, nginx, systemd, HTTPS.

    sudo deployment/install.sh --domain secrets.example.org --email admin@example.org

Run as root on the server the domain points at. Every step is safe to repeat: a
second run upgrades mayfly in place and keeps its data and settings.
docs/deployment.md describes each step and how to do it by hand.

``--dry-run`` runs nothing that changes the system and prints each command
instead. ``--root DIR`` moves the whole installation under DIR (the paths inside
the rendered files too): with ``--dry-run`` it renders every file there, which is
how the tests build a private copy of the production stack.

Only the standard library: this runs on the system's Python, before mayfly exists.
"""

from __future__ import annotations

import argparse
import http.client
import os
import pwd
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APT_PACKAGES = ["nginx", "certbot", "python3-certbot-nginx", "python3-venv", "openssl"]
# Settings the installer decides; everything else in mayfly.env is the operator's.
MANAGED_SETTINGS = ("MAYFLY_DATA_DIR", "MAYFLY_PUBLIC_URL", "MAYFLY_PROXY_COUNT",
                    "MAYFLY_PURGE_INTERVAL")
OPTIONAL_SETTINGS = """\
# Optional settings (uncomment to change; `systemctl restart mayfly` applies them,
# re-run the installer after changing MAYFLY_MAX_CIPHERTEXT_BYTES so nginx agrees).
# MAYFLY_MAX_CIPHERTEXT_BYTES=10485760
# MAYFLY_MAX_LIFETIME=604800
# MAYFLY_RATE_LIMIT_CREATE=30/minute
# MAYFLY_RATE_LIMIT_REVEAL=60/minute
# MAYFLY_STORAGE_URL=
"""
# What pip sees of the installer's environment: where programs are, the language,
# a proxy, pip's own settings. Not REQUESTS_CA_BUNDLE, SSL_CERT_FILE and the like: a
# caller may set them to trust a test CA for certbot, and they would replace the
# certificates pip needs to reach the package index.
PIP_ENVIRONMENT = {"PATH", "HOME", "LANG", "LC_ALL", "http_proxy", "https_proxy", "no_proxy",
                   "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
CERTBOT_SERVER_MARK = "# Set by mayfly's installer (--acme-server): renewals and dry runs ask it."
PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
RATE = re.compile(r"^[1-9][0-9]*r/[sm]$")


class InstallError(Exception):
    """A reason to stop, said in one line."""


@dataclass(frozen=True)
class Layout:
    """Every path of an installation, under ``root`` ("/" on a real server)."""

    root: Path

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    @property
    def relocated(self) -> bool:
        return self.root != Path("/")

    venv = property(lambda self: self.at("/opt/mayfly/venv"))
    static_dir = property(lambda self: self.at("/opt/mayfly/static"))
    ready_probe = property(lambda self: self.at("/opt/mayfly/libexec/mayfly-ready.py"))
    conf_dir = property(lambda self: self.at("/etc/mayfly"))
    env_file = property(lambda self: self.at("/etc/mayfly/mayfly.env"))
    uwsgi_ini = property(lambda self: self.at("/etc/mayfly/uwsgi.ini"))
    tls_dir = property(lambda self: self.at("/etc/mayfly/tls"))
    data_dir = property(lambda self: self.at("/var/lib/mayfly"))
    run_dir = property(lambda self: self.at("/run/mayfly"))
    socket = property(lambda self: self.at("/run/mayfly/mayfly.sock"))
    systemd_dir = property(lambda self: self.at("/etc/systemd/system"))
    nginx_dir = property(lambda self: self.at("/etc/nginx"))
    nginx_site = property(lambda self: self.at("/etc/nginx/sites-available/mayfly.conf"))
    nginx_link = property(lambda self: self.at("/etc/nginx/sites-enabled/mayfly.conf"))
    nginx_log_dir = property(lambda self: self.at("/var/log/nginx"))
    acme_root = property(lambda self: self.at("/var/www/mayfly-acme"))
    letsencrypt = property(lambda self: self.at("/etc/letsencrypt"))
    certbot_ini = property(lambda self: self.at("/etc/letsencrypt/cli.ini"))

    def live_cert(self, domain: str) -> Path:
        return self.letsencrypt / "live" / domain

    def certbot_dirs(self) -> list[str]:
        """Where certbot keeps its state: its defaults, moved under a relocated root."""
        if not self.relocated:
            return []
        return ["--config-dir", str(self.letsencrypt),
                "--work-dir", str(self.at("/var/lib/letsencrypt")),
                "--logs-dir", str(self.at("/var/log/letsencrypt")),
                "--nginx-server-root", str(self.nginx_dir)]


@dataclass(frozen=True)
class Options:
    domain: str
    email: str
    dry_run: bool
    acme_server: str | None
    layout: Layout
    processes: int
    http_port: int
    https_port: int
    listen: str
    api_rate: str
    api_burst: int
    env: dict[str, str]
    source: str
    user: str
    web_group: str
    python: str

    @property
    def public_url(self) -> str:
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.domain}{port}"


class Runner:
    """Does each step, or in a dry run says what it would do.

    Commands that change the system (packages, users, services, certificates) run
    only for real. Files are written for real, and also in a dry run into a
    relocated root, which changes nothing outside that directory.
    """

    def __init__(self, dry_run: bool, layout: Layout, out=sys.stdout):
        self.dry_run = dry_run
        self.writes_files = not dry_run or layout.relocated
        self.out = out
        # Every file this run wrote with new content: what decides the restarts.
        self.changed: set[Path] = set()

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, title: str) -> None:
        self.say(f"==> {title}")

    def run(self, argv: Sequence[str], *, makes_files: bool = False,
            env: Mapping[str, str] | None = None) -> None:
        """Run a command; in a dry run only print it (unless it just makes files)."""
        doing = self.writes_files if makes_files else not self.dry_run
        self.say(("+ " if doing else "would run: ") + shlex.join(argv))
        if doing:
            result = subprocess.run(list(argv), env=env, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                raise InstallError(f"{argv[0]} failed with exit status {result.returncode}")

    def write(self, path: Path, text: str, mode: int = 0o644) -> None:
        """Write a file atomically; say whether it changed."""
        if not self.writes_files:
            self.say(f"would write {path} ({len(text.encode())} bytes)")
            return
        if path.is_file() and path.read_text() == text:
            os.chmod(path, mode)
            self.say(f"unchanged {path}")
            return
        self.changed.add(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        self.say(f"wrote {path}")

    def mkdir(self, path: Path, mode: int = 0o755) -> None:
        if not self.writes_files:
            self.say(f"would create {path}/")
            return
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)

    def remove(self, path: Path) -> None:
        """Delete a file the installer once wrote and no longer does."""
        if not path.exists():
            return
        if not self.writes_files:
            self.say(f"would remove {path}")
            return
        path.unlink()
        self.changed.add(path)
        self.say(f"removed {path}")

    def symlink(self, link: Path, target: Path) -> None:
        if not self.writes_files:
            self.say(f"would link {link} -> {target}")
            return
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return
        self.changed.add(link)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        self.say(f"linked {link} -> {target}")

    def chown(self, path: Path, user: str, group: str) -> None:
        """Hand a path to the service user (a change to the system: real runs only)."""
        if self.dry_run:
            self.say(f"would chown {user}:{group} {path}")
            return
        shutil.chown(path, user, group)


def render(name: str, template: str, values: Mapping[str, str]) -> str:
    """Fill in @NAME@ placeholders; a placeholder without a value is an error."""
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise InstallError(f"{name}: no value for {', '.join(missing)}")
    header = (f"# Rendered from deployment/{name} by deployment/install.py: re-run the\n"
              "# installer rather than editing this file.\n")
    return header + PLACEHOLDER.sub(lambda match: values[match.group(1)],
                                    _without_template_note(template))


def _without_template_note(template: str) -> str:
    """Drop the template's "# A template: ..." paragraph, which the header replaces."""
    lines = template.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("# A template:")), None)
    if start is None:
        return template
    end = start
    while end < len(lines) and lines[end].strip() not in {"#", ""}:
        end += 1
    return "".join(lines[:start] + lines[end + 1:])


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments skipped)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def env_file_text(existing: str | None, settings: Mapping[str, str]) -> str:
    """The settings file: keep the operator's lines, set ours, add what is missing."""
    lines = (existing if existing is not None else
             "# mayfly's settings (MAYFLY_*), read by mayfly.service and mayfly-purge.service.\n"
             "# The installer sets the first three on every run; the rest are yours.\n"
             ).splitlines()
    pending = dict(settings)
    for index, line in enumerate(lines):
        key = line.partition("=")[0].strip()
        if "=" in line and not line.lstrip().startswith("#") and key in pending:
            lines[index] = f"{key}={pending.pop(key)}"
    lines += [f"{key}={value}" for key, value in pending.items()]
    text = "\n".join(lines) + "\n"
    if existing is None:
        text += "\n" + OPTIONAL_SETTINGS
    return text


def listen(address: str, port: int, flags: str = "") -> str:
    """nginx listen lines: one address, or every IPv4 and IPv6 address."""
    suffix = f" {flags}" if flags else ""
    if address:
        return f"listen {address}:{port}{suffix};"
    return f"listen {port}{suffix};\n    listen [::]:{port}{suffix};"


def network_lines(env: Mapping[str, str]) -> str:
    """SQLite needs no network at all; another storage, or notices (SMTP, a webhook), need IP."""
    storage_url = env.get("MAYFLY_STORAGE_URL", "")
    reaches = []
    if storage_url and not storage_url.startswith("sqlite:"):
        reaches.append("MAYFLY_STORAGE_URL names a server")
    if env.get("MAYFLY_SMTP_URL") or env.get("MAYFLY_WEBHOOK_URL"):
        reaches.append("notices go out (MAYFLY_SMTP_URL or MAYFLY_WEBHOOK_URL)")
    if not reaches:
        return ("# SQLite storage: no network at all (the uWSGI socket is a file, which\n"
                "# works across network namespaces).\n"
                "PrivateNetwork=yes\nIPAddressDeny=any\nRestrictAddressFamilies=AF_UNIX")
    return (f"# {'; '.join(reaches)}: IP is allowed to reach them.\n"
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6")


def pip_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of our environment pip should see (see PIP_ENVIRONMENT)."""
    return {key: value for key, value in environ.items()
            if key in PIP_ENVIRONMENT or key.startswith("PIP_")}


def venv_python(layout: Layout) -> Path:
    return layout.venv / "bin" / "python"


def ask_venv(layout: Layout, code: str, env: Mapping[str, str]) -> str | None:
    """Ask the installed mayfly a question (read-only, so dry runs ask too)."""
    python = venv_python(layout)
    if not python.exists():
        return None
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                            env={"PATH": os.defpath, **env}, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise InstallError(f"mayfly refused its settings: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


def body_limit(layout: Layout, env: Mapping[str, str], runner: Runner) -> int:
    """The app's request body limit, so nginx's client_max_body_size matches it."""
    code = ("from mayfly.api import max_body_bytes; from mayfly.config import load; "
            "print(max_body_bytes(load()))")
    answer = ask_venv(layout, code, env)
    if answer is not None:
        return int(answer)
    # Dry run before the virtualenv exists: mayfly.api.max_body_bytes, by hand.
    ciphertext = int(env.get("MAYFLY_MAX_CIPHERTEXT_BYTES") or 10 * 1024 * 1024)
    runner.say("note: estimating the body limit (mayfly is not installed yet)")
    return -(-ciphertext * 4 // 3) + 64 * 1024


def tls_paths(opts: Options) -> dict[str, str]:
    """The live certificate when there is one, else the self-signed placeholder."""
    live = opts.layout.live_cert(opts.domain)
    if (live / "fullchain.pem").exists():
        return {"TLS_CERT": str(live / "fullchain.pem"), "TLS_KEY": str(live / "privkey.pem"),
                "TLS_CHAIN": str(live / "chain.pem")}
    tls = opts.layout.tls_dir
    return {"TLS_CERT": str(tls / "placeholder.pem"), "TLS_KEY": str(tls / "placeholder.key"),
            "TLS_CHAIN": str(tls / "placeholder.pem")}


def template_values(opts: Options, limit: int, env: Mapping[str, str]) -> dict[str, str]:
    layout = opts.layout
    return {
        "DOMAIN": opts.domain,
        "USER": opts.user,
        "WEB_GROUP": opts.web_group,
        "PROCESSES": str(opts.processes),
        "VENV": str(layout.venv),
        "CONF_DIR": str(layout.conf_dir),
        "DATA_DIR": str(layout.data_dir),
        # /run is read-only to the service: its socket's directory is opened again.
        "READ_WRITE_PATHS": f"{layout.data_dir} {layout.run_dir}",
        "PURGE_WRITE_PATHS": str(layout.data_dir),
        "READY_PROBE": str(layout.ready_probe),
        "SOCKET": str(layout.socket),
        "STATIC_DIR": str(layout.static_dir),
        "ACME_ROOT": str(layout.acme_root),
        "NGINX_LOG_DIR": str(layout.nginx_log_dir),
        "LISTEN_HTTP": listen(opts.listen, opts.http_port),
        "LISTEN_HTTPS": listen(opts.listen, opts.https_port, "ssl http2"),
        "HTTPS_PORT_SUFFIX": "" if opts.https_port == 443 else f":{opts.https_port}",
        "BODY_LIMIT": str(limit),
        "API_RATE": opts.api_rate,
        "API_BURST": str(opts.api_burst),
        "TLS_DHPARAM": str(layout.tls_dir / "ffdhe2048.pem"),
        "NETWORK": network_lines(env),
        **tls_paths(opts),
    }


def render_nginx(opts: Options, runner: Runner, values: Mapping[str, str]) -> bool:
    """Write our site and enable it; say whether anything changed."""
    template = (HERE / "nginx" / "mayfly.conf").read_text()
    site, link = opts.layout.nginx_site, opts.layout.nginx_link
    runner.changed -= {site, link}
    runner.write(site, render("nginx/mayfly.conf", template, values))
    runner.symlink(link, site)
    return bool(runner.changed & {site, link})


def reload_nginx(opts: Options, runner: Runner, changed: bool) -> None:
    """Check the configuration; start nginx, or reload it if our site changed."""
    runner.run(["nginx", "-t", "-q"])
    if not is_active(runner, "nginx"):
        runner.run(["systemctl", "enable", "--now", "--quiet", "nginx"])
    elif changed:
        runner.run(["systemctl", "reload", "nginx"])
    else:
        runner.say("nginx unchanged: not reloaded")


def certbot_command(opts: Options) -> list[str]:
    """`certbot certonly --nginx`: obtain (or keep) the certificate; our site names it.

    certonly leaves our site file alone (certbot --nginx would rewrite it on every
    run); nginx answers the challenge, and the deploy hook, kept in the renewal
    settings, reloads nginx after each renewal.
    """
    argv = ["certbot", "certonly", "--nginx", "--non-interactive", "--agree-tos",
            "--email", opts.email, "--domains", opts.domain, "--cert-name", opts.domain,
            "--keep-until-expiring", "--deploy-hook", "systemctl reload nginx"]
    if opts.acme_server:
        argv += ["--server", opts.acme_server]
    if opts.http_port != 80:
        argv += ["--http-01-port", str(opts.http_port)]
    if opts.https_port != 443:
        argv += ["--https-port", str(opts.https_port)]
    return argv + opts.layout.certbot_dirs()


def install(opts: Options, runner: Runner) -> None:
    """Every step, in order."""
    layout = opts.layout
    if not opts.dry_run and os.geteuid() != 0:
        raise InstallError("run me as root (sudo), or try --dry-run first")

    runner.step("System packages")
    runner.run(["apt-get", "update", "-q"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    # Keep configuration files already there (a restored /etc/letsencrypt, say)
    # instead of asking about them, which fails without a terminal.
    runner.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
                *APT_PACKAGES],
               env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})

    runner.step(f"Service user {opts.user} (group {opts.web_group} for the socket)")
    try:
        pwd.getpwnam(opts.user)
        runner.say(f"user {opts.user} exists")
    except KeyError:
        runner.run(["useradd", "--system", "--user-group", "--home-dir", str(layout.data_dir),
                    "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--comment", "mayfly service", opts.user])

    runner.step("Directories")
    for path in (layout.conf_dir, layout.tls_dir, layout.static_dir.parent, layout.acme_root,
                 layout.nginx_log_dir, layout.systemd_dir):
        runner.mkdir(path)
    runner.mkdir(layout.data_dir, 0o700)
    runner.chown(layout.data_dir, opts.user, opts.user)
    if layout.relocated:
        runner.mkdir(layout.run_dir, 0o750)  # on a real server systemd makes /run/mayfly

    runner.step(f"Virtual environment in {layout.venv}, from {opts.python}")
    if not venv_python(layout).exists():
        runner.run([opts.python, "-m", "venv", str(layout.venv)])
    before = installed_fingerprint(layout)
    runner.run([str(venv_python(layout)), "-m", "pip", "install", "--quiet", "--upgrade",
                opts.source], env=pip_environment(os.environ))
    code_changed = runner.dry_run or installed_fingerprint(layout) != before
    runner.say("mayfly and its dependencies: " + ("new" if code_changed else "unchanged"))
    runner.write(layout.ready_probe, (HERE / "mayfly-ready.py").read_text())

    runner.step("Settings")
    existing = layout.env_file.read_text() if layout.env_file.is_file() else None
    settings = {"MAYFLY_DATA_DIR": str(layout.data_dir), "MAYFLY_PUBLIC_URL": opts.public_url,
                # mayfly-purge.timer purges: no request waits for a large purge.
                "MAYFLY_PROXY_COUNT": "1", "MAYFLY_PURGE_INTERVAL": "0", **opts.env}
    env_text = env_file_text(existing, settings)
    runner.write(layout.env_file, env_text, 0o640)
    env = parse_env(env_text)
    limit = body_limit(layout, env, runner)
    runner.say(f"request body limit (nginx and app): {limit} bytes")

    runner.step(f"Static files in {layout.static_dir}")
    copy_static(opts, runner, env)

    runner.step("TLS: Diffie-Hellman group and a placeholder certificate")
    make_tls_material(opts, runner)

    runner.step("systemd and nginx configuration")
    values = template_values(opts, limit, env)
    # uWSGI's configuration ships inside the package now (mayfly serve uses it);
    # the copy rendered by installers before 0.2 would only mislead.
    runner.remove(layout.uwsgi_ini)
    for unit in ("mayfly.service", "mayfly-purge.service", "mayfly-purge.timer"):
        text = (HERE / "systemd" / unit).read_text()
        runner.write(layout.systemd_dir / unit, render(f"systemd/{unit}", text, values))
    site_changed = render_nginx(opts, runner, values)
    write_certbot_server(opts, runner)

    runner.step("Start mayfly (restart when anything of it changed) and the purge timer")
    start_mayfly(opts, runner, code_changed)
    reload_nginx(opts, runner, site_changed)

    runner.step(f"Certificate for {opts.domain} (certbot certonly --nginx)")
    runner.run(certbot_command(opts))
    # Our site names the certificate: the live one from now on (renewal replaces
    # the files behind these paths, and reloads nginx through the deploy hook).
    reload_nginx(opts, runner, render_nginx(opts, runner, {**values, **tls_paths(opts)}))

    runner.step("Renewal")
    # Debian's certbot package ships certbot.timer (twice a day, `certbot renew`).
    runner.run(["systemctl", "enable", "--now", "certbot.timer"])

    runner.step("Check")
    if runner.dry_run:
        runner.say(f"would check {opts.public_url}/healthz")
    else:
        note = check_health(opts)
        if note:
            runner.say(f"note: {note}")
    runner.say(f"mayfly is ready: {opts.public_url}/")


def installed_fingerprint(layout: Layout) -> str | None:
    """What the virtualenv holds: every distribution's version and mayfly's file hashes."""
    code = ("import importlib.metadata as m; "
            "print(sorted(f'{d.metadata[\"Name\"]}=={d.version}' for d in m.distributions())); "
            "print(m.distribution('mayfly').read_text('RECORD'))")
    try:
        return ask_venv(layout, code, {})
    except InstallError:
        return None  # no mayfly in it yet


def make_tls_material(opts: Options, runner: Runner) -> None:
    """The RFC 7919 DH group, and a self-signed certificate nginx can start with."""
    layout = opts.layout
    dhparam = layout.tls_dir / "ffdhe2048.pem"
    if not dhparam.exists():
        runner.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH",
                    "-pkeyopt", "group:ffdhe2048", "-out", str(dhparam)], makes_files=True)
    placeholder = layout.tls_dir / "placeholder.pem"
    if not placeholder.exists():
        runner.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
                    "-subj", f"/CN={opts.domain}",
                    "-keyout", str(layout.tls_dir / "placeholder.key"),
                    "-out", str(placeholder)], makes_files=True)
        if runner.writes_files:
            os.chmod(layout.tls_dir / "placeholder.key", 0o600)


def write_certbot_server(opts: Options, runner: Runner) -> None:
    """Make --acme-server certbot's default, so that `certbot renew --dry-run` asks it.

    A dry run otherwise goes to Let's Encrypt's staging server, whichever server
    issued the certificate. Without --acme-server our two lines come out again.
    """
    path = opts.layout.certbot_ini
    existing = path.read_text() if path.is_file() else None
    lines = (existing or "").splitlines()
    if CERTBOT_SERVER_MARK in lines:
        at = lines.index(CERTBOT_SERVER_MARK)
        del lines[at:at + 2]
    if opts.acme_server:
        lines += [CERTBOT_SERVER_MARK, f"server = {opts.acme_server}"]
    if existing is not None or lines:
        runner.write(path, "".join(f"{line}\n" for line in lines))


def start_mayfly(opts: Options, runner: Runner, code_changed: bool) -> None:
    """Enable the units; (re)start mayfly once, and only when something of it changed."""
    layout = opts.layout
    ours = {layout.env_file, layout.uwsgi_ini, layout.ready_probe,
            *(layout.systemd_dir / unit for unit in
              ("mayfly.service", "mayfly-purge.service", "mayfly-purge.timer"))}
    if runner.dry_run or runner.changed & ours:
        runner.run(["systemctl", "daemon-reload"])
    runner.run(["systemctl", "enable", "--quiet", "mayfly.service", "mayfly-purge.timer"])
    # A start waits for ExecStartPost= (mayfly answering), so restarting right after
    # would stop workers still loading the app: one start or restart, never both.
    if code_changed or runner.changed & ours or not is_active(runner, "mayfly.service"):
        runner.run(["systemctl", "restart", "mayfly.service"])
    else:
        runner.say("mayfly unchanged: not restarted")
    runner.run(["systemctl", "start", "mayfly-purge.timer"])


def is_active(runner: Runner, unit: str) -> bool:
    if runner.dry_run:
        return False
    return subprocess.run(["systemctl", "is-active", "--quiet", unit],
                          stdin=subprocess.DEVNULL).returncode == 0


def copy_static(opts: Options, runner: Runner, env: Mapping[str, str]) -> None:
    """Copy the package's static files to where nginx serves them, in one swap."""
    code = "import mayfly, pathlib; print(pathlib.Path(mayfly.__file__).parent / 'static')"
    source = ask_venv(opts.layout, code, env) if not runner.dry_run else None
    target = opts.layout.static_dir
    if source is None:
        runner.say(f"would copy mayfly's static files to {target}")
        return
    if target.is_dir() and tree_digest(Path(source)) == tree_digest(target):
        runner.say(f"unchanged {target}")
        return
    fresh = target.with_name(target.name + ".new")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(source, fresh)
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    runner.changed.add(target)
    runner.say(f"copied {source} -> {target}")


def tree_digest(root: Path) -> dict[str, bytes]:
    """Each file under ``root`` by relative path, with its content (small trees only)."""
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


def check_health(opts: Options) -> str | None:
    """GET /healthz over HTTPS must answer 200; return a note when only an untrusted CA vouches.

    With Let's Encrypt's staging server or a private CA (--acme-server), this
    machine, like every browser, does not trust the certificate. mayfly then still
    counts as installed if it answers, and nginx serves the certificate certbot got.
    """
    url = f"{opts.public_url}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            answered = response.status
    except urllib.error.URLError as exc:
        untrusted = isinstance(exc.reason, ssl.SSLCertVerificationError)
        if not (untrusted and opts.acme_server):
            raise InstallError(f"{url} did not answer: {exc.reason}") from None
        return check_untrusted(opts, url)
    except OSError as exc:
        raise InstallError(f"{url} did not answer: {exc}") from None
    if answered != 200:
        raise InstallError(f"{url} answered {answered}")
    return None


def check_untrusted(opts: Options, url: str) -> str:
    """The check without trust: the answer, and the certificate nginx presents."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(opts.domain, opts.https_port, timeout=10,
                                       context=context)
    try:
        conn.request("GET", "/healthz")
        answered = conn.getresponse().status
        served = conn.sock.getpeercert(binary_form=True)
    except OSError as exc:
        raise InstallError(f"{url} did not answer: {exc}") from None
    finally:
        conn.close()
    issued = ssl.PEM_cert_to_DER_cert(
        (opts.layout.live_cert(opts.domain) / "cert.pem").read_text())
    if answered != 200:
        raise InstallError(f"{url} answered {answered}")
    if served != issued:
        raise InstallError(f"{url} presents another certificate than certbot obtained")
    return (f"{url} answers with the certificate from {opts.acme_server}, a CA this "
            "machine does not trust (Let's Encrypt's staging server, or a private CA); "
            "browsers will warn too. Re-run without --acme-server for a trusted one.")


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="install.sh", description=__doc__.split("\n\n")[0],
        epilog="docs/deployment.md explains every step.")
    parser.add_argument("--domain", required=True, help="the name mayfly answers to")
    parser.add_argument("--email", required=True, help="for Let's Encrypt's expiry notices")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done")
    parser.add_argument("--acme-server", metavar="URL",
                        help="ACME directory (default: Let's Encrypt; staging or a test CA)")
    parser.add_argument("--root", default="/", metavar="DIR",
                        help="install under DIR instead of / (for tests)")
    parser.add_argument("--processes", type=int, default=5, help="uWSGI workers (default 5)")
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--listen", default="", metavar="ADDRESS",
                        help="the address nginx listens on (default: all, IPv4 and IPv6)")
    parser.add_argument("--api-rate", default="10r/s",
                        help="nginx's flood limit per address on /api/ (default 10r/s)")
    parser.add_argument("--api-burst", type=int, default=20,
                        help="requests above the rate let through at once (default 20)")
    parser.add_argument("--env", action="append", default=[], metavar="MAYFLY_NAME=VALUE",
                        help="a setting for mayfly.env (repeatable)")
    parser.add_argument("--source", default=None,
                        help="what pip installs (default: this checkout)")
    parser.add_argument("--user", default="mayfly", help="the service user (default mayfly)")
    parser.add_argument("--web-group", default="www-data",
                        help="nginx's group, which may use the socket (default www-data)")
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="the system Python the virtualenv is made from")
    args = parser.parse_args(argv)

    domain = args.domain.lower().rstrip(".")
    if not DOMAIN.match(domain):
        parser.error(f"--domain {args.domain!r} is not a domain name")
    if "@" not in args.email or any(c.isspace() for c in args.email):
        parser.error(f"--email {args.email!r} is not an address")
    if not 1 <= args.processes <= 64:
        parser.error("--processes must lie between 1 and 64")
    for name in ("http_port", "https_port"):
        if not 1 <= getattr(args, name) <= 65535:
            parser.error(f"--{name.replace('_', '-')} must be a TCP port")
    if not RATE.match(args.api_rate):
        parser.error("--api-rate looks like 10r/s or 600r/m")
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"MAYFLY_[A-Z0-9_]+", key):
            parser.error(f"--env {item!r}: expected MAYFLY_NAME=VALUE")
        if key in MANAGED_SETTINGS:
            parser.error(f"--env {key}: the installer sets this one itself")
        if "\n" in value:
            parser.error(f"--env {key}: one line only")
        env[key] = value
    root = Path(args.root).resolve()
    source = args.source or (str(REPO) if (REPO / "pyproject.toml").exists() else "mayfly")
    return Options(
        domain=domain, email=args.email, dry_run=args.dry_run, acme_server=args.acme_server,
        layout=Layout(root), processes=args.processes, http_port=args.http_port,
        https_port=args.https_port, listen=args.listen, api_rate=args.api_rate,
        api_burst=args.api_burst, env=env, source=source, user=args.user,
        web_group=args.web_group, python=args.python)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    runner = Runner(opts.dry_run, opts.layout)
    if opts.dry_run:
        runner.say("Dry run: nothing outside --root changes; commands are printed.")
    try:
        install(opts, runner)
    except InstallError as exc:
        print(f"install.sh: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
