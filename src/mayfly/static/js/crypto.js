// The mayfly protocol, version 1, in the browser (docs/protocol.md).
//
// Pure: no DOM, no network. Bytes are Uint8Array in and out; the only
// primitives are the Web Crypto API's HKDF-SHA256, PBKDF2-HMAC-SHA256,
// AES-256-GCM, SHA-256 and, for replies, ECDH on P-256. mayfly/crypto.py is the same protocol in Python;
// both pass tests/vectors/protocol_v1.json.

export const VERSION = 1;
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const SALT_BYTES = 16;
export const TAG_BYTES = 16;
export const PBKDF2_ITERATIONS = 600000;
export const KDF_NAME = "PBKDF2-HMAC-SHA256";
// The first byte of every sealed blob.
export const ENVELOPE_VERSION = 0x01;
// What a sealed blob adds to its plaintext: version byte, nonce, GCM tag.
export const ENVELOPE_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

const encoder = new TextEncoder();
const AAD = encoder.encode("mayfly/v1");
const INFO_LINK_PROOF = encoder.encode("mayfly/v1 link-proof");
const INFO_ACCESS_PROOF = encoder.encode("mayfly/v1 access-proof");
const INFO_CONTENT_KEY = encoder.encode("mayfly/v1 content-key");
const INFO_REPLY_WRAP = encoder.encode("mayfly/v1 reply-wrap");
const INFO_REPLY_KEY = encoder.encode("mayfly/v1 reply-key");
// An uncompressed P-256 point (0x04 || x || y) and a private scalar.
export const PUBLIC_KEY_BYTES = 65;
export const PRIVATE_KEY_BYTES = 32;
const P256 = { name: "ECDH", namedCurve: "P-256" };
const subtle = globalThis.crypto.subtle;

/** Raised for anything that cannot be decrypted or parsed: a damaged link or blob. */
export class DecryptionFailed extends Error {
  constructor(why = "the link is incomplete or damaged") {
    super(why);
    this.name = "DecryptionFailed";
  }
}

// --- base64url, unpadded and strict (RFC 4648 section 5) ---
//
// The browser's own Uint8Array.prototype.toBase64 and Uint8Array.fromBase64
// where it has them (Chromium 140, Firefox 133, Safari 18.2), else typed-array
// code of our own; both give the same answers (tests/browser/test_crypto_js.py
// runs every vector on each). A ciphertext is megabytes: neither path builds
// a string per character or per group, which made garbage collection the
// largest cost of sending an attachment.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const CODES = encoder.encode(ALPHABET);
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;
const ascii = new TextDecoder();
const NATIVE_OPTIONS = { alphabet: "base64url", omitPadding: true };
/** Whether this browser encodes and decodes base64 itself (else the portable code runs). */
export const NATIVE_BASE64 = typeof Uint8Array.prototype.toBase64 === "function" &&
  typeof Uint8Array.fromBase64 === "function";

const notBase64 = () => new TypeError("not unpadded base64url");

/** How many characters the unpadded base64url of `length` bytes has. */
export function b64encodedLength(length) {
  return Math.floor(length / 3) * 4 + [0, 2, 3][length % 3];
}

/** Write the base64url of `bytes` as ASCII into `target` (typed-array code); return the count. */
function encodeIntoPortable(bytes, target) {
  const whole = bytes.length - (bytes.length % 3);
  let o = 0;
  for (let i = 0; i < whole; i += 3, o += 4) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    target[o] = CODES[n >>> 18];
    target[o + 1] = CODES[(n >>> 12) & 63];
    target[o + 2] = CODES[(n >>> 6) & 63];
    target[o + 3] = CODES[n & 63];
  }
  const rest = bytes.length - whole;
  if (rest > 0) {
    const n = (bytes[whole] << 16) | (rest === 2 ? bytes[whole + 1] << 8 : 0);
    target[o++] = CODES[n >>> 18];
    target[o++] = CODES[(n >>> 12) & 63];
    if (rest === 2) target[o++] = CODES[(n >>> 6) & 63];
  }
  return o;
}

/** Encode bytes as unpadded base64url with typed-array code alone (the fallback). */
export function b64encodePortable(bytes) {
  const out = new Uint8Array(b64encodedLength(bytes.length));
  encodeIntoPortable(bytes, out);
  return ascii.decode(out);
}

/** Decode unpadded base64url with typed-array code alone (the fallback); strict as b64decode. */
export function b64decodePortable(text) {
  if (typeof text !== "string" || text.length % 4 === 1) throw notBase64();
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  const whole = text.length - (text.length % 4);
  // A character outside the alphabet has the value -1: OR-ed into `bad`, it makes it negative.
  const value = (i) => {
    const code = text.charCodeAt(i);
    return code < 128 ? LOOKUP[code] : -1;
  };
  let bad = 0;
  let o = 0;
  for (let i = 0; i < whole; i += 4, o += 3) {
    const a = value(i), b = value(i + 1), c = value(i + 2), d = value(i + 3);
    bad |= a | b | c | d;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o] = n >>> 16;
    out[o + 1] = n >>> 8;
    out[o + 2] = n;
  }
  const rest = text.length - whole;
  if (rest > 0) {
    const a = value(whole), b = value(whole + 1), c = rest === 3 ? value(whole + 2) : 0;
    bad |= a | b | c;
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o] = n >>> 16;
    if (rest === 3) out[o + 1] = n >>> 8;
    // Non-canonical: the leftover bits of the last character must be zero.
    if (bad >= 0 && (rest === 2 ? b & 15 : c & 3) !== 0) {
      throw new TypeError("not canonical base64url");
    }
  }
  if (bad < 0) throw notBase64();
  return out;
}

function b64decodeNative(text) {
  if (typeof text !== "string" || text.length % 4 === 1) throw notBase64();
  let out;
  try {
    out = Uint8Array.fromBase64(text, { alphabet: "base64url", lastChunkHandling: "loose" });
  } catch {
    throw notBase64();
  }
  // "loose" skips ASCII whitespace and accepts padding; either leaves fewer bytes than
  // the text's length promises, so this one comparison refuses both.
  if (out.length !== Math.floor((text.length * 3) / 4)) throw notBase64();
  const rest = text.length % 4;
  if (rest > 0) {
    const last = LOOKUP[text.charCodeAt(text.length - 1)];
    if ((rest === 2 ? last & 15 : last & 3) !== 0) throw new TypeError("not canonical base64url");
  }
  return out;
}

/** Encode bytes as unpadded base64url. */
export function b64encode(bytes) {
  return NATIVE_BASE64 ? bytes.toBase64(NATIVE_OPTIONS) : b64encodePortable(bytes);
}

/**
 * Write the base64url of `bytes` as ASCII bytes into `target`, at least
 * b64encodedLength(bytes.length) long; return how many were written. This is
 * how a ciphertext goes into a request body without a string as large as it.
 */
export function b64encodeInto(bytes, target) {
  if (!NATIVE_BASE64) return encodeIntoPortable(bytes, target);
  return encoder.encodeInto(bytes.toBase64(NATIVE_OPTIONS), target).written;
}

/** Decode unpadded base64url; throw a TypeError on padding, foreign or stray bits. */
export function b64decode(text) {
  return NATIVE_BASE64 ? b64decodeNative(text) : b64decodePortable(text);
}

// --- helpers ---

/** Concatenate byte arrays. */
export function concat(...arrays) {
  const out = new Uint8Array(arrays.reduce((sum, a) => sum + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

/** Bytes from the CSPRNG (getRandomValues fills at most 64 KiB at a time). */
export function randomBytes(length) {
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(offset + 65536, length)));
  }
  return out;
}

/** A fresh 256-bit link key. */
export function newLinkKey() {
  return randomBytes(KEY_BYTES);
}

/** Fresh passphrase-stretching parameters: {salt: 16 random bytes, iterations}. */
export function newKdf() {
  return { salt: randomBytes(SALT_BYTES), iterations: PBKDF2_ITERATIONS };
}

/** The KDF parameters as the API stores them (salt in base64url). */
export function kdfToJson(kdf) {
  return { name: KDF_NAME, salt: b64encode(kdf.salt), iterations: kdf.iterations };
}

/** Parse the API's KDF parameters; refuse any other algorithm. */
export function kdfFromJson(json) {
  if (!json || json.name !== KDF_NAME || !Number.isInteger(json.iterations)) {
    throw new DecryptionFailed("unknown key derivation");
  }
  return { salt: b64decode(json.salt), iterations: json.iterations };
}

// --- key derivation ---

/**
 * HKDF-SHA256 with an empty salt (HashLen zero bytes), 32 bytes out.
 * ikm: input keying material (the link key, or link key || stretched passphrase).
 * info: the label that separates the outputs.
 */
async function hkdf(ikm, info) {
  const key = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, key, 256);
  return new Uint8Array(bits);
}

/**
 * PBKDF2-HMAC-SHA256 of the NFC-normalised UTF-8 passphrase, 32 bytes out.
 * passphrase: what the person typed (a string).
 * kdf: {salt: Uint8Array, iterations: number}.
 */
export async function stretch(passphrase, kdf) {
  const secret = encoder.encode(passphrase.normalize("NFC"));
  const key = await subtle.importKey("raw", secret, "PBKDF2", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: kdf.salt, iterations: kdf.iterations }, key, 256);
  return new Uint8Array(bits);
}

/**
 * Derive {contentKey, linkProof, accessProof}, each 32 bytes.
 * linkKey: the 32-byte key from the link's fragment.
 * passphrase: a string, or null for none.
 * kdf: the stretching parameters, or null: they go together with the passphrase.
 */
export async function deriveKeys(linkKey, passphrase = null, kdf = null) {
  if (!(linkKey instanceof Uint8Array) || linkKey.length !== KEY_BYTES) {
    throw new TypeError("the link key must be 32 bytes");
  }
  if ((passphrase === null) !== (kdf === null)) {
    throw new TypeError("a passphrase and its KDF parameters go together");
  }
  const accessIkm = passphrase === null ? linkKey : concat(linkKey, await stretch(passphrase, kdf));
  const [contentKey, linkProof, accessProof] = await Promise.all([
    hkdf(accessIkm, INFO_CONTENT_KEY),
    hkdf(linkKey, INFO_LINK_PROOF),
    hkdf(accessIkm, INFO_ACCESS_PROOF),
  ]);
  return { contentKey, linkProof, accessProof };
}

/** What the server stores of a proof: its SHA-256. */
export async function proofHash(proof) {
  return new Uint8Array(await subtle.digest("SHA-256", proof));
}

// --- the envelope ---

function aesKey(contentKey, usage) {
  return subtle.importKey("raw", contentKey, "AES-GCM", false, [usage]);
}

/**
 * Encrypt: version byte || 96-bit nonce || AES-256-GCM(plaintext, aad "mayfly/v1") with tag.
 * contentKey: 32 bytes from deriveKeys.
 * plaintext: the packed message.
 * nonce: 12 bytes; random unless given (the test vectors fix it).
 */
export async function seal(contentKey, plaintext, nonce = randomBytes(NONCE_BYTES)) {
  const key = await aesKey(contentKey, "encrypt");
  const body = await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: AAD }, key,
    plaintext);
  return concat(Uint8Array.of(ENVELOPE_VERSION), nonce, new Uint8Array(body));
}

/** Decrypt a sealed blob; a wrong key or any damage throws DecryptionFailed. */
export async function unseal(contentKey, blob) {
  if (blob.length < ENVELOPE_OVERHEAD || blob[0] !== ENVELOPE_VERSION) {
    throw new DecryptionFailed();
  }
  const key = await aesKey(contentKey, "decrypt");
  try {
    const plain = await subtle.decrypt(
      { name: "AES-GCM", iv: blob.subarray(1, 1 + NONCE_BYTES), additionalData: AAD }, key,
      blob.subarray(1 + NONCE_BYTES));
    return new Uint8Array(plain);
  } catch {
    throw new DecryptionFailed();
  }
}

// --- the plaintext ---

/**
 * Serialise a message: 4-byte big-endian header length, UTF-8 JSON header, file bytes.
 * message: {text: string, files: [{name, type, data: Uint8Array}]}.
 * The header's key order (v, text, files; name, type, size) matches the Python side.
 */
export function pack(message) {
  const header = {
    v: VERSION,
    text: message.text,
    files: message.files.map((f) => ({ name: f.name, type: f.type, size: f.data.length })),
  };
  const head = encoder.encode(JSON.stringify(header));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, head.length, false);
  return concat(length, head, ...message.files.map((f) => f.data));
}

// The header's keys, sorted: exactly these, no more, no fewer.
const HEADER_KEYS = ["files", "text", "v"];
const FILE_KEYS = ["name", "size", "type"];

/** Whether a parsed JSON value is an object with exactly the given (sorted) keys. */
function isObjectWith(value, keys) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const own = Object.keys(value).sort();
  return own.length === keys.length && own.every((key, i) => key === keys[i]);
}

/** Whether a file entry has a string name and type and a whole size of at least 0. */
function isFileEntry(entry) {
  return isObjectWith(entry, FILE_KEYS) && typeof entry.name === "string" &&
    typeof entry.type === "string" && Number.isInteger(entry.size) && entry.size >= 0;
}

/**
 * Parse what pack() made; anything malformed throws DecryptionFailed.
 * The rules are mayfly/crypto.py's too, case by case in tests/vectors/plaintext_v1.json.
 */
export function unpack(plaintext) {
  try {
    if (plaintext.length < 4) throw new Error("short");
    const view = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    const size = view.getUint32(0, false);
    if (4 + size > plaintext.length) throw new Error("short header");
    // ignoreBOM keeps a leading BOM, which JSON.parse then refuses, as Python does.
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    const header = JSON.parse(decoder.decode(plaintext.subarray(4, 4 + size)));
    if (!isObjectWith(header, HEADER_KEYS) || header.v !== VERSION ||
        typeof header.text !== "string" || !Array.isArray(header.files)) {
      throw new Error("unknown message format");
    }
    const files = [];
    let offset = 4 + size;
    for (const entry of header.files) {
      if (!isFileEntry(entry) || offset + entry.size > plaintext.length) {
        throw new Error("bad or truncated attachment");
      }
      const end = offset + entry.size;
      files.push({ name: entry.name, type: entry.type, data: plaintext.slice(offset, end) });
      offset = end;
    }
    if (offset !== plaintext.length) throw new Error("trailing bytes");
    return { text: header.text, files };
  } catch {
    throw new DecryptionFailed("the message is malformed");
  }
}

/**
 * How many bytes the sealed blob of a message will have, without packing it.
 * text: the message; files: [{name, type, size}].
 */
export function sealedSize(text, files) {
  const header = {
    v: VERSION,
    text,
    files: files.map((f) => ({ name: f.name, type: f.type, size: f.size })),
  };
  const fileBytes = files.reduce((sum, f) => sum + f.size, 0);
  return 4 + encoder.encode(JSON.stringify(header)).length + fileBytes + ENVELOPE_OVERHEAD;
}

// --- replies: the reader encrypts to the sender's public key ---

/** The wrap key of the sender's private key, from the receipt link's 32-byte secret. */
export function replyWrapKey(receiptKey) {
  if (!(receiptKey instanceof Uint8Array) || receiptKey.length !== KEY_BYTES) {
    throw new TypeError("the receipt key must be 32 bytes");
  }
  return hkdf(receiptKey, INFO_REPLY_WRAP);
}

/** Import a private scalar with its public point (Web Crypto wants both, as JWK). */
function importPrivate(scalar, publicKey) {
  const jwk = {
    kty: "EC", crv: "P-256", ext: true, d: b64encode(scalar),
    x: b64encode(publicKey.subarray(1, 33)), y: b64encode(publicKey.subarray(33, 65)),
  };
  return subtle.importKey("jwk", jwk, P256, false, ["deriveBits"]);
}

async function importPublic(point) {
  if (point.length !== PUBLIC_KEY_BYTES || point[0] !== 0x04) throw new DecryptionFailed();
  try {
    return await subtle.importKey("raw", point, P256, false, []);
  } catch {
    throw new DecryptionFailed();
  }
}

/** A fresh P-256 pair as {publicKey: 65 bytes, scalar: 32 bytes}. */
async function newPair() {
  const pair = await subtle.generateKey(P256, true, ["deriveBits"]);
  const publicKey = new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
  const scalar = b64decode((await subtle.exportKey("jwk", pair.privateKey)).d);
  return { publicKey, scalar };
}

/**
 * The sender's reply key pair: {publicKey, wrappedPrivateKey}.
 * receiptKey: the 32-byte secret of the receipt link's fragment.
 * fixed: {scalar, publicKey, nonce} only in the test vectors; a fresh pair otherwise.
 */
export async function newReplyKeys(receiptKey, fixed = null) {
  const pair = fixed ?? (await newPair());
  const nonce = fixed?.nonce ?? randomBytes(NONCE_BYTES);
  const wrapped = await seal(await replyWrapKey(receiptKey), pair.scalar, nonce);
  return { publicKey: pair.publicKey, wrappedPrivateKey: wrapped };
}

async function replyContentKey(privateKey, otherPublic, ephemeral, recipient) {
  const shared = new Uint8Array(await subtle.deriveBits(
    { name: "ECDH", public: otherPublic }, privateKey, 256));
  return hkdf(shared, concat(INFO_REPLY_KEY, ephemeral, recipient));
}

/**
 * Encrypt to the sender: ephemeral public key (65 bytes) || sealed envelope.
 * publicKey: the sender's 65-byte point; plaintext: the packed reply.
 * fixed: {scalar, publicKey, nonce} of the ephemeral pair, only in the test vectors.
 */
export async function sealReply(publicKey, plaintext, fixed = null) {
  const recipient = await importPublic(publicKey);
  const pair = fixed ?? (await newPair());
  const privateKey = await importPrivate(pair.scalar, pair.publicKey);
  const key = await replyContentKey(privateKey, recipient, pair.publicKey, publicKey);
  const nonce = fixed?.nonce ?? randomBytes(NONCE_BYTES);
  return concat(pair.publicKey, await seal(key, plaintext, nonce));
}

/** The sender's private scalar; a wrong receipt key throws DecryptionFailed. */
export async function unwrapReplyKey(receiptKey, wrappedPrivateKey) {
  const scalar = await unseal(await replyWrapKey(receiptKey), wrappedPrivateKey);
  if (scalar.length !== PRIVATE_KEY_BYTES) throw new DecryptionFailed();
  return scalar;
}

/** Decrypt what sealReply made, with the sender's private scalar and public key. */
export async function openReply(scalar, publicKey, blob) {
  if (blob.length < PUBLIC_KEY_BYTES + ENVELOPE_OVERHEAD) throw new DecryptionFailed();
  const ephemeral = blob.subarray(0, PUBLIC_KEY_BYTES);
  let privateKey;
  try {
    privateKey = await importPrivate(scalar, publicKey);
  } catch {
    throw new DecryptionFailed();
  }
  const key = await replyContentKey(privateKey, await importPublic(ephemeral), ephemeral,
    publicKey);
  return unseal(key, blob.subarray(PUBLIC_KEY_BYTES));
}
