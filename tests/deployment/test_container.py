"""The container image and the compose set-ups, built and run for real with podman.

The image is built from deployment/container/Containerfile as a user builds it,
run read-only with a named volume, and driven from outside through its published
port: the CLI, the black-box checks, a restart, a stop. The compose files are
started unchanged (podman-compose) and pass the same black-box checks. With
notices configured, the image's uWSGI mule mails a real SMTP server (STARTTLS,
AUTH) and posts to a webhook, both on the host's loopback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version

import pytest

from mayfly import crypto
from mayfly.client import Client, Link

from ..blackbox import CHECKS, mayfly
from ..live import free_port
from ..notices.receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    SmtpReceiver,
    WebhookReceiver,
    make_certificate,
)
from .container import COMPOSE_DIR, CONTAINERFILE, ROOT, Podman, compose, wait_healthy

pytestmark = pytest.mark.slow

IMAGE = "localhost/mayfly:test"
MEASUREMENTS = ROOT / "build" / "container-measurements.txt"


@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Podman:
    """podman with the image built from the checkout (layers cached between runs)."""
    podman = Podman(tmp_path_factory.mktemp("podman"))
    podman.ensure_base_image()
    started = time.monotonic()
    podman.build(IMAGE, CONTAINERFILE, ROOT, "--build-arg", f"VERSION={version('mayfly')}")
    record(f"image build (layers cached where unchanged): {time.monotonic() - started:.1f} s")
    return podman


def record(line: str) -> None:
    """Keep a measurement for docs/deployment.md (build/ is not committed)."""
    MEASUREMENTS.parent.mkdir(exist_ok=True)
    with MEASUREMENTS.open("a") as out:
        out.write(line + "\n")


@contextmanager
def running(podman: Podman, *options: str) -> Iterator[tuple[str, str]]:
    """Run the image read-only with a fresh named volume; yield (id, url); remove both."""
    volume = f"mayfly-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    podman("volume", "create", volume)
    started = time.monotonic()
    cid = podman.text("run", "-d", "--read-only", "-p", f"127.0.0.1:{port}:8000",
                      "-v", f"{volume}:/data", "-e", f"MAYFLY_PUBLIC_URL={url}", *options,
                      IMAGE)
    try:
        wait_healthy(url)
        record(f"start to first healthy answer: {time.monotonic() - started:.2f} s")
        yield cid, url
    finally:
        podman("rm", "-f", "-v", cid, check=False)
        podman("volume", "rm", "-f", volume, check=False)


@pytest.fixture
def container(podman):
    """The image running with its defaults; yield (id, url)."""
    with running(podman) as found:
        yield found


def test_image_labels_say_source_version_and_licence(podman):
    labels = podman.inspect(IMAGE)["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == version("mayfly")
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    size = int(podman.text("image", "inspect", "--format", "{{.Size}}", IMAGE))
    record(f"image size: {size / 1e6:.0f} MB")


def test_image_has_no_compiler_and_runs_as_non_root(podman):
    image = podman.inspect(IMAGE)
    config = image["Config"]
    assert config["User"] == "mayfly"
    assert config["Volumes"] == {"/data": {}}
    assert config["StopSignal"] in {"SIGTERM", "15"}
    assert image["Healthcheck"]["Test"][-1].endswith("/healthz', timeout=4)")
    found = podman("run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
                   "command -v gcc cc c++ make pip", check=False)
    assert found.stdout.strip() == b"", found.stdout


def test_container_passes_the_black_box_checks(container):
    _, url = container
    for check in CHECKS:
        check(url)


def test_container_process_is_not_root_and_health_check_passes(podman, container):
    cid, _ = container
    users = podman.text("top", cid, "user", "args").splitlines()[1:]
    assert users and all(line.split()[0] == "mayfly" for line in users), users
    assert "uWSGI master" in "\n".join(users) or "uwsgi" in "\n".join(users)
    assert podman("healthcheck", "run", cid, check=False).returncode == 0


def test_volume_keeps_an_unread_secret_across_a_restart(podman, container):
    cid, url = container
    link = mayfly("send", server=url, stdin="kept across the restart\n").split()[0]
    started = time.monotonic()
    podman("restart", cid)
    wait_healthy(url)
    record(f"restart to first healthy answer: {time.monotonic() - started:.2f} s")
    assert "kept across the restart" in mayfly("read", link, server=url)


def test_stop_on_sigterm_is_graceful(podman, container):
    cid, url = container
    mayfly("send", server=url, stdin="in the database when it stops\n")
    started = time.monotonic()
    podman("stop", "--time", "20", cid)
    took = time.monotonic() - started
    record(f"stop: {took:.2f} s")
    state = podman.inspect(cid)["State"]
    # Exit 0: uWSGI shut down by itself on SIGTERM. Had it ignored the signal,
    # podman would have killed it after 20 s (exit 137); the time is recorded.
    assert state["ExitCode"] == 0, podman("logs", cid).stderr.decode()[-2000:]
    assert not state["OOMKilled"]


# slirp4netns with allow_host_loopback: the container reaches the host's
# loopback (where a local relay such as Postfix listens) at this address, and
# its own network stays its own (docs/deployment.md, "Notices from a container").
HOST_LOOPBACK = "10.0.2.2"


@pytest.fixture
def receivers(tmp_path):
    """An SMTP server and a webhook receiver on the host's loopback, and the SMTP's CA."""
    cert, key = make_certificate(tmp_path / "tls", addresses=(HOST_LOOPBACK,))
    smtp = SmtpReceiver(free_port(), cert, key).start()
    hook = WebhookReceiver(free_port()).start()
    yield smtp, hook, cert
    smtp.stop()
    hook.stop()


def test_container_mails_the_sender_once_of_a_read_and_signs_its_webhook_event(
        podman, tmp_path, receivers):
    smtp, hook, cert = receivers
    # As an operator keeps the relay's password out of `ps` and shell history.
    settings = tmp_path / "mayfly.env"
    settings.write_text(
        f"MAYFLY_SMTP_URL=smtp://{SMTP_USER}:{SMTP_PASSWORD}@{HOST_LOOPBACK}:{smtp.port}\n"
        "MAYFLY_MAIL_FROM=mayfly@example.org\n"
        f"MAYFLY_WEBHOOK_URL=http://{HOST_LOOPBACK}:{hook.server.server_address[1]}/events\n"
        f"MAYFLY_WEBHOOK_SECRET={WEBHOOK_SECRET}\n"
        # The relay's certificate is signed by a private CA, mounted read-only.
        "SSL_CERT_FILE=/etc/mayfly/relay-ca.pem\n")
    network = "slirp4netns:allow_host_loopback=true"
    with running(podman, "--network", network, "--env-file", str(settings),
                 "-v", f"{cert}:/etc/mayfly/relay-ca.pem:ro") as (cid, url):
        client = Client(url)
        message = crypto.Message(text="the container's own secret", files=())
        sent = client.send(message, notify="sender@example.org")
        assert client.read(Link.parse(sent.link))[0].text == message.text
        [mail] = smtp.wait_for(1, timeout=60)
        [event] = hook.wait_for(1, timeout=60)
        time.sleep(3)  # a second copy of either would have come by now
        logs = podman("logs", cid)
        assert len(smtp.messages) == 1 and len(hook.events) == 1, logs.stderr[-2000:]
    [(_mail, recipients, tls)] = smtp.messages
    assert recipients == ["sender@example.org"] and tls
    assert "no view is left" in mail.get_content() and "http" not in mail.get_content()
    for leak in (message.text, sent.id, url):
        assert leak not in mail.as_string()
    assert (event["id"], event["state"], event["views_left"]) == (sent.id, "read", 0)
    assert hook.bad_signatures == 0
    for leak in (b"sender@example.org", SMTP_PASSWORD.encode(), WEBHOOK_SECRET.encode()):
        assert leak not in logs.stdout + logs.stderr


@pytest.mark.parametrize("files", [["compose.yaml"], ["compose.yaml", "compose.redis.yaml"]],
                         ids=["sqlite", "redis"])
def test_compose_set_up_passes_the_black_box_checks(podman, tmp_path, files):
    if "compose.redis.yaml" in files:
        podman.ensure_redis_image(tmp_path)
    paths = [COMPOSE_DIR / name for name in files]
    project = f"mayflytest{uuid.uuid4().hex[:6]}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"MAYFLY_IMAGE": IMAGE, "MAYFLY_HOST_PORT": str(port), "MAYFLY_PUBLIC_URL": url}
    compose(podman, paths, project, "up", "-d", "--no-build", env=env)
    try:
        wait_healthy(url, deadline=90)
        for check in CHECKS:
            check(url)
        if "compose.redis.yaml" in files:
            redis = f"{project}_redis_1"
            aof = podman.text("exec", redis, "redis-cli", "config", "get", "appendonly")
            assert aof.split() == ["appendonly", "yes"]
            assert int(podman.text("exec", redis, "redis-cli", "dbsize")) > 0
    finally:
        compose(podman, paths, project, "down", "-v", env=env)


def test_compose_refuses_to_start_without_a_public_url(podman):
    with pytest.raises(RuntimeError, match="MAYFLY_PUBLIC_URL"):
        compose(podman, [COMPOSE_DIR / "compose.yaml"], "mayflynourl", "config",
                env={"MAYFLY_PUBLIC_URL": "", "MAYFLY_IMAGE": IMAGE})

