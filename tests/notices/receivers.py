"""Real receivers on loopback for notice tests: an SMTP server (STARTTLS, AUTH) and a webhook."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
from email import message_from_bytes
from email.message import Message
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER, SMTP_PASSWORD = "mayfly", "s3cret-relay-password"
WEBHOOK_SECRET = "a-webhook-secret-of-the-operator"


def make_certificate(folder: Path, addresses: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and ``addresses`` (cert.pem, key.pem): a CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mayfly test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            *(x509.IPAddress(ipaddress.ip_address(one)) for one in ("127.0.0.1", *addresses)),
            x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Handler:
    """Keeps every message; may hold the answer to DATA while ``stall`` is set."""

    def __init__(self, mailbox: SmtpReceiver):
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 -- aiosmtpd's name
        mail = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        self.mailbox.record(mail, envelope.rcpt_tos, session.ssl is not None)
        while self.mailbox.stall.is_set():
            await asyncio.sleep(0.05)
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and \
        (auth_data.login, auth_data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok)


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1:port, STARTTLS and AUTH required; start and stop at will."""

    def __init__(self, port: int, cert: Path, key: Path):
        self.port = port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.messages: list[tuple[Message, list[str], bool]] = []
        self.stall = threading.Event()
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}"

    def record(self, mail: Message, recipients: list[str], tls: bool) -> None:
        with self.lock:
            self.messages.append((mail, recipients, tls))

    def start(self) -> SmtpReceiver:
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, tls_context=self.context,
            require_starttls=True, authenticator=_authenticate, auth_require_tls=True,
            auth_exclude_mechanism=["CRAM-MD5"], ready_timeout=10)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def mails(self) -> list[Message]:
        with self.lock:
            return [mail for mail, _rcpt, _tls in self.messages]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        """At least ``count`` mails, or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.mails()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.mails())} of {count} mail(s) arrived")
            time.sleep(0.1)
        return self.mails()


class WebhookReceiver:
    """An HTTP server on loopback that checks each event's signature and keeps the good ones.

    With ``tls`` (a certificate and its key, from make_certificate) it speaks HTTPS.
    """

    def __init__(self, port: int, secret: str = WEBHOOK_SECRET,
                 tls: tuple[Path, Path] | None = None):
        self.secret = secret.encode()
        self.events: list[dict] = []
        self.bad_signatures = 0
        self.down = False  # answer 503 to everything
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 -- http.server's name
                payload = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                expected = "sha256=" + hmac.new(receiver.secret, payload,
                                                hashlib.sha256).hexdigest()
                good = hmac.compare_digest(expected, self.headers.get("X-Mayfly-Signature", ""))
                with receiver.lock:
                    if good:
                        receiver.events.append(json.loads(payload))
                    else:
                        receiver.bad_signatures += 1
                self.send_response(204 if good else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/mayfly-events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                events = list(self.events)
            if len(events) >= count:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(events)} of {count} event(s) arrived")
            time.sleep(0.1)
