"""The zero-knowledge protocol, version 1, as the CLI and the tests speak it.

docs/protocol.md is the specification; static/js/crypto.js is the browser's
implementation of the same steps. Everything here uses only algorithms that
the browser's Web Crypto API offers natively: HKDF-SHA256, PBKDF2-HMAC-SHA256,
AES-256-GCM, SHA-256 and, for replies, ECDH on P-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import struct
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from .errors import DecryptionFailed

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 16
PBKDF2_ITERATIONS = 600_000
KDF_NAME = "PBKDF2-HMAC-SHA256"
# The first byte of every sealed blob; also bound into the GCM tag via AAD.
ENVELOPE_VERSION = b"\x01"
AAD = b"mayfly/v1"
INFO_LINK_PROOF = b"mayfly/v1 link-proof"
INFO_ACCESS_PROOF = b"mayfly/v1 access-proof"
INFO_CONTENT_KEY = b"mayfly/v1 content-key"
INFO_REPLY_WRAP = b"mayfly/v1 reply-wrap"
INFO_REPLY_KEY = b"mayfly/v1 reply-key"
# An uncompressed P-256 point: 0x04 || x || y.
PUBLIC_KEY_BYTES = 65
PRIVATE_KEY_BYTES = 32


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALPHABET_BYTES = _ALPHABET.encode("ascii")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# Work in slices so that a 10 MiB ciphertext never has several whole copies
# alive at once; a multiple of 4 characters (3 bytes) keeps slices independent.
_SLICE = 4 * 65536
# By length % 4, what a canonical last character may be: the bits past the data are zero.
_LAST = {size % 4: frozenset(c for i, c in enumerate(_ALPHABET) if not i & spare)
         for size, spare in ((0, 0), (2, 0b1111), (3, 0b11))}
_PAD = {0: b"", 2: b"==", 3: b"="}


def b64encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url, the only encoding of the protocol."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64encode_slices(data: bytes) -> Iterator[bytes]:
    """The unpadded base64url of data, as ASCII slices (for large responses)."""
    step = _SLICE // 4 * 3
    view = memoryview(data)
    for start in range(0, len(data), step):
        yield base64.urlsafe_b64encode(view[start : start + step]).rstrip(b"=")


def b64encoded_length(size: int) -> int:
    """How many characters unpadded base64url needs for ``size`` bytes."""
    return (4 * size + 2) // 3


def b64decode(text: str) -> bytes:
    """Decode unpadded base64url strictly; raise ValueError on anything else."""
    return bytes(b64decode_large(text))


def b64decode_large(text: str | memoryview) -> bytearray:
    """b64decode into one buffer of the exact size: no whole copy of a large value.

    ``text`` may also be the ASCII bytes of the string, as a memoryview (a
    request body's ciphertext, bodies.parse_json): its bytes are checked alike.
    """
    if type(text) is str and len(text) <= _SLICE:
        return _b64decode_slice(text)
    if isinstance(text, memoryview):
        if text.format != "B" or text.ndim != 1:
            raise ValueError("not unpadded base64url")
        last = chr(text[-1]) if text else ""
    elif not isinstance(text, str) or not text.isascii():
        raise ValueError("not unpadded base64url")
    else:
        last = text[-1:]
    if len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    # Canonical only: the bits of the last character beyond the data must be zero.
    spare_bits = {0: 0, 2: 0b1111, 3: 0b11}[len(text) % 4]
    if last and _ALPHABET.index(last) & spare_bits:
        raise ValueError("not canonical base64url")
    decoded = bytearray(len(text) * 3 // 4)
    position = 0
    for start in range(0, len(text), _SLICE):
        piece = text[start : start + _SLICE]
        piece = piece.encode("ascii") if isinstance(piece, str) else bytes(piece)
        # Deleting the alphabet leaves exactly the bytes outside it (in C, not
        # a regular expression walking 13 MB a character at a time).
        if piece.translate(None, _ALPHABET_BYTES):
            raise ValueError("not unpadded base64url")
        piece = piece.translate(_TO_STANDARD)
        chunk = binascii.a2b_base64(piece + b"=" * (-len(piece) % 4), strict_mode=True)
        decoded[position : position + len(chunk)] = chunk
        position += len(chunk)
    return decoded


def _b64decode_slice(text: str) -> bytearray:
    """b64decode_large of a value of one slice (every proof and hash): its checks, in one step."""
    if not text.isascii() or len(text) % 4 == 1 or (text and text[-1] not in _LAST[len(text) % 4]):
        raise ValueError("not unpadded base64url")
    piece = text.encode("ascii")
    if piece.translate(None, _ALPHABET_BYTES):
        raise ValueError("not unpadded base64url")
    return bytearray(binascii.a2b_base64(piece.translate(_TO_STANDARD) + _PAD[len(text) % 4],
                                         strict_mode=True))


@dataclass(frozen=True)
class Kdf:
    """The passphrase stretching parameters, stored in the clear on the server."""

    salt: bytes
    iterations: int = PBKDF2_ITERATIONS

    def to_json(self) -> dict:
        return {"name": KDF_NAME, "salt": b64encode(self.salt), "iterations": self.iterations}

    @classmethod
    def new(cls) -> Kdf:
        return cls(salt=os.urandom(SALT_BYTES))


@dataclass(frozen=True)
class Keys:
    """What a client derives from the link key (and the passphrase, if any)."""

    content_key: bytes = field(repr=False)
    link_proof: bytes = field(repr=False)
    access_proof: bytes = field(repr=False)


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    # An empty salt is HKDF's default (HashLen zero bytes); Web Crypto accepts it too.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info).derive(ikm)


def stretch(passphrase: str, kdf: Kdf) -> bytes:
    """PBKDF2-HMAC-SHA256 of the NFC-normalised UTF-8 passphrase."""
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=kdf.salt, iterations=kdf.iterations
    ).derive(secret)


def derive_keys(link_key: bytes, passphrase: str | None = None, kdf: Kdf | None = None) -> Keys:
    """Derive the content key and both proofs; a passphrase needs its KDF parameters."""
    if len(link_key) != KEY_BYTES:
        raise ValueError("the link key must be 32 bytes")
    if (passphrase is None) != (kdf is None):
        raise ValueError("a passphrase and its KDF parameters go together")
    access_ikm = link_key if passphrase is None else link_key + stretch(passphrase, kdf)
    return Keys(
        content_key=_hkdf(access_ikm, INFO_CONTENT_KEY),
        link_proof=_hkdf(link_key, INFO_LINK_PROOF),
        access_proof=_hkdf(access_ikm, INFO_ACCESS_PROOF),
    )


def proof_hash(proof: bytes) -> bytes:
    """What the server stores of a proof: its SHA-256."""
    return hashlib.sha256(proof).digest()


def seal(content_key: bytes, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """Encrypt: version byte, 96-bit nonce, AES-256-GCM ciphertext with its tag."""
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    return ENVELOPE_VERSION + nonce + AESGCM(content_key).encrypt(nonce, plaintext, AAD)


def unseal(content_key: bytes, blob: bytes) -> bytes:
    """Decrypt a sealed blob; any damage or a wrong key raises DecryptionFailed."""
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != ENVELOPE_VERSION:
        raise DecryptionFailed()
    nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(content_key).decrypt(nonce, body, AAD)
    except InvalidTag as exc:
        raise DecryptionFailed() from exc


@dataclass(frozen=True)
class Attachment:
    """A file carried inside a message."""

    name: str
    type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Message:
    """The plaintext of a secret: a text and zero or more files."""

    text: str
    files: tuple[Attachment, ...] = ()


def pack(message: Message) -> bytes:
    """Serialise a message: 4-byte header length, JSON header, then the files' bytes."""
    header = {
        "v": VERSION,
        "text": message.text,
        "files": [{"name": f.name, "type": f.type, "size": len(f.data)} for f in message.files],
    }
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return struct.pack(">I", len(head)) + head + b"".join(f.data for f in message.files)


def unpack(plaintext: bytes) -> Message:
    """Parse what pack() made; a malformed plaintext raises DecryptionFailed.

    The rules are the browser's too (crypto.js), case by case in
    tests/vectors/plaintext_v1.json: the header is a JSON object with exactly
    v, text and files; each file exactly name, type (strings) and size (a
    number with a whole value, at least 0); the sizes fill the rest exactly.
    """
    try:
        (size,) = struct.unpack(">I", plaintext[:4])
        if 4 + size > len(plaintext):
            raise ValueError("short header")
        header = json.loads(plaintext[4 : 4 + size].decode("utf-8"),
                            parse_constant=_no_constant)
        if not _is_object(header, _HEADER_KEYS) or not _is_version(header["v"]) \
                or not isinstance(header["text"], str) or not isinstance(header["files"], list):
            raise ValueError("unknown message format")
        files, offset = [], 4 + size
        for entry in header["files"]:
            if not _is_file_entry(entry) or offset + entry["size"] > len(plaintext):
                raise ValueError("bad or truncated attachment")
            end = offset + int(entry["size"])
            files.append(Attachment(entry["name"], entry["type"], plaintext[offset:end]))
            offset = end
        if offset != len(plaintext):
            raise ValueError("trailing bytes")
    except (struct.error, ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise DecryptionFailed() from exc
    return Message(header["text"], tuple(files))


_HEADER_KEYS = frozenset({"v", "text", "files"})
_FILE_KEYS = frozenset({"name", "type", "size"})


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _is_object(value: object, keys: frozenset[str]) -> bool:
    return isinstance(value, dict) and value.keys() == keys


def _is_number(value: object) -> bool:
    # JSON has one number type: 3, 3.0 and 3e0 are the same number to the browser.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_version(value: object) -> bool:
    return _is_number(value) and value == VERSION


def _is_file_entry(entry: object) -> bool:
    if not _is_object(entry, _FILE_KEYS):
        return False
    size = entry["size"]
    whole = isinstance(size, int) or (isinstance(size, float) and size.is_integer())
    return isinstance(entry["name"], str) and isinstance(entry["type"], str) \
        and _is_number(size) and whole and size >= 0


def new_link_key() -> bytes:
    """256 bits from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


# --- replies: the reader encrypts to the sender's public key ------------------


@dataclass(frozen=True)
class ReplyKeys:
    """The sender's reply key pair: the public half in the clear, the private half wrapped."""

    public_key: bytes  # uncompressed P-256 point, 65 bytes
    wrapped_private_key: bytes = field(repr=False)  # seal(wrap key, d), 61 bytes


def _curve_public(point: bytes) -> ec.EllipticCurvePublicKey:
    if len(point) != PUBLIC_KEY_BYTES or point[:1] != b"\x04":
        raise DecryptionFailed()
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise DecryptionFailed() from exc


def is_public_key(point: bytes) -> bool:
    """Whether bytes are an uncompressed point on P-256."""
    try:
        _curve_public(point)
    except DecryptionFailed:
        return False
    return True


def _point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def _scalar(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(PRIVATE_KEY_BYTES, "big")


def _private(scalar: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    except ValueError as exc:
        raise DecryptionFailed() from exc


def reply_wrap_key(receipt_key: bytes) -> bytes:
    """The key that wraps the sender's private key, from the receipt link's secret."""
    if len(receipt_key) != KEY_BYTES:
        raise ValueError("the receipt key must be 32 bytes")
    return _hkdf(receipt_key, INFO_REPLY_WRAP)


def new_reply_keys(receipt_key: bytes, private_scalar: bytes | None = None,
                   nonce: bytes | None = None) -> ReplyKeys:
    """A fresh P-256 key pair, its private half sealed under the receipt key's wrap key.

    ``private_scalar`` and ``nonce`` are fixed only by the test vectors.
    """
    key = ec.generate_private_key(ec.SECP256R1()) if private_scalar is None \
        else _private(private_scalar)
    wrapped = seal(reply_wrap_key(receipt_key), _scalar(key), nonce)
    return ReplyKeys(_point(key), wrapped)


def _reply_content_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    # Both public keys go into the label: the key belongs to this one exchange.
    return _hkdf(shared, INFO_REPLY_KEY + ephemeral + recipient)


def seal_reply(public_key: bytes, plaintext: bytes, ephemeral_scalar: bytes | None = None,
               nonce: bytes | None = None) -> bytes:
    """Encrypt to the sender: ephemeral public key (65 bytes) || sealed envelope.

    ``ephemeral_scalar`` and ``nonce`` are fixed only by the test vectors.
    """
    recipient = _curve_public(public_key)
    ephemeral = ec.generate_private_key(ec.SECP256R1()) if ephemeral_scalar is None \
        else _private(ephemeral_scalar)
    shared = ephemeral.exchange(ec.ECDH(), recipient)
    point = _point(ephemeral)
    return point + seal(_reply_content_key(shared, point, public_key), plaintext, nonce)


def unwrap_reply_key(receipt_key: bytes, wrapped_private_key: bytes) -> bytes:
    """The sender's private scalar; a wrong receipt key raises DecryptionFailed."""
    scalar = unseal(reply_wrap_key(receipt_key), wrapped_private_key)
    if len(scalar) != PRIVATE_KEY_BYTES:
        raise DecryptionFailed()
    return scalar


def open_reply(private_scalar: bytes, public_key: bytes, blob: bytes) -> bytes:
    """Decrypt what seal_reply made, with the sender's private scalar and public key."""
    ephemeral = _curve_public(blob[:PUBLIC_KEY_BYTES])
    shared = _private(private_scalar).exchange(ec.ECDH(), ephemeral)
    key = _reply_content_key(shared, blob[:PUBLIC_KEY_BYTES], public_key)
    return unseal(key, blob[PUBLIC_KEY_BYTES:])
