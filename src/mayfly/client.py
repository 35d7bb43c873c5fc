"""A client of a mayfly server: encrypts locally, speaks the JSON API.

The CLI is a thin layer over this module, and the tests use it to drive live
servers. Only ciphertext, proof hashes and proofs ever leave this process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from . import crypto
from .errors import DecryptionFailed

GONE = "this message has already been read, has expired or never existed"
NO_REPLY = "the sender allows no reply to this message, or its receipt is gone"


class ClientError(Exception):
    """A one-line reason a client operation failed."""


class WrongPassphrase(ClientError):
    """The passphrase was wrong; the server counted an attempt."""

    def __init__(self, attempts_left: int):
        self.attempts_left = attempts_left
        super().__init__(f"wrong passphrase, {attempts_left} attempt(s) left")


class Gone(ClientError):
    """Missing, expired or burned."""

    def __init__(self):
        super().__init__(GONE)


@dataclass(frozen=True)
class Link:
    """A parsed link: the server's base URL, the id and the fragment (key or token)."""

    base: str
    id: str
    fragment: str

    @classmethod
    def parse(cls, url: str, kind: str = "s") -> Link:
        """Split https://HOST[/prefix]/<kind>/<id>#<fragment>."""
        parts = urlsplit(url.strip())
        head, separator, secret_id = parts.path.rpartition(f"/{kind}/")
        if parts.scheme not in {"http", "https"} or not parts.netloc or not separator \
                or not secret_id:
            what = "message link" if kind == "s" else "receipt link"
            raise ClientError(f"not a mayfly {what}: {url.strip()!r}")
        if not parts.fragment:
            raise ClientError("the link is incomplete: the part after '#' is missing")
        return cls(f"{parts.scheme}://{parts.netloc}{head}", secret_id, parts.fragment)

    def key(self) -> bytes:
        """The 32-byte link key of a message link."""
        try:
            key = crypto.b64decode(self.fragment)
        except ValueError:
            key = b""
        if len(key) != crypto.KEY_BYTES:
            raise ClientError("the link is damaged: its key (after '#') is not valid")
        return key

    def token(self) -> str:
        """The manage token of a receipt link: the fragment up to its first '.'."""
        return self.fragment.split(".", 1)[0]

    def receipt_key(self) -> bytes:
        """The 32-byte reply secret a receipt link carries after its token, '.'-separated."""
        _token, _dot, rest = self.fragment.partition(".")
        try:
            key = crypto.b64decode(rest)
        except ValueError:
            key = b""
        if len(key) != crypto.KEY_BYTES:
            raise ClientError("this receipt link carries no reply key: replies cannot be read")
        return key


@dataclass(frozen=True)
class Sent:
    """What sending a secret gives back."""

    link: str
    receipt_link: str
    id: str
    expires_at: str
    views_left: int


class Client:
    """Talks to one mayfly server."""

    def __init__(self, server: str, session: requests.Session | None = None,
                 timeout: float = 60.0):
        self.server = server.rstrip("/")
        self.http = session or requests.Session()
        self.timeout = timeout

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        url = self.server + path
        try:
            response = self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ClientError(f"cannot reach {self.server}: {type(exc).__name__}") from None
        if response.status_code < 400:
            return response
        raise _problem_error(response)

    def send(self, message: crypto.Message, *, expires_in: int | None = None,
             max_views: int = 1, passphrase: str | None = None, replies: bool = True) -> Sent:
        """Encrypt a message and store it; return the link (with its key) and receipt link.

        With ``replies``, the receipt link also carries the secret that unwraps
        the private key readers' replies are encrypted to.
        """
        link_key = crypto.new_link_key()
        receipt_key = crypto.new_link_key() if replies else None
        kdf = crypto.Kdf.new() if passphrase else None
        keys = crypto.derive_keys(link_key, passphrase or None, kdf)
        body = {
            "ciphertext": crypto.b64encode(crypto.seal(keys.content_key, crypto.pack(message))),
            "link_proof_hash": crypto.b64encode(crypto.proof_hash(keys.link_proof)),
            "access_proof_hash": crypto.b64encode(crypto.proof_hash(keys.access_proof)),
            "kdf": kdf.to_json() if kdf else None,
            "max_views": max_views,
        }
        if receipt_key is not None:
            pair = crypto.new_reply_keys(receipt_key)
            body["reply_key"] = {
                "public_key": crypto.b64encode(pair.public_key),
                "wrapped_private_key": crypto.b64encode(pair.wrapped_private_key),
            }
        if expires_in is not None:
            body["expires_in"] = expires_in
        created = self._call("POST", "/api/v1/secrets", json=body).json()
        fragment = created["manage_token"]
        if receipt_key is not None:
            fragment += "." + crypto.b64encode(receipt_key)
        return Sent(
            link=f"{created['url']}#{crypto.b64encode(link_key)}",
            receipt_link=f"{created['receipt_url']}#{fragment}",
            id=created["id"],
            expires_at=created["expires_at"],
            views_left=created["views_left"],
        )

    def metadata(self, secret_id: str) -> dict:
        """A secret's public metadata (changes nothing)."""
        return self._call("GET", f"/api/v1/secrets/{secret_id}").json()

    def read(self, link: Link, passphrase: Callable[[], str] | str | None = None
             ) -> tuple[crypto.Message, int]:
        """Reveal and decrypt; ``passphrase`` may be a callable asked only when needed."""
        key = link.key()
        meta = self.metadata(link.id)
        kdf = None
        if meta["passphrase"]:
            kdf_json = meta["kdf"]
            kdf = crypto.Kdf(crypto.b64decode(kdf_json["salt"]), kdf_json["iterations"])
            passphrase = passphrase() if callable(passphrase) else passphrase
            if not passphrase:
                raise ClientError("this message needs a passphrase")
        keys = crypto.derive_keys(key, passphrase if kdf else None, kdf)
        body = {"link_proof": crypto.b64encode(keys.link_proof),
                "access_proof": crypto.b64encode(keys.access_proof)}
        revealed = self._call("POST", f"/api/v1/secrets/{link.id}/reveal", json=body).json()
        try:
            blob = crypto.b64decode(revealed["ciphertext"])
            return crypto.unpack(crypto.unseal(keys.content_key, blob)), revealed["views_left"]
        except (ValueError, DecryptionFailed):
            raise ClientError(DecryptionFailed.__doc__.strip()) from None

    def receipt(self, link: Link) -> dict:
        """The sender's receipt."""
        auth = {"Authorization": f"Bearer {link.token()}"}
        return self._call("GET", f"/api/v1/secrets/{link.id}/receipt", headers=auth).json()

    def burn(self, link: Link) -> None:
        """Burn a secret early."""
        auth = {"Authorization": f"Bearer {link.token()}"}
        self._call("DELETE", f"/api/v1/secrets/{link.id}", headers=auth)

    def reply(self, link: Link, message: crypto.Message) -> int:
        """Encrypt a reply to the sender of the message a link names; return its number."""
        proof = {"link_proof": crypto.b64encode(crypto.derive_keys(link.key()).link_proof)}
        try:
            found = self._call("POST", f"/api/v1/secrets/{link.id}/reply-key", json=proof).json()
        except Gone:
            raise ClientError(NO_REPLY) from None
        if found["replies_left"] < 1:
            raise ClientError("no reply is left to send: one reply per view of the message")
        try:
            public_key = crypto.b64decode(found["public_key"])
            blob = crypto.seal_reply(public_key, crypto.pack(message))
        except (ValueError, DecryptionFailed):
            raise ClientError("the server sent a reply key that is not valid") from None
        body = {**proof, "ciphertext": crypto.b64encode(blob)}
        try:
            posted = self._call("POST", f"/api/v1/secrets/{link.id}/replies", json=body)
        except Gone:
            raise ClientError(NO_REPLY) from None
        return posted.json()["number"]

    def read_replies(self, link: Link) -> list[tuple[int, crypto.Message]]:
        """Read (and so burn) every unread reply a receipt link's message received."""
        receipt_key = link.receipt_key()
        receipt = self.receipt(link)
        if receipt.get("reply_key") is None:
            raise ClientError("this message was sent without replies")
        auth = {"Authorization": f"Bearer {link.token()}"}
        try:
            public_key = crypto.b64decode(receipt["reply_key"]["public_key"])
            scalar = crypto.unwrap_reply_key(
                receipt_key, crypto.b64decode(receipt["reply_key"]["wrapped_private_key"]))
        except (ValueError, DecryptionFailed):
            raise ClientError("the receipt link is damaged: its reply key does not fit") from None
        replies = []
        for reply in receipt["replies"]:
            if reply["read_at"] is not None:
                continue
            path = f"/api/v1/secrets/{link.id}/replies/{int(reply['number'])}/reveal"
            try:
                revealed = self._call("POST", path, headers=auth).json()
            except Gone:
                continue  # read meanwhile, elsewhere: it burned there
            try:
                blob = crypto.b64decode(revealed["ciphertext"])
                message = crypto.unpack(crypto.open_reply(scalar, public_key, blob))
            except (ValueError, DecryptionFailed):
                raise ClientError(DecryptionFailed.__doc__.strip()) from None
            replies.append((int(reply["number"]), message))
        return replies


def _problem_error(response: requests.Response) -> ClientError:
    """Turn an error response (problem+json or not) into a one-line ClientError."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    status = response.status_code
    if status == 404:
        return Gone()
    if problem.get("type", "").endswith("/wrong-passphrase"):
        return WrongPassphrase(int(problem.get("attempts_left", 0)))
    if status == 429:
        wait = response.headers.get("Retry-After", "a while")
        return ClientError(f"too many requests: try again in {wait} seconds")
    detail = problem.get("detail") or problem.get("title") or response.reason
    return ClientError(f"the server refused ({status}): {detail}")
