// The JSON API (/api/v1) as the pages use it; every failure becomes an ApiError.
import { b64encodedLength, b64encodeInto } from "./crypto.js";

/** Why a call failed: kind is one of the names below, for the page to explain. */
export class ApiError extends Error {
  constructor(kind, { status = 0, problem = {}, retryAfter = 0 } = {}) {
    super(problem.detail || problem.title || kind);
    this.name = "ApiError";
    // gone | wrong-passphrase | no-replies-left | already-answered | forbidden | too-large |
    // rate-limited | unreachable | unavailable | refused | server
    this.kind = kind;
    this.status = status;
    this.problem = problem;
    // Seconds to wait before trying again (Retry-After of a 429 or 503), 0 if not said.
    this.retryAfter = retryAfter;
  }
}

// The API's base path, from the page (right even when mayfly lives under a prefix).
const BASE = document.body.dataset.api || "/api/v1/secrets";
// Requests live beside secrets: /api/v1/requests.
const REQUESTS = BASE.replace(/secrets$/, "requests");

function kindOf(status, problem) {
  const type = String(problem.type || "");
  if (status === 404) return "gone";
  if (type.endsWith("/wrong-passphrase")) return "wrong-passphrase";
  if (type.endsWith("/no-replies-left")) return "no-replies-left";
  if (type.endsWith("/already-answered")) return "already-answered";
  if (status === 403) return "forbidden";
  if (status === 401) return "forbidden";
  if (status === 413) return "too-large";
  if (status === 429) return "rate-limited";
  if (status === 503) return "unavailable";
  if (status >= 500) return "server";
  return "refused";
}

/**
 * JSON.stringify({...fields, [name]: base64url(bytes)}) as a Blob of three parts,
 * made without that string: the ciphertext's base64url is written as ASCII bytes.
 * A 10 MiB attachment as one string, then its JSON, then fetch's UTF-8 copy of
 * it cost more than the encryption (garbage collection above all); a Blob body
 * also spares fetch() the long copy of a typed array on the page's thread.
 */
export function jsonWithBase64(fields, name, bytes) {
  const open = JSON.stringify(fields).slice(0, -1);
  const head = `${open}${open === "{" ? "" : ","}${JSON.stringify(name)}:"`;
  const ascii = new Uint8Array(b64encodedLength(bytes.length));
  b64encodeInto(bytes, ascii);
  return new Blob([head, ascii, '"}'], { type: "application/json" });
}

/** The response of a request that succeeded (or was not modified); any failure is an ApiError. */
async function send(method, path,
  { json = undefined, body = undefined, token = undefined, base = BASE, extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (json !== undefined || body !== undefined) headers["Content-Type"] = "application/json";
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(base + path, {
      method, headers, cache: "no-store", credentials: "same-origin", redirect: "error",
      body: json === undefined ? body : JSON.stringify(json),
    });
  } catch {
    throw new ApiError("unreachable");
  }
  if (response.ok || response.status === 304) return response;
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    // Not problem+json (a proxy's error page): the status says enough.
  }
  const retryAfter = Math.max(0, Math.ceil(Number(response.headers.get("Retry-After")) || 0));
  throw new ApiError(kindOf(response.status, problem || {}),
    { status: response.status, problem, retryAfter });
}

async function call(method, path, options = {}) {
  const response = await send(method, path, options);
  return response.status === 204 ? null : response.json();
}

const one = (id) => `/${encodeURIComponent(id)}`;

/**
 * Store a sealed secret: fields {link_proof_hash, access_proof_hash, kdf, expires_in,
 * max_views, reply_key, notify_email?} and the ciphertext's bytes (sent in base64url).
 */
export const createSecret = (fields, ciphertext) =>
  call("POST", "", { body: jsonWithBase64(fields, "ciphertext", ciphertext) });
/** A live secret's metadata (never spends a view). */
export const secretMetadata = (id) => call("GET", one(id));
/** Spend one view: both proofs in base64url; answers {ciphertext, views_left}. */
export const revealSecret = (id, linkProof, accessProof) =>
  call("POST", `${one(id)}/reveal`, { json: { link_proof: linkProof, access_proof: accessProof } });
/** The sender's receipt, with the manage token. */
export const getReceipt = (id, token) => call("GET", `${one(id)}/receipt`, { token });
/**
 * The receipt if it changed since the ETag `tag` ("" for the first look): {receipt, tag}; or
 * null while it has not (a 304 without a body). The token goes in the header, as above.
 */
export async function receiptSince(id, token, tag) {
  const response = await send("GET", `${one(id)}/receipt`,
    { token, extra: tag ? { "If-None-Match": tag } : {} });
  if (response.status === 304) return null;
  return { receipt: await response.json(), tag: response.headers.get("ETag") || "" };
}
/** Burn early, with the manage token. */
export const burnSecret = (id, token) => call("DELETE", one(id), { token });
/** Post a reply to the sender: the link proof (base64url) and the reply's ciphertext bytes. */
export const postReply = (id, linkProof, ciphertext) => call("POST", `${one(id)}/replies`,
  { body: jsonWithBase64({ link_proof: linkProof }, "ciphertext", ciphertext) });
/** Read a reply once, with the manage token; answers {ciphertext}. */
export const revealReply = (id, number, token) =>
  call("POST", `${one(id)}/replies/${Number(number)}/reveal`, { token });

/** Store a request: a sealed note, proof hashes, kdf, expires_in and the reply key (required). */
export const createRequest = (body) => call("POST", "", { json: body, base: REQUESTS });
/** A live request's metadata: whether a passphrase is needed (changes nothing). */
export const requestMetadata = (id) => call("GET", one(id), { base: REQUESTS });
/** The sealed note and the key to answer to, given both proofs; uses nothing up. */
export const openRequest = (id, linkProof, accessProof) => call("POST", `${one(id)}/open`,
  { json: { link_proof: linkProof, access_proof: accessProof }, base: REQUESTS });
/**
 * Post the one answer: both proofs (base64url) and the sealed answer's bytes;
 * "already-answered" if someone was first.
 */
export const answerRequest = (id, linkProof, accessProof, ciphertext) => call("POST",
  `${one(id)}/answer`, { base: REQUESTS, body: jsonWithBase64(
    { link_proof: linkProof, access_proof: accessProof }, "ciphertext", ciphertext) });
