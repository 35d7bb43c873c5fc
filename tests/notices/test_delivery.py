"""Notices end to end: ``mayfly serve`` (its mule), a real SMTP server and a real webhook.

The SMTP server is aiosmtpd on loopback requiring STARTTLS (a certificate made
here, trusted through SSL_CERT_FILE) and AUTH; the webhook receiver checks
each event's HMAC. Each test runs on SQLite, Redis and a Redis Cluster.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from mayfly import crypto
from mayfly.client import Client, ClientError, Link

from ..live import LiveServer, free_port
from .receivers import WEBHOOK_SECRET, SmtpReceiver, WebhookReceiver, make_certificate

pytestmark = [pytest.mark.slow, pytest.mark.every_backend]
MESSAGE = crypto.Message(text="the vault code is 4711", files=())


@pytest.fixture
def receivers(tmp_path):
    """A stopped SMTP receiver (its certificate made) and a running webhook receiver."""
    cert, key = make_certificate(tmp_path / "tls")
    smtp = SmtpReceiver(free_port(), cert, key)
    hook = WebhookReceiver(free_port()).start()
    yield smtp, hook, cert
    smtp.stop()
    hook.stop()


def serve(tmp_path: Path, storage_url: str, smtp: SmtpReceiver, hook: WebhookReceiver,
          cert: Path) -> LiveServer:
    """mayfly serve (started by `with`) with email and webhook notices, quick retries."""
    return LiveServer(tmp_path / "server", processes=2, env={
        "MAYFLY_STORAGE_URL": storage_url, "MAYFLY_SMTP_URL": smtp.url,
        "MAYFLY_MAIL_FROM": "mayfly@example.org", "MAYFLY_WEBHOOK_URL": hook.url,
        "MAYFLY_WEBHOOK_SECRET": WEBHOOK_SECRET, "MAYFLY_NOTICE_RETRY": "1",
        "MAYFLY_NOTICE_LEASE": "3", "MAYFLY_MAX_ATTEMPTS": "2", "MAYFLY_MIN_LIFETIME": "1",
        "MAYFLY_PURGE_INTERVAL": "1", "SSL_CERT_FILE": str(cert)})


def counter(server: LiveServer, name: str) -> int:
    text = requests.get(server.url + "/metrics", timeout=10).text
    return int(float(re.search(rf"^mayfly_{name}_total (\S+)$", text, re.M)[1]))


def by_recipient(mails) -> dict[str, list]:
    found: dict[str, list] = {}
    for mail in mails:
        found.setdefault(str(mail["To"]), []).append(mail)
    return found


def test_senders_hear_of_reads_burns_and_expiry_and_the_webhook_of_every_change(
        tmp_path, storage_url, receivers):
    smtp, hook, cert = receivers
    smtp.start()
    with serve(tmp_path, storage_url, smtp, hook, cert) as server:
        client = Client(server.url)
        # As a user asks for notices from the command line.
        made = subprocess.run(
            [str(Path(sys.executable).with_name("mayfly")), "send", "--views", "2", "--notify",
             "reader-watcher@example.org", "--receipt", "--server", server.url],
            input=MESSAGE.text, capture_output=True, text=True, timeout=60, check=True)
        link, _receipt = made.stdout.split()
        twice = SimpleNamespace(link=link, id=Link.parse(link).id)
        guarded = client.send(MESSAGE, passphrase="right one", notify="guard@example.org")
        forgotten = client.send(MESSAGE, expires_in=1, notify="forgot@example.org",
                                language="zh-CN")
        silent = client.send(MESSAGE)
        for _ in range(2):
            assert client.read(Link.parse(twice.link))[0].text == MESSAGE.text
        for _ in range(2):
            with pytest.raises(ClientError):
                client.read(Link.parse(guarded.link), passphrase="wrong")
        client.read(Link.parse(silent.link))

        mails = by_recipient(smtp.wait_for(4))
        assert sorted(mails) == ["forgot@example.org", "guard@example.org",
                                 "reader-watcher@example.org"]
        reads = sorted(mail.get_content() for mail in mails["reader-watcher@example.org"])
        assert len(reads) == 2 and "Views left: 1." in " ".join(reads)
        assert any("no view is left" in text for text in reads)
        assert "wrong passphrases" in mails["guard@example.org"][0].get_content()
        [expired] = mails["forgot@example.org"]
        assert "过期" in str(expired["Subject"]) and "没有被阅读" in expired.get_content()
        assert all(tls for _mail, _rcpt, tls in smtp.messages)
        for mail in smtp.mails():
            text = mail.as_string()
            for sent in (twice, guarded, forgotten, silent):
                assert sent.id not in text and server.url not in text
            assert MESSAGE.text not in text and "http" not in mail.get_content()
        assert len({mail["Message-ID"] for mail in smtp.mails()}) == 4

        events = hook.wait_for(5)
        states = sorted((event["id"], event["state"]) for event in events)
        assert states == sorted([(twice.id, "waiting"), (twice.id, "read"),
                                 (guarded.id, "failed"), (forgotten.id, "expired"),
                                 (silent.id, "read")])
        assert hook.bad_signatures == 0
        assert all("@" not in str(event) and set(event) == {
            "event_id", "id", "state", "time", "views_left"} for event in events)
        deadline = time.monotonic() + 10
        while counter(server, "notices_sent") < 9 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counter(server, "notices_sent") == 9
        assert len(smtp.mails()) == 4 and len(hook.events) == 5


def test_smtp_down_for_a_while_then_back_every_notice_arrives_exactly_once(
        tmp_path, storage_url, receivers):
    smtp, hook, cert = receivers
    hook.down = True
    with serve(tmp_path, storage_url, smtp, hook, cert) as server:
        client = Client(server.url)
        sent = [client.send(MESSAGE, notify=f"sender{n}@example.org") for n in range(4)]
        for one in sent:
            client.read(Link.parse(one.link))
        time.sleep(4)  # several failed tries, each put off a little longer
        assert smtp.mails() == [] and hook.events == []
        assert counter(server, "notices_sent") == 0
        smtp.start()
        hook.down = False
        smtp.wait_for(4, timeout=40)
        hook.wait_for(4, timeout=40)
        time.sleep(3)  # any second copy would have arrived by now
        assert sorted(str(mail["To"]) for mail in smtp.mails()) == \
            [f"sender{n}@example.org" for n in range(4)]
        assert sorted(event["id"] for event in hook.events) == sorted(one.id for one in sent)
        assert counter(server, "notices_sent") == 8
        assert counter(server, "notices_dropped") == 0


def mule_pid(server: LiveServer) -> int:
    """The pid of the master's latest notices mule, from uWSGI's own line (--verbose)."""
    spawned = re.findall(r"spawned uWSGI mule 1 \(pid: (\d+)\)", server.log_path.read_text())
    assert spawned, "no mule was started"
    return int(spawned[-1])


def test_a_mule_killed_mid_delivery_loses_nothing_and_repeats_only_with_the_same_id(
        tmp_path, storage_url, receivers):
    smtp, hook, cert = receivers
    smtp.stall.set()  # the server holds its answer to DATA: delivery is under way
    smtp.start()
    with serve(tmp_path, storage_url, smtp, hook, cert) as server:
        client = Client(server.url)
        sent = [client.send(MESSAGE, notify=f"sender{n}@example.org") for n in range(3)]
        for one in sent:
            client.read(Link.parse(one.link))
        smtp.wait_for(1)
        killed = mule_pid(server)
        os.kill(killed, signal.SIGKILL)
        smtp.stall.clear()
        deadline = time.monotonic() + 40
        while len({str(mail["To"]) for mail in smtp.mails()}) < 3:
            assert time.monotonic() < deadline, [str(mail["To"]) for mail in smtp.mails()]
            time.sleep(0.2)
        time.sleep(4)  # past a lease: any repeat would have come
        assert mule_pid(server) != killed  # the master started another
        ids: dict[str, set] = {}
        for mail in smtp.mails():
            ids.setdefault(str(mail["To"]), set()).add(mail["Message-ID"])
        # Every notice arrived; a repeat (the one cut off) carries its first copy's id.
        assert sorted(ids) == [f"sender{n}@example.org" for n in range(3)]
        assert all(len(found) == 1 for found in ids.values())
        assert counter(server, "notices_sent") == 6  # 3 mails and 3 events, each once
        assert sorted(event["id"] for event in hook.events) == sorted(one.id for one in sent)
