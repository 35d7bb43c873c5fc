"""The README's install command on a fresh Debian booted with systemd as PID 1.

A container (tests/deployment/guest.py) boots a fresh Debian; the checkout is
copied in and `deployment/install.sh --domain D --email E` runs inside, as root,
exactly as the README says, with pebble on the host as the ACME server. The
tests then look from outside: HTTPS through the guest's nginx, the CLI and a
browser, the units under systemd, the sandbox as the running service meets it,
a reboot, an upgrade to a newer commit, and a run that has nothing to do.

The tests run in order and share one guest: each is a step of one server's life.
The guest shares the host's network, so its nginx needs the host's ports 80 and 443.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from mayfly import crypto
from mayfly.client import Client, Link

from ..notices.receivers import WEBHOOK_SECRET, SmtpReceiver, WebhookReceiver, make_certificate
from .guest import Guest
from .stack import DOMAIN, EMAIL, REPO, Pebble, free_ports, nss_home_trusting, resolving, tool
from .test_stack import browser_story

pytestmark = pytest.mark.slow

BASE = f"https://{DOMAIN}"
CHECKOUT = "/root/mayfly"
# What the test hands certbot (and so the installer) to trust pebble's ACME listener.
PEBBLE_LISTENER = "/root/pebble-listener.pem"
# As long as Let's Encrypt's: certbot renews anything within 30 days of expiry,
# so a shorter life would make every run of the installer renew.
CERT_VALIDITY = 90 * 24 * 3600
UNITS = ("mayfly.service", "mayfly-purge.service", "mayfly-purge.timer")
# What the upgrade's commit adds: a static file nginx must then serve, and a
# migration step (an index) the restarted workers must apply to the database.
UPGRADE_MARKER = "src/mayfly/static/upgrade-marker.txt"
UPGRADE_TEXT = "from the newer commit\n"
MIGRATIONS = "src/mayfly/storage/migrations.py"
UPGRADE_STEP = ('    # Added by the fresh-server test\'s upgrade commit.\n'
                '    "CREATE INDEX upgrade_probe ON secrets (created_at);",\n]\n')
MEASUREMENTS = REPO / "build" / "fresh-server-measurements.txt"


@dataclass
class Server:
    """One fresh guest with mayfly installed, and what the steps learnt about it."""

    guest: Guest
    pebble: Pebble
    ca_file: Path
    checkout: Path
    installs: list[subprocess.CompletedProcess] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.ca_file)
        return session

    def client(self) -> Client:
        return Client(BASE, session=self.session())

    def install(self) -> subprocess.CompletedProcess:
        """Run the installer inside the guest, as the README says; keep what it printed."""
        started = time.monotonic()
        result = self.guest.run(
            f"cd {CHECKOUT} && deployment/install.sh --domain {DOMAIN} --email {EMAIL} "
            f"--acme-server {self.pebble.directory}",
            env={"REQUESTS_CA_BUNDLE": PEBBLE_LISTENER}, check=False, timeout=600)
        result.seconds = time.monotonic() - started
        self.installs.append(result)
        assert result.returncode == 0, (f"install.sh exited {result.returncode}\n"
                                        f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
        return result

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.guest.nsenter(["systemctl", *args], check=check)

    def show(self, unit: str, prop: str) -> str:
        return self.systemctl("show", unit, "-p", prop, "--value").stdout.strip()


def record(name: str, value: str) -> None:
    """Keep a measured figure for docs/deployment.md (build/ is not committed)."""
    MEASUREMENTS.parent.mkdir(exist_ok=True)
    with MEASUREMENTS.open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%d %H:%M')} {name}: {value}\n")


def assert_ports_free(*ports: int) -> None:
    """The guest's nginx binds the host's ports: say so plainly when they are taken."""
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError as exc:
                pytest.fail(f"port {port} of this machine is taken ({exc}); the guest's nginx "
                            "shares the host's network and needs ports 80 and 443 free")


def export_checkout(repo: Path, target: Path) -> None:
    """The committed tree of ``repo`` into ``target`` (what `git pull` leaves behind)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(repo), "archive", "HEAD"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)


def checkout_copy(workdir: Path) -> Path:
    """A git repository holding this working tree as one commit (the "older" release)."""
    repo = workdir / "checkout"
    repo.mkdir()
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], check=True, capture_output=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@mayfly.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "the release under test"], check=True)
    return repo


def prepare(guest: Guest, repo: Path, pebble_cert: Path) -> None:
    """Point the domain at the guest itself (its DNS), and put the checkout in /root."""
    with guest.path("/etc/hosts").open("a") as hosts:
        hosts.write(f"127.0.0.1 {DOMAIN}\n")
    export_checkout(repo, guest.path(CHECKOUT))
    shutil.copy(pebble_cert, guest.path(PEBBLE_LISTENER))


@pytest.fixture(scope="module", params=["bookworm"])
def server(request):
    """A fresh Debian with mayfly installed by the README's command; powered off after."""
    for program in ("mmdebstrap", "systemd-nspawn", "nsenter", "pebble", "git"):
        tool(program)
    assert_ports_free(80, 443)
    workdir = Path(tempfile.mkdtemp(prefix="mayfly-guest-", dir="/var/tmp"))
    guest = pebble = None
    try:
        pebble = Pebble(workdir / "pebble", CERT_VALIDITY)
        repo = checkout_copy(workdir)
        guest = Guest(request.param, workdir, "mayfly-fresh")
        prepare(guest, repo, pebble.cert)
        record(f"{request.param} boot to running", f"{guest.boot():.1f} s")
        ca_file = workdir / "pebble-root.pem"
        server = Server(guest=guest, pebble=pebble, ca_file=ca_file, checkout=repo)
        server.install()
        ca_file.write_text(pebble.root_pem())
        record(f"{request.param} first install", f"{server.installs[0].seconds:.1f} s")
        with resolving(DOMAIN, "127.0.0.1"):
            yield server
    finally:
        if guest is not None:
            guest.remove()
        if pebble is not None:
            pebble.service.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --- The install -----------------------------------------------------------------------


def test_install_finishes_with_a_note_about_the_untrusted_ca(server):
    output = server.installs[0].stdout
    assert output.rstrip().endswith(f"mayfly is ready: {BASE}/")
    assert "a CA this machine does not trust" in output


def test_install_starts_mayfly_once_and_never_waits_for_a_stop(server):
    journal = server.guest.nsenter(["journalctl", "-b", "-u", "mayfly.service", "-o", "cat"]
                                   ).stdout
    assert journal.count("Starting mayfly.service") == 1, journal[-3000:]
    assert "Stopping mayfly.service" not in journal
    assert "timed out" not in journal
    # From start to "Started", which waits for mayfly's first answer (ExecStartPost=).
    stamps = server.guest.nsenter(["journalctl", "-b", "-u", "mayfly.service", "-o", "json",
                                   "--output-fields=MESSAGE"]).stdout.splitlines()
    entries = [json.loads(line) for line in stamps]
    times = {entry["MESSAGE"].split(" ")[0]: int(entry["__MONOTONIC_TIMESTAMP"])
             for entry in entries if entry["MESSAGE"].startswith(("Starting", "Started"))}
    record("mayfly start to ready (app loaded)",
           f"{(times['Started'] - times['Starting']) / 1e6:.1f} s")


def test_pip_did_not_see_the_test_ca(server):
    # REQUESTS_CA_BUNDLE names pebble's certificate alone: had pip used it, it could
    # not have reached the package index, and the install would have failed.
    assert "CERTIFICATE_VERIFY_FAILED" not in server.installs[0].stdout


# --- From outside: HTTPS, redirect, CLI, browser --------------------------------------


def test_https_answers_with_pebbles_certificate(server):
    response = server.session().get(f"{BASE}/healthz", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_http_redirects_to_https(server):
    response = requests.get(f"http://{DOMAIN}/s/abc?x=1", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{BASE}/s/abc?x=1"


# The installed `mayfly` command's code in a process of its own, resolving the
# test's domain to this machine as DNS would for a real one.
CLI = ("import socket, sys; real = socket.getaddrinfo; "
       "socket.getaddrinfo = lambda host, *a, **k: real("
       f"'127.0.0.1' if host == '{DOMAIN}' else host, *a, **k); "
       "from mayfly.cli import main; sys.argv[0] = 'mayfly'; main()")


def mayfly(server: Server, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], input=stdin, text=True,
                          capture_output=True, timeout=60,
                          env={"PATH": os.defpath, "REQUESTS_CA_BUNDLE": str(server.ca_file),
                               "MAYFLY_SERVER": BASE})


def test_a_secret_goes_through_the_cli(server):
    sent = mayfly(server, "send", stdin="over the installed server\n")
    assert sent.returncode == 0, sent.stderr
    link = sent.stdout.split()[0]
    assert link.startswith(f"{BASE}/s/")
    read = mayfly(server, "read", link)
    assert read.returncode == 0, read.stderr
    assert "over the installed server" in read.stdout
    again = mayfly(server, "read", link)
    assert again.returncode != 0 and again.stderr.startswith("Error: ")


@pytest.fixture
def trusting_home(server, tmp_path) -> Path:
    """A HOME whose NSS store (what Chromium trusts on Linux) holds pebble's root."""
    return nss_home_trusting(server.ca_file, tmp_path)


def test_a_reader_reads_once_in_a_browser(server, trusting_home):
    site = SimpleNamespace(base=BASE)
    with ThreadPoolExecutor(max_workers=1) as pool:
        problems = pool.submit(browser_story, site, trusting_home).result(timeout=300)
    assert problems == []


# --- Under systemd ---------------------------------------------------------------------


def test_mayfly_is_active_and_the_timers_are_listed(server):
    assert server.systemctl("is-active", "mayfly.service").stdout.strip() == "active"
    timers = server.systemctl("list-timers", "--all", "--no-legend").stdout
    assert "mayfly-purge.timer" in timers and "certbot.timer" in timers


def test_the_purge_unit_runs_in_its_sandbox(server):
    server.systemctl("start", "mayfly-purge.service")
    assert server.show("mayfly-purge.service", "Result") == "success"
    journal = server.guest.nsenter(["journalctl", "-b", "-u", "mayfly-purge.service",
                                    "-o", "cat"]).stdout
    assert re.search(r"^purged \d+", journal, re.MULTILINE), journal[-2000:]


def test_renewal_dry_run_passes_against_the_issuing_server(server):
    before = server.pebble.service.tail(10**7).count("POST /order-plz")
    result = server.guest.run("certbot renew --dry-run --no-random-sleep-on-renew",
                              env={"REQUESTS_CA_BUNDLE": PEBBLE_LISTENER}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "all simulated renewals succeeded" in output
    assert "staging" not in output
    # The simulated renewal ordered a certificate from pebble, the issuing server.
    assert server.pebble.service.tail(10**7).count("POST /order-plz") > before


def test_the_journal_of_mayflys_units_has_no_warning(server):
    units = [arg for unit in UNITS for arg in ("-u", unit)]
    warnings = server.guest.nsenter(["journalctl", "-b", "-p", "warning", "-o", "cat",
                                     "--no-pager", *units]).stdout
    assert warnings.strip() in {"", "-- No entries --"}, warnings
    everything = server.guest.nsenter(["journalctl", "-b", "-o", "cat", *units]).stdout
    assert "Traceback" not in everything


# --- Notices (email and webhook), set up as docs/deployment.md says ------------------------

# Where the operator's relay CA goes on Debian (update-ca-certificates reads it).
RELAY_CA = "/usr/local/share/ca-certificates/mayfly-test-relay.crt"
WATCHER = "watcher@example.org"
# uWSGI workers the installer asks for by default (--processes).
PROCESSES = 5


@pytest.fixture
def receivers(tmp_path):
    """An SMTP relay (STARTTLS, AUTH) and an HTTPS webhook on the host's loopback.

    Both show a certificate of the test's own CA. The guest shares the host's
    network, so the guest's 127.0.0.1 reaches them.
    """
    cert, key = make_certificate(tmp_path / "relay-tls")
    smtp_port, hook_port = free_ports(2)
    smtp = SmtpReceiver(smtp_port, cert, key).start()
    hook = WebhookReceiver(hook_port, tls=(cert, key)).start()
    yield smtp, hook, cert
    smtp.stop()
    hook.stop()


def notice_settings(smtp: SmtpReceiver, hook: WebhookReceiver) -> str:
    """docs/deployment.md's notice lines, its example values swapped for the receivers'."""
    block = documented_commands("## Notices (email and webhook)")
    for example, ours in (("smtp://mayfly:PASSWORD@smtp.example.org:587", smtp.url),
                          ("https://ops.example.org/mayfly-events", hook.url),
                          ("a-long-random-string", WEBHOOK_SECRET)):
        assert block.count(example) == 1, example
        block = block.replace(example, ours)
    return block


def mayfly_journal(server: Server) -> str:
    """mayfly.service's lines since the guest booted."""
    return server.guest.nsenter(["journalctl", "-b", "-u", "mayfly.service", "-o", "cat"]).stdout


def test_notices_configured_as_documented_mail_the_sender_and_sign_the_webhook(
        server, receivers):
    smtp, hook, cert = receivers
    # The relay's certificate comes from a private CA: trusted as an operator would.
    shutil.copy(cert, server.guest.path(RELAY_CA))
    server.guest.run("update-ca-certificates")
    env_file = server.guest.path("/etc/mayfly/mayfly.env")
    before = env_file.read_text()
    env_file.write_text(before + notice_settings(smtp, hook))
    server.install()
    try:
        assert env_file.stat().st_mode & 0o777 == 0o640  # it holds passwords now
        assert (env_file.stat().st_uid, env_file.stat().st_gid) == (0, 0)
        assert server.show("mayfly.service", "PrivateNetwork") == "no"
        families = server.show("mayfly.service", "RestrictAddressFamilies").split()
        assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
        assert len(children(server, server.show("mayfly.service", "MainPID"))) == PROCESSES + 1
        assert "notices: email and webhook, delivered by a uWSGI mule" in mayfly_journal(server)

        sent = mayfly(server, "send", "--notify", WATCHER, stdin="the key is under the mat\n")
        assert sent.returncode == 0, sent.stderr
        link = sent.stdout.split()[0]
        read = mayfly(server, "read", link)
        assert read.returncode == 0 and "the key is under the mat" in read.stdout, read.stderr

        [mail] = smtp.wait_for(1)
        [event] = hook.wait_for(1)
        time.sleep(3)  # a second copy of either would have come by now
        assert len(smtp.mails()) == 1 and len(hook.events) == 1
        [(_, recipients, over_tls)] = smtp.messages
        assert recipients == [WATCHER] and over_tls
        assert str(mail["Subject"]) == "mayfly: your message was read"
        secret_id = Link.parse(link).id
        text = mail.as_string()
        for leak in (secret_id, BASE, DOMAIN, "under the mat", "http"):
            assert leak not in text, leak
        assert event["id"] == secret_id and event["state"] == "read"
        assert hook.bad_signatures == 0 and "@" not in json.dumps(event)

        # The mule's lines ("mayfly notices: ...") would name any failed delivery.
        lines = mayfly_journal(server)
        problems = [line for line in lines.splitlines() if line.startswith("mayfly notices:")
                    and any(word in line for word in ("failed", "unavailable", "rror"))]
        assert problems == [] and "Traceback" not in lines, lines[-3000:]
    finally:
        # The operator takes the settings out again: back to no network at all.
        env_file.write_text(before)
        server.install()
    assert server.show("mayfly.service", "PrivateNetwork") == "yes"
    assert server.show("mayfly.service", "RestrictAddressFamilies") == "AF_UNIX"
    # The workers alone: no mule.
    assert len(children(server, server.show("mayfly.service", "MainPID"))) == PROCESSES
    assert server.session().get(f"{BASE}/healthz", timeout=10).status_code == 200


# --- The sandbox, as the running service meets it ---------------------------------------

PROBE = r"""
import ctypes, errno, json, os, socket

def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))

def write(directory):
    def action():
        path = os.path.join(directory, "mayfly-probe")
        with open(path, "w") as handle:
            handle.write("x")
        os.unlink(path)
    return action

def netlink():
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()

def inet():
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()

def setuid_to_self():
    os.setuid(os.getuid())

def new_user_namespace():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), "unshare")

def setuid_file():
    # Anyone may mark their own file set-uid; RestrictSUIDSGID= forbids it.
    path = "/var/lib/mayfly/mayfly-probe-suid"
    open(path, "w").close()
    try:
        os.chmod(path, 0o4755)
    finally:
        os.unlink(path)

status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines()
              if ":\t" in line)
result = {d: attempt(write(d)) for d in
          ("/var/lib/mayfly", "/run", "/run/lock", "/dev/shm", "/etc", "/opt/mayfly", "/var/log",
           "/root", "/home")}
result.update(netlink=attempt(netlink), inet=attempt(inet), setuid=attempt(setuid_to_self),
              userns=attempt(new_user_namespace), setuid_file=attempt(setuid_file),
              user=os.getuid(), no_new_privs=status["NoNewPrivs"].strip(),
              seccomp=status["Seccomp"].strip(), cap_eff=status["CapEff"].strip())
print(json.dumps(result))
"""

# Settings of mayfly.service that say how it starts rather than what it may do. The
# probe runs with all the others, so it meets the service's sandbox as it is.
NOT_SANDBOX = {"Type", "NotifyAccess", "ExecStart", "ExecStartPost", "ExecReload", "Restart",
               "RestartSec", "RuntimeDirectory", "RuntimeDirectoryMode"}


def unit_properties(text: str) -> list[str]:
    """The [Service] settings of a unit file, minus how it starts (NOT_SANDBOX)."""
    properties, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.partition("=")[0] not in NOT_SANDBOX:
            properties.append(line)
    return properties


@pytest.fixture(scope="module")
def sandbox(server) -> dict:
    """What a program in mayfly.service's sandbox may do, tried with the service's Python."""
    assert server.show("mayfly.service", "NeedDaemonReload") == "no"
    unit = server.guest.path(server.show("mayfly.service", "FragmentPath")).read_text()
    probe = server.guest.path("/opt/mayfly/probe.py")
    probe.write_text(PROBE)
    try:
        result = server.guest.nsenter(
            ["systemd-run", "--quiet", "--wait", "--pipe", "--collect",
             *(f"--property={prop}" for prop in unit_properties(unit)),
             "/opt/mayfly/venv/bin/python", "/opt/mayfly/probe.py"])
    finally:
        probe.unlink()
    outcome = json.loads(result.stdout)
    record("sandbox probe", json.dumps(outcome, sort_keys=True))
    return outcome


@pytest.mark.parametrize("directory", ["/run", "/run/lock", "/dev/shm", "/etc", "/opt/mayfly",
                                       "/var/log", "/root", "/home"])
def test_the_service_cannot_write_outside_its_data_directory(sandbox, directory):
    assert sandbox["/var/lib/mayfly"] == "allowed"
    assert sandbox[directory] in {"EROFS", "EACCES", "EPERM", "ENOENT"}, sandbox


def test_the_service_cannot_gain_privileges(sandbox):
    assert sandbox["setuid"] == "EPERM"  # the system-call filter, even to its own uid
    assert sandbox["userns"] == "EPERM"  # RestrictNamespaces=
    assert sandbox["setuid_file"] == "EPERM"  # RestrictSUIDSGID=: no set-uid file
    assert sandbox["no_new_privs"] == "1"  # NoNewPrivileges=: set-uid programs gain nothing
    assert sandbox["user"] != 0


def test_the_service_cannot_open_netlink_or_ip_sockets(sandbox):
    assert sandbox["netlink"] == "EAFNOSUPPORT"
    assert sandbox["inet"] == "EAFNOSUPPORT"


def test_the_running_workers_have_no_privileges(server, sandbox):
    main = server.show("mayfly.service", "MainPID")
    pids = [main, *children(server, main)]
    assert len(pids) > 1
    for pid in pids:
        status = proc_status(server, pid)
        assert (status["NoNewPrivs"], status["Seccomp"]) == ("1", "2"), pid
        assert int(status["CapEff"], 16) == 0, pid
    # The probe ran in the very same sandbox.
    assert (sandbox["no_new_privs"], sandbox["seccomp"]) == ("1", "2")
    assert int(sandbox["cap_eff"], 16) == 0


# --- A bad setting ----------------------------------------------------------------------


def test_a_bad_setting_makes_restart_fail(server):
    env_file = server.guest.path("/etc/mayfly/mayfly.env")
    good = env_file.read_text()
    env_file.write_text(good + "MAYFLY_MAX_VIEWS=lots\n")
    try:
        failed = server.systemctl("restart", "mayfly.service", check=False)
        assert failed.returncode != 0
        journal = server.guest.nsenter(["journalctl", "-b", "-u", "mayfly.service",
                                        "-o", "cat", "-n", "200"]).stdout
        assert "MAYFLY_MAX_VIEWS" in journal
    finally:
        env_file.write_text(good)
        server.systemctl("reset-failed", "mayfly.service", check=False)
        server.systemctl("restart", "mayfly.service")
    assert server.session().get(f"{BASE}/healthz", timeout=10).status_code == 200


# --- Reboot -----------------------------------------------------------------------------


def test_after_a_reboot_an_unread_secret_is_read_once_and_a_read_one_stays_gone(server):
    client = server.client()
    unread = client.send(crypto.Message("kept across the reboot"))
    burnt = client.send(crypto.Message("read before the reboot"))
    assert client.read(Link.parse(burnt.link))[0].text == "read before the reboot"

    down = server.guest.poweroff()
    boot = server.guest.boot()
    started = time.monotonic()
    while server.session().get(f"{BASE}/healthz", timeout=10).status_code != 200:
        time.sleep(0.1)
    record("reboot", f"poweroff {down:.1f} s, boot {boot:.1f} s, "
                     f"then healthz {time.monotonic() - started:.1f} s")

    assert server.systemctl("is-active", "mayfly.service").stdout.strip() == "active"
    assert client.read(Link.parse(unread.link))[0].text == "kept across the reboot"
    for link in (unread.link, burnt.link):
        response = server.session().get(f"{BASE}/api/v1/secrets/{Link.parse(link).id}",
                                        timeout=10)
        assert response.status_code == 404


# --- Upgrade, then a run with nothing new -------------------------------------------------


def test_an_upgrade_keeps_data_and_restarts_mayfly(server):
    client = server.client()
    waiting = client.send(crypto.Message("written before the upgrade"))
    before_pid = server.show("mayfly.service", "MainPID")

    version = user_version(server)
    (server.checkout / UPGRADE_MARKER).write_text(UPGRADE_TEXT)
    migrations = server.checkout / MIGRATIONS
    text = migrations.read_text()
    assert text.count("\n]\n") >= 1
    # The first list closing in the file is SQLite's steps.
    migrations.write_text(text.replace("\n]\n", "\n" + UPGRADE_STEP, 1))
    git = ["git", "-C", str(server.checkout), "-c", "user.name=test",
           "-c", "user.email=test@mayfly.test"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a newer release"], check=True)
    export_checkout(server.checkout, server.guest.path(CHECKOUT))

    result = server.install()
    record("upgrade install", f"{result.seconds:.1f} s")
    assert "mayfly and its dependencies: new" in result.stdout
    assert server.show("mayfly.service", "MainPID") != before_pid
    served = server.session().get(f"{BASE}/static/upgrade-marker.txt", timeout=10)
    assert served.status_code == 200 and served.text == UPGRADE_TEXT
    assert client.read(Link.parse(waiting.link))[0].text == "written before the upgrade"
    assert user_version(server) == version + 1
    indexes = query(server, "SELECT name FROM sqlite_master WHERE type = 'index'")
    assert ["upgrade_probe"] in indexes


def query(server: Server, sql: str) -> list[list]:
    """Ask the guest's database, read-only, with the installed Python."""
    code = ("import json, sqlite3, sys; db = sqlite3.connect("
            "'file:/var/lib/mayfly/mayfly.db?mode=ro', uri=True); "
            "print(json.dumps(db.execute(sys.argv[1]).fetchall()))")
    result = server.guest.nsenter(["/opt/mayfly/venv/bin/python", "-c", code, sql])
    return json.loads(result.stdout)


def user_version(server: Server) -> int:
    return query(server, "PRAGMA user_version")[0][0]


def fingerprint(server: Server) -> dict[str, str]:
    """Contents of everything the installer manages (byte-compiled caches aside)."""
    digests = {}
    for top in ("/etc/mayfly", "/etc/nginx", "/etc/systemd/system", "/etc/letsencrypt",
                "/opt/mayfly"):
        for path in sorted(server.guest.path(top).rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def processes(server: Server) -> dict[str, str]:
    """Who serves: mayfly's and nginx's main processes and nginx's workers."""
    nginx = server.show("nginx.service", "MainPID")
    return {"mayfly": server.show("mayfly.service", "MainPID"),
            "mayfly started": server.show("mayfly.service", "ExecMainStartTimestampMonotonic"),
            "nginx": nginx, "nginx workers": " ".join(sorted(children(server, nginx)))}


def children(server: Server, pid: str) -> list[str]:
    """The child processes of a process of the guest (guest PIDs)."""
    return server.guest.nsenter(["cat", f"/proc/{pid}/task/{pid}/children"]).stdout.split()


def proc_status(server: Server, pid: str) -> dict[str, str]:
    text = server.guest.nsenter(["cat", f"/proc/{pid}/status"]).stdout
    return {key: value.strip() for key, _, value in
            (line.partition(":\t") for line in text.splitlines())}


def test_a_second_run_with_nothing_new_changes_nothing(server):
    files, serving = fingerprint(server), processes(server)
    result = server.install()
    record("install with nothing new", f"{result.seconds:.1f} s")
    output = result.stdout
    assert "mayfly and its dependencies: unchanged" in output
    assert "mayfly unchanged: not restarted" in output
    assert "nginx unchanged: not reloaded" in output
    assert not [line for line in output.splitlines()
                if line.startswith(("wrote ", "linked ", "copied "))], output
    assert processes(server) == serving
    assert fingerprint(server) == files


# --- Backup while serving, restored on a fresh Debian 13 --------------------------------

DOCS = REPO / "docs" / "deployment.md"
# docs/deployment.md's example names, and the README's command as the test runs it.
DOCS_INSTALL = "deployment/install.sh --domain secrets.example.org --email admin@example.org"


def documented_commands(after: str) -> str:
    """The first ```sh block of docs/deployment.md after the line starting with ``after``."""
    text = DOCS.read_text()
    start = text.index("\n" + after)
    block = re.search(r"^```sh\n(.*?)^```", text[start:], re.MULTILINE | re.DOTALL)
    return block[1]


def backup_while_serving(server: Server) -> tuple[str, float, int]:
    """docs/deployment.md's backup, while a client keeps creating secrets; its stamp."""
    stamp = time.strftime("%Y-%m-%d")
    script = documented_commands("## Backup and restore").replace("$(date +%F)", stamp)
    client, created, stop = server.client(), [], False

    def keep_creating():
        while not stop:
            created.append(client.send(crypto.Message("written during the backup")))
            time.sleep(0.5)  # well inside the create rate limits (app and nginx)

    with ThreadPoolExecutor(max_workers=1) as pool:
        writer = pool.submit(keep_creating)
        while not created:  # the writer is under way
            time.sleep(0.05)
        started = time.monotonic()
        server.guest.run("set -e\n" + script)
        seconds = time.monotonic() - started
        stop = True
        writer.result(timeout=60)
    return stamp, seconds, len(created)


def test_a_backup_taken_while_serving_restores_on_a_fresh_debian_13(server, tmp_path):
    """The documented backup on the Debian 12 server, the documented restore on a new one.

    The new server is a fresh Debian 13 (trixie, bootstrapped from the same mirror),
    as a user moving to a new machine would have: the restore's installer run is also
    the Debian 13 install, checked as on Debian 12 (HTTPS, CLI, journal, sandbox).
    """
    client = server.client()
    kept = client.send(crypto.Message("unread at the backup"))
    burnt = client.send(crypto.Message("read before the backup"))
    assert client.read(Link.parse(burnt.link))[0].text == "read before the backup"
    stamp, seconds, during = backup_while_serving(server)
    record("backup while serving", f"{seconds:.1f} s ({during} secrets created meanwhile)")
    files = sorted(p.name for p in server.guest.path("/var/backups/mayfly").iterdir())
    assert files == [f"etc-{stamp}.tgz", f"mayfly-{stamp}.db"]
    copy = server.guest.path(f"/var/backups/mayfly/mayfly-{stamp}.db")
    assert copy.stat().st_mode & 0o777 == 0o600
    saved = tmp_path / "backup"
    shutil.copytree(server.guest.path("/var/backups/mayfly"), saved)
    server.guest.poweroff()  # its nginx holds ports 80 and 443; the DNS name moves

    guest = Guest("trixie", tmp_path, "mayfly-trixie")
    try:
        prepare(guest, server.checkout, server.pebble.cert)
        for name in files:
            shutil.copy2(saved / name, guest.path(f"/root/{name}"))
        record("trixie boot to running", f"{guest.boot():.1f} s")
        assert guest.path("/etc/os-release").read_text().count("VERSION_CODENAME=trixie") == 1
        restore = documented_commands("On a fresh server").replace("DATE", stamp)
        assert restore.count(DOCS_INSTALL) == 1
        restore = restore.replace(
            DOCS_INSTALL, f"deployment/install.sh --domain {DOMAIN} --email {EMAIL} "
                          f"--acme-server {server.pebble.directory}")
        started = time.monotonic()
        result = guest.run("set -e\n" + restore, env={"REQUESTS_CA_BUNDLE": PEBBLE_LISTENER},
                           check=False, timeout=900)
        record("restore on a fresh trixie (install included)",
               f"{time.monotonic() - started:.1f} s")
        assert result.returncode == 0, f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        assert result.stdout.rstrip().endswith(f"mayfly is ready: {BASE}/")
        restored = Server(guest=guest, pebble=server.pebble, ca_file=server.ca_file,
                          checkout=server.checkout)

        # The restored data: the unread secret reads once, the burned one stays gone.
        assert restored.client().read(Link.parse(kept.link))[0].text == "unread at the backup"
        for link in (kept.link, burnt.link):
            response = restored.session().get(f"{BASE}/api/v1/secrets/{Link.parse(link).id}",
                                              timeout=10)
            assert response.status_code == 404, link
        # The restored certificate (pebble's root, the same one) and the renewal it keeps.
        renewal = guest.run("certbot renew --dry-run --no-random-sleep-on-renew",
                            env={"REQUESTS_CA_BUNDLE": PEBBLE_LISTENER}, check=False)
        assert renewal.returncode == 0, (renewal.stdout + renewal.stderr)[-3000:]
        assert "all simulated renewals succeeded" in renewal.stdout + renewal.stderr

        # Debian 13 serves as Debian 12 does.
        response = restored.session().get(f"{BASE}/healthz", timeout=10)
        assert response.status_code == 200
        assert restored.systemctl("is-active", "mayfly.service").stdout.strip() == "active"
        client = restored.client()
        sent = client.send(crypto.Message("on Debian 13"))
        assert client.read(Link.parse(sent.link))[0].text == "on Debian 13"
        units = [arg for unit in UNITS for arg in ("-u", unit)]
        warnings = guest.nsenter(["journalctl", "-b", "-p", "warning", "-o", "cat",
                                  "--no-pager", *units]).stdout
        assert warnings.strip() in {"", "-- No entries --"}, warnings
        main = restored.show("mayfly.service", "MainPID")
        for pid in (main, *children(restored, main)):
            status = proc_status(restored, pid)
            assert (status["NoNewPrivs"], status["Seccomp"]) == ("1", "2"), pid
    finally:
        guest.remove()
