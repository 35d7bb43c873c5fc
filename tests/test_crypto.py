"""The protocol: test vectors, recomputed two ways, and round-trip properties."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mayfly import crypto
from mayfly.errors import DecryptionFailed

from .vectors import plaintexts

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "protocol_v1.json").read_text(encoding="utf-8")
)["vectors"]

b64d = crypto.b64decode


def stdlib_hkdf(ikm: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 from RFC 5869 with the standard library alone (empty salt, L = 32)."""
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def stdlib_keys(vector: dict) -> tuple[bytes, bytes, bytes]:
    """The content key and both proofs, without mayfly.crypto or the cryptography package."""
    given_ = vector["input"]
    link_key = b64d(given_["link_key"])
    ikm = link_key
    if given_["passphrase"] is not None:
        kdf = given_["kdf"]
        secret = unicodedata.normalize("NFC", given_["passphrase"]).encode()
        ikm += hashlib.pbkdf2_hmac("sha256", secret, b64d(kdf["salt"]), kdf["iterations"], 32)
    return (stdlib_hkdf(ikm, b"mayfly/v1 content-key"),
            stdlib_hkdf(link_key, b"mayfly/v1 link-proof"),
            stdlib_hkdf(ikm, b"mayfly/v1 access-proof"))


def vector_message(vector: dict) -> crypto.Message:
    message = vector["input"]["message"]
    files = tuple(crypto.Attachment(f["name"], f["type"], b64d(f["data"]))
                  for f in message["files"])
    return crypto.Message(message["text"], files)


def vector_kdf(vector: dict) -> crypto.Kdf | None:
    kdf = vector["input"]["kdf"]
    return crypto.Kdf(b64d(kdf["salt"]), kdf["iterations"]) if kdf else None


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_keys_match_an_independent_stdlib_derivation(vector):
    content_key, link_proof, access_proof = stdlib_keys(vector)
    expected = vector["expected"]
    assert crypto.b64encode(content_key) == expected["content_key"]
    assert crypto.b64encode(link_proof) == expected["link_proof"]
    assert crypto.b64encode(access_proof) == expected["access_proof"]
    assert hashlib.sha256(link_proof).digest() == b64d(expected["link_proof_hash"])
    assert hashlib.sha256(access_proof).digest() == b64d(expected["access_proof_hash"])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_is_reproduced_by_mayfly_crypto(vector):
    given_, expected = vector["input"], vector["expected"]
    keys = crypto.derive_keys(b64d(given_["link_key"]), given_["passphrase"], vector_kdf(vector))
    plaintext = crypto.pack(vector_message(vector))
    assert crypto.b64encode(keys.content_key) == expected["content_key"]
    assert crypto.b64encode(keys.link_proof) == expected["link_proof"]
    assert crypto.b64encode(keys.access_proof) == expected["access_proof"]
    assert crypto.b64encode(plaintext) == expected["plaintext"]
    sealed = crypto.seal(keys.content_key, plaintext, b64d(given_["nonce"]))
    assert crypto.b64encode(sealed) == expected["ciphertext"]
    opened = crypto.unpack(crypto.unseal(keys.content_key, b64d(expected["ciphertext"])))
    assert opened == vector_message(vector)


def test_vector_plaintext_layout_is_length_header_then_files():
    vector = next(v for v in VECTORS if v["input"]["message"]["files"])
    plaintext = b64d(vector["expected"]["plaintext"])
    (size,) = struct.unpack(">I", plaintext[:4])
    header = json.loads(plaintext[4 : 4 + size])
    assert header["v"] == 1
    assert [f["size"] for f in header["files"]] == [3, 256]
    assert plaintext[4 + size :] == b"abc" + bytes(range(256))


def test_proofs_differ_from_each_other_and_from_the_key():
    keys = crypto.derive_keys(bytes(32))
    assert len({keys.content_key, keys.link_proof, keys.access_proof, bytes(32)}) == 4


def test_passphrase_changes_access_proof_but_not_link_proof():
    kdf = crypto.Kdf(bytes(16), iterations=1000)
    plain = crypto.derive_keys(bytes(32))
    locked = crypto.derive_keys(bytes(32), "pw", kdf)
    other = crypto.derive_keys(bytes(32), "pw2", kdf)
    assert plain.link_proof == locked.link_proof == other.link_proof
    assert len({plain.access_proof, locked.access_proof, other.access_proof}) == 3
    assert len({plain.content_key, locked.content_key, other.content_key}) == 3


def test_passphrase_hash_depends_on_the_link_key():
    # The operator holds the hash but not the link key: no offline guessing.
    kdf = crypto.Kdf(bytes(16), iterations=1000)
    a = crypto.derive_keys(bytes(32), "same", kdf)
    b = crypto.derive_keys(b"\x01" * 32, "same", kdf)
    assert crypto.proof_hash(a.access_proof) != crypto.proof_hash(b.access_proof)


def test_a_wrong_key_or_a_damaged_blob_fails_cleanly():
    keys = crypto.derive_keys(bytes(32))
    blob = crypto.seal(keys.content_key, b"hello")
    with pytest.raises(DecryptionFailed):
        crypto.unseal(crypto.derive_keys(b"\x02" * 32).content_key, blob)
    damaged = blob[:-1] + bytes([blob[-1] ^ 1])
    for bad in (damaged, blob[:10], b"\x02" + blob[1:], b""):
        with pytest.raises(DecryptionFailed):
            crypto.unseal(keys.content_key, bad)


@pytest.mark.parametrize("bad", [
    b"", b"\x00\x00\x00", struct.pack(">I", 100) + b"{}",
    struct.pack(">I", 2) + b"{}",
    struct.pack(">I", 40) + b'{"v":1,"text":"x","files":[{"name":"a",',
    struct.pack(">I", 52) + b'{"v":1,"text":"","files":[{"name":"a","type":"b","size":9}]}',
    struct.pack(">I", 25) + b'{"v":1,"text":"","files":[]}' + b"extra",
    struct.pack(">I", 2) + b"\xff\xfe",
])
def test_unpack_refuses_malformed_plaintexts(bad):
    with pytest.raises(DecryptionFailed):
        crypto.unpack(bad)


@pytest.mark.parametrize("case", plaintexts.CASES, ids=[c["name"] for c in plaintexts.CASES])
def test_unpack_follows_the_shared_container_rules(case):
    plaintext = plaintexts.plaintext(case)
    if not case["accept"]:
        with pytest.raises(DecryptionFailed):
            crypto.unpack(plaintext)
        return
    message = crypto.unpack(plaintext)
    expected = case["message"]
    assert message.text == expected["text"]
    assert [(f.name, f.type, crypto.b64encode(f.data)) for f in message.files] == [
        (f["name"], f["type"], f["data"]) for f in expected["files"]]


@pytest.mark.parametrize("text", ["", "AAA", "a=", "a", "ab+c", "ab/c", "abc=", "é", "AB", "AAB"])
def test_b64decode_accepts_only_canonical_unpadded_base64url(text):
    if text in {"", "AAA"}:
        assert crypto.b64encode(crypto.b64decode(text)) == text
    else:
        with pytest.raises(ValueError):
            crypto.b64decode(text)


def as_body_bytes(text: str) -> memoryview:
    """A string as bodies.parse_json may hand it over: a view of the body's UTF-8 bytes."""
    return memoryview(b'"' + text.encode() + b'"')[1:-1]


@pytest.mark.parametrize("form", [str, as_body_bytes])
@pytest.mark.parametrize("bad", ["+", "/", "=", " ", "\n", "\x00", "\x7f", "é", "=="])
@pytest.mark.parametrize("at", [0, 4 * 65536 - 1, 4 * 65536, 600_000])
def test_b64decode_refuses_a_character_outside_base64url_in_any_slice(form, bad, at):
    text = crypto.b64encode(os.urandom(600_003))
    text = text[:at] + bad + text[at + len(bad):]
    with pytest.raises(ValueError):
        crypto.b64decode_large(form(text))


@pytest.mark.parametrize("size", [0, 1, 2, 3, 600_001])
def test_b64decode_large_reads_the_ascii_bytes_of_a_body_as_it_reads_a_string(size):
    data = os.urandom(size)
    assert crypto.b64decode_large(as_body_bytes(crypto.b64encode(data))) == data


@pytest.mark.parametrize("text", ["AB", "AAB", "a", "abc="])
def test_b64decode_large_refuses_the_bytes_of_a_non_canonical_string(text):
    with pytest.raises(ValueError):
        crypto.b64decode_large(as_body_bytes(text))


@pytest.mark.parametrize("text", ["AB==", "ABC=", "AQ==", "QUJD\nREV", b"QUJD", None])
def test_b64decode_refuses_padding_whitespace_and_non_strings(text):
    with pytest.raises(ValueError):
        crypto.b64decode(text)


def test_derive_keys_refuses_a_short_key_or_a_passphrase_without_kdf():
    with pytest.raises(ValueError):
        crypto.derive_keys(bytes(31))
    with pytest.raises(ValueError):
        crypto.derive_keys(bytes(32), "pw", None)


names = st.text(min_size=1, max_size=40)
attachments = st.builds(crypto.Attachment, names, names, st.binary(max_size=300))


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=400), files=st.lists(attachments, max_size=3), data=st.data())
def test_pack_seal_unseal_unpack_round_trips(text, files, data):
    key = data.draw(st.binary(min_size=32, max_size=32))
    message = crypto.Message(text, tuple(files))
    keys = crypto.derive_keys(key)
    blob = crypto.seal(keys.content_key, crypto.pack(message))
    assert crypto.unpack(crypto.unseal(keys.content_key, blob)) == message


@given(st.binary(max_size=100))
def test_b64_round_trips(data):
    assert crypto.b64decode(crypto.b64encode(data)) == data


@pytest.mark.parametrize("size", [0, 1, 2, 3, 196_607, 196_608, 196_609, 600_001])
def test_large_values_cross_slice_boundaries_intact(size):
    data = os.urandom(size)
    text = crypto.b64encode(data)
    assert b"".join(crypto.b64encode_slices(data)).decode() == text
    assert crypto.b64encoded_length(size) == len(text)
    assert crypto.b64decode(text) == data


@given(st.binary(max_size=2000))
def test_slices_and_length_agree_with_the_plain_encoding(data):
    text = crypto.b64encode(data)
    assert b"".join(crypto.b64encode_slices(data)).decode() == text
    assert crypto.b64encoded_length(len(data)) == len(text)


# --- replies ---------------------------------------------------------------------

REPLY_VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "protocol_v1.json").read_text(encoding="utf-8")
)["reply_vectors"]


def _p256(scalar: bytes):
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())


@pytest.mark.parametrize("vector", REPLY_VECTORS, ids=[v["name"] for v in REPLY_VECTORS])
def test_reply_vector_steps_match_plain_ecdh_and_a_stdlib_hkdf(vector):
    # Raw ECDH from the cryptography package, every label and HKDF by hand (RFC 5869).
    from cryptography.hazmat.primitives.asymmetric import ec

    given_, expected = vector["input"], vector["expected"]
    sender_public = b64d(expected["sender_public_key"])
    ephemeral_public = b64d(expected["ephemeral_public_key"])
    recipient = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
    shared = _p256(b64d(given_["ephemeral_private_key"])).exchange(ec.ECDH(), recipient)
    assert crypto.b64encode(shared) == expected["shared_secret"]
    wrap_key = stdlib_hkdf(b64d(given_["receipt_key"]), b"mayfly/v1 reply-wrap")
    assert crypto.b64encode(wrap_key) == expected["wrap_key"]
    reply_key = stdlib_hkdf(shared, b"mayfly/v1 reply-key" + ephemeral_public + sender_public)
    assert crypto.b64encode(reply_key) == expected["reply_key"]
    blob = b64d(expected["ciphertext"])
    assert blob[:65] == ephemeral_public
    assert crypto.unseal(reply_key, blob[65:]) == b64d(expected["plaintext"])
    assert crypto.unseal(wrap_key, b64d(expected["wrapped_private_key"])) == \
        b64d(given_["sender_private_key"])


@pytest.mark.parametrize("vector", REPLY_VECTORS, ids=[v["name"] for v in REPLY_VECTORS])
def test_reply_vector_is_reproduced_by_mayfly_crypto(vector):
    given_, expected = vector["input"], vector["expected"]
    receipt_key = b64d(given_["receipt_key"])
    sender = crypto.new_reply_keys(receipt_key, b64d(given_["sender_private_key"]),
                                   b64d(given_["wrap_nonce"]))
    assert crypto.b64encode(sender.public_key) == expected["sender_public_key"]
    assert crypto.b64encode(sender.wrapped_private_key) == expected["wrapped_private_key"]
    plaintext = crypto.pack(vector_message(vector))
    assert crypto.b64encode(plaintext) == expected["plaintext"]
    blob = crypto.seal_reply(sender.public_key, plaintext, b64d(given_["ephemeral_private_key"]),
                             b64d(given_["nonce"]))
    assert crypto.b64encode(blob) == expected["ciphertext"]
    scalar = crypto.unwrap_reply_key(receipt_key, sender.wrapped_private_key)
    opened = crypto.open_reply(scalar, sender.public_key, b64d(expected["ciphertext"]))
    assert crypto.unpack(opened) == vector_message(vector)


def test_a_reply_opens_only_with_the_right_receipt_key_and_intact_bytes():
    receipt_key = crypto.new_link_key()
    sender = crypto.new_reply_keys(receipt_key)
    blob = crypto.seal_reply(sender.public_key, b"for the sender only")
    with pytest.raises(DecryptionFailed):
        crypto.unwrap_reply_key(crypto.new_link_key(), sender.wrapped_private_key)
    scalar = crypto.unwrap_reply_key(receipt_key, sender.wrapped_private_key)
    assert crypto.open_reply(scalar, sender.public_key, blob) == b"for the sender only"
    other = crypto.unwrap_reply_key(receipt_key, crypto.new_reply_keys(receipt_key)
                                    .wrapped_private_key)
    for bad_scalar, bad_blob in ((other, blob), (scalar, blob[:-1] + bytes([blob[-1] ^ 1])),
                                 (scalar, b"\x04" + bytes(64) + blob[65:]), (scalar, blob[:70])):
        with pytest.raises(DecryptionFailed):
            crypto.open_reply(bad_scalar, sender.public_key, bad_blob)


def test_two_replies_to_one_key_share_no_ephemeral_key():
    sender = crypto.new_reply_keys(crypto.new_link_key())
    first, second = (crypto.seal_reply(sender.public_key, b"same") for _ in range(2))
    assert first[:65] != second[:65] and first[65:] != second[65:]


# --- requests: a note sealed as a message, an answer sealed as a reply ---------------

REQUEST_VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "protocol_v1.json").read_text(encoding="utf-8")
)["request_vectors"]


@pytest.mark.parametrize("vector", REQUEST_VECTORS, ids=[v["name"] for v in REQUEST_VECTORS])
def test_request_vector_note_is_a_message_and_answer_a_reply(vector):
    # Each half passes every check of its kind: the stdlib derivation and mayfly.crypto.
    test_vector_keys_match_an_independent_stdlib_derivation(vector["note"])
    test_vector_is_reproduced_by_mayfly_crypto(vector["note"])
    test_reply_vector_steps_match_plain_ecdh_and_a_stdlib_hkdf(vector["answer"])
    test_reply_vector_is_reproduced_by_mayfly_crypto(vector["answer"])


def test_a_request_answer_opens_only_with_its_answer_link_key():
    vector = REQUEST_VECTORS[0]["answer"]
    wrapped = b64d(vector["expected"]["wrapped_private_key"])
    note_key = b64d(REQUEST_VECTORS[0]["note"]["input"]["link_key"])
    with pytest.raises(DecryptionFailed):  # the request link's key is not the answer link's
        crypto.unwrap_reply_key(note_key, wrapped)
