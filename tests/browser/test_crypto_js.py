"""static/js/crypto.js in real Chromium: the protocol's test vectors, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mayfly import asset_version
from mayfly.crypto import b64encode

from ..vectors import plaintexts

pytestmark = pytest.mark.slow  # real Chromium and uWSGI

VECTORS_DIR = Path(__file__).resolve().parent.parent / "vectors"
VECTORS = json.loads((VECTORS_DIR / "protocol_v1.json").read_text())

# Runs in the page: recompute every intermediate and final value of one vector.
RECOMPUTE = """
async (vector) => {
  const c = await import("/static/js/crypto.js");
  const input = vector.input;
  const kdf = input.kdf === null ? null : c.kdfFromJson(input.kdf);
  const keys = await c.deriveKeys(c.b64decode(input.link_key), input.passphrase, kdf);
  const files = input.message.files.map((f) => ({ name: f.name, type: f.type,
    data: c.b64decode(f.data) }));
  const plaintext = c.pack({ text: input.message.text, files });
  const ciphertext = await c.seal(keys.contentKey, plaintext, c.b64decode(input.nonce));
  const opened = c.unpack(await c.unseal(keys.contentKey,
    c.b64decode(vector.expected.ciphertext)));
  return {
    link_proof: c.b64encode(keys.linkProof),
    access_proof: c.b64encode(keys.accessProof),
    link_proof_hash: c.b64encode(await c.proofHash(keys.linkProof)),
    access_proof_hash: c.b64encode(await c.proofHash(keys.accessProof)),
    content_key: c.b64encode(keys.contentKey),
    plaintext: c.b64encode(plaintext),
    ciphertext: c.b64encode(ciphertext),
    sealed_size: c.sealedSize(input.message.text,
      files.map((f) => ({ name: f.name, type: f.type, size: f.data.length }))),
    opened: { text: opened.text, files: opened.files.map((f) => ({ name: f.name, type: f.type,
      data: c.b64encode(f.data) })) },
  };
}
"""

# Runs in the page: random messages survive pack, seal, unseal and unpack.
ROUND_TRIPS = """
async () => {
  const c = await import("/static/js/crypto.js");
  const failures = [];
  for (let i = 0; i < 25; i++) {
    const sizes = [0, 1, 2, 3, 65535, 65537, 300000].sort(() => Math.random() - 0.5)
      .slice(0, i % 4);
    const files = sizes.map((size, n) => ({ name: `f${n} 文件 <b>.bin`, type: "application/x-test",
      data: c.randomBytes(size) }));
    const text = Array.from(c.randomBytes(i * 7), (b) => String.fromCodePoint(b * 131 + 32))
      .join("") + "\\u0000\\n\\"\\\\\\u2028😀";
    const passphrase = i % 5 === 0 ? "pässwörd" : null;
    const kdf = passphrase === null ? null : { ...c.newKdf(), iterations: 600000 };
    const keys = await c.deriveKeys(c.newLinkKey(), passphrase, kdf);
    const blob = await c.seal(keys.contentKey, c.pack({ text, files }));
    if (blob.length !== c.sealedSize(text, files.map((f) => ({ ...f, size: f.data.length })))) {
      failures.push(`size ${i}`);
    }
    const back = c.unpack(await c.unseal(keys.contentKey, c.b64decode(c.b64encode(blob))));
    const same = back.text === text && back.files.length === files.length &&
      back.files.every((f, n) => f.name === files[n].name && f.type === files[n].type &&
        f.data.length === files[n].data.length && f.data.every((b, k) => b === files[n].data[k]));
    if (!same) failures.push(`round trip ${i}`);
    const tampered = blob.slice();
    tampered[tampered.length - 1 - (i % 16)] ^= 1;
    try {
      await c.unseal(keys.contentKey, tampered);
      failures.push(`tamper ${i}`);
    } catch (error) {
      if (!(error instanceof c.DecryptionFailed)) failures.push(`tamper error ${i}: ${error}`);
    }
  }
  return failures;
}
"""

# Runs in the page: every step of a reply vector, with the vector's fixed key pairs.
REPLY = """
async (vector) => {
  const c = await import("/static/js/crypto.js");
  const input = vector.input;
  const expected = vector.expected;
  const receiptKey = c.b64decode(input.receipt_key);
  const sender = await c.newReplyKeys(receiptKey, {
    scalar: c.b64decode(input.sender_private_key),
    publicKey: c.b64decode(expected.sender_public_key),
    nonce: c.b64decode(input.wrap_nonce),
  });
  const files = input.message.files.map((f) => ({ name: f.name, type: f.type,
    data: c.b64decode(f.data) }));
  const plaintext = c.pack({ text: input.message.text, files });
  const blob = await c.sealReply(sender.publicKey, plaintext, {
    scalar: c.b64decode(input.ephemeral_private_key),
    publicKey: c.b64decode(expected.ephemeral_public_key),
    nonce: c.b64decode(input.nonce),
  });
  const scalar = await c.unwrapReplyKey(receiptKey, c.b64decode(expected.wrapped_private_key));
  const opened = c.unpack(await c.openReply(scalar, sender.publicKey,
    c.b64decode(expected.ciphertext)));
  let wrongKey = "opened";
  try {
    await c.unwrapReplyKey(c.newLinkKey(), sender.wrappedPrivateKey);
  } catch (error) {
    wrongKey = error.name;
  }
  // A fresh pair (no fixed keys) round-trips too.
  const fresh = await c.newReplyKeys(receiptKey);
  const freshScalar = await c.unwrapReplyKey(receiptKey, fresh.wrappedPrivateKey);
  const freshBlob = await c.sealReply(fresh.publicKey, plaintext);
  const freshOpened = await c.openReply(freshScalar, fresh.publicKey, freshBlob);
  return {
    wrapped_private_key: c.b64encode(sender.wrappedPrivateKey),
    wrap_key: c.b64encode(await c.replyWrapKey(receiptKey)),
    ciphertext: c.b64encode(blob),
    scalar: c.b64encode(scalar),
    opened: { text: opened.text, files: opened.files.map((f) => ({ name: f.name, type: f.type,
      data: c.b64encode(f.data) })) },
    wrong_key: wrongKey,
    fresh: c.b64encode(freshOpened) === c.b64encode(plaintext),
  };
}
"""

STRICT_BASE64 = """
async (samples) => {
  const c = await import("/static/js/crypto.js");
  return samples.map((text) => {
    try { c.b64decode(text); return true; } catch { return false; }
  });
}
"""


# Runs before any of the page's scripts: a browser without native base64 (before
# Chromium 140), so that crypto.js takes its portable path.
WITHOUT_NATIVE_BASE64 = """
delete Uint8Array.prototype.toBase64;
delete Uint8Array.prototype.setFromBase64;
delete Uint8Array.prototype.toHex;
delete Uint8Array.fromBase64;
"""
NATIVE_FLAG = 'async () => (await import("/static/js/crypto.js")).NATIVE_BASE64'


def module_page(new_context, native: bool):
    """A page of our own origin (a secure context) to import the module into."""
    context = new_context()
    if not native:
        context.add_init_script(WITHOUT_NATIVE_BASE64)
    page = context.new_page()
    # The snippets import /static/js/crypto.js; the server answers static files
    # only under /static/<digest>/ (mayfly.asset_version), where pages load them.
    served = f"/static/{asset_version()}/js/"
    page.route("**/static/js/**", lambda route: route.continue_(
        url=route.request.url.replace("/static/js/", served)))
    page.goto("/")
    assert page.evaluate(NATIVE_FLAG) is native
    return page


@pytest.fixture(params=["native", "portable"])
def page(request, new_context, web_server):
    """Every test runs twice: with the browser's own base64 (Chromium has it) and
    without it, as in an older browser, where crypto.js's portable code runs."""
    return module_page(new_context, request.param == "native")


@pytest.fixture
def native_page(new_context, web_server):
    """A page where crypto.js uses the browser's own base64."""
    return module_page(new_context, True)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_crypto_js_reproduces_the_vectors(page, vector):
    got = page.evaluate(RECOMPUTE, vector)
    expected = vector["expected"]
    for name in ("link_proof", "access_proof", "link_proof_hash", "access_proof_hash",
                 "content_key", "plaintext", "ciphertext"):
        assert got[name] == expected[name], name
    assert got["opened"] == vector["input"]["message"]
    assert got["sealed_size"] == len(got["ciphertext"]) * 3 // 4


@pytest.mark.parametrize("vector", VECTORS["reply_vectors"], ids=lambda v: v["name"])
def test_crypto_js_reproduces_the_reply_vectors(page, vector):
    got = page.evaluate(REPLY, vector)
    expected = vector["expected"]
    for name in ("wrap_key", "wrapped_private_key", "ciphertext"):
        assert got[name] == expected[name], name
    assert got["scalar"] == vector["input"]["sender_private_key"]
    assert got["opened"] == vector["input"]["message"]
    assert got["wrong_key"] == "DecryptionFailed"
    assert got["fresh"] is True


@pytest.mark.parametrize("vector", VECTORS["request_vectors"], ids=lambda v: v["name"])
def test_crypto_js_reproduces_the_request_vectors(page, vector):
    # A request's note is a message and its answer a reply: both halves, byte for byte.
    test_crypto_js_reproduces_the_vectors(page, vector["note"])
    test_crypto_js_reproduces_the_reply_vectors(page, vector["answer"])


def test_crypto_js_round_trips_random_messages_and_rejects_tampering(page):
    assert page.evaluate(ROUND_TRIPS) == []


BASE64_CASES = {
    "": True, "AA": True, "AAA": True, "AAAA": True, "_-8": True,
    "A": False, "AA==": False, "AB": False, "AAB": False, "+/8": False, "AA A": False, "é": False,
    "AQ": True, "AR": False, "AAE": True, "AAF": False, "AAA=": False, "AAAAAA=": False,
    "AAAAAA A": False, "AAAA\n": False, " AAA": False, "AA\tA": False, "AAAA====": False,
}


def test_crypto_js_base64url_is_strict(page):
    got = page.evaluate(STRICT_BASE64, list(BASE64_CASES))
    assert dict(zip(BASE64_CASES, got, strict=True)) == BASE64_CASES


# Runs in the page: unpack each plaintext. The result travels back as JSON text
# (JSON.stringify escapes a lone surrogate, which Playwright would otherwise lose).
UNPACK = """
async (plaintexts) => {
  const c = await import("/static/js/crypto.js");
  return plaintexts.map((plaintext) => {
    try {
      const message = c.unpack(c.b64decode(plaintext));
      return JSON.stringify({ text: message.text, files: message.files.map((f) => ({
        name: f.name, type: f.type, data: c.b64encode(f.data) })) });
    } catch (error) {
      return error instanceof c.DecryptionFailed ? null : `unexpected ${error}`;
    }
  });
}
"""


def test_crypto_js_follows_the_shared_container_rules(page):
    sent = [b64encode(plaintexts.plaintext(case)) for case in plaintexts.CASES]
    got = page.evaluate(UNPACK, sent)
    wrong = [case["name"] for case, answer in zip(plaintexts.CASES, got, strict=True)
             if (json.loads(answer) if answer else None) != (case["message"] if case["accept"]
                                                             else None)]
    assert wrong == []


# Runs in the page: the portable and the browser's own base64url agree, both ways.
AGREE = """
async () => {
  const c = await import("/static/js/crypto.js");
  const options = { alphabet: "base64url", omitPadding: true };
  const failures = [];
  const lengths = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 100, 101, 102, 65535, 65536, 65537,
    1000000];
  for (let i = 0; i < 40; i++) lengths.push(Math.floor(Math.random() * 5000));
  for (const length of lengths) {
    const bytes = c.randomBytes(length);
    const native = bytes.toBase64(options);
    const portable = c.b64encodePortable(bytes);
    if (portable !== native) failures.push(`encode ${length}`);
    if (c.b64encode(bytes) !== native) failures.push(`b64encode ${length}`);
    if (native.length !== c.b64encodedLength(length)) failures.push(`length ${length}`);
    const into = new Uint8Array(native.length + 3).fill(33);
    const written = c.b64encodeInto(bytes, into.subarray(1));
    if (written !== native.length || new TextDecoder().decode(into.subarray(1, 1 + written))
        !== native || into[0] !== 33 || into[written + 1] !== 33) failures.push(`into ${length}`);
    const back = c.b64decodePortable(native);
    const nativeBack = Uint8Array.fromBase64(native, { alphabet: "base64url" });
    if (back.length !== length || !back.every((b, k) => b === bytes[k] && b === nativeBack[k])) {
      failures.push(`decode ${length}`);
    }
    const decoded = c.b64decode(native);
    if (decoded.length !== length || !decoded.every((b, k) => b === bytes[k])) {
      failures.push(`b64decode ${length}`);
    }
  }
  return failures;
}
"""


def test_portable_and_native_base64url_agree_on_random_bytes(native_page):
    assert native_page.evaluate(AGREE) == []


PORTABLE_STRICT = """
async (samples) => {
  const c = await import("/static/js/crypto.js");
  return samples.map((text) => {
    try { c.b64decodePortable(text); return true; } catch { return false; }
  });
}
"""


def test_the_portable_base64url_decoder_is_strict_too(page):
    got = page.evaluate(PORTABLE_STRICT, list(BASE64_CASES))
    assert dict(zip(BASE64_CASES, got, strict=True)) == BASE64_CASES
