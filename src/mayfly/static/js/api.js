// The JSON API (/api/v1) as the pages use it; every failure becomes an ApiError.

/** Why a call failed: kind is one of the names below, for the page to explain. */
export class ApiError extends Error {
  constructor(kind, { status = 0, problem = {}, retryAfter = 0 } = {}) {
    super(problem.detail || problem.title || kind);
    this.name = "ApiError";
    // gone | wrong-passphrase | no-replies-left | forbidden | too-large | rate-limited |
    // unreachable | unavailable | refused | server
    this.kind = kind;
    this.status = status;
    this.problem = problem;
    // Seconds to wait before trying again (Retry-After of a 429 or 503), 0 if not said.
    this.retryAfter = retryAfter;
  }
}

// The API's base path, from the page (right even when mayfly lives under a prefix).
const BASE = document.body.dataset.api || "/api/v1/secrets";

function kindOf(status, problem) {
  const type = String(problem.type || "");
  if (status === 404) return "gone";
  if (type.endsWith("/wrong-passphrase")) return "wrong-passphrase";
  if (type.endsWith("/no-replies-left")) return "no-replies-left";
  if (status === 403) return "forbidden";
  if (status === 401) return "forbidden";
  if (status === 413) return "too-large";
  if (status === 429) return "rate-limited";
  if (status === 503) return "unavailable";
  if (status >= 500) return "server";
  return "refused";
}

/** The response of a request that succeeded (or was not modified); any failure is an ApiError. */
async function send(method, path, { json = undefined, token = undefined, extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(BASE + path, {
      method, headers, cache: "no-store", credentials: "same-origin", redirect: "error",
      body: json === undefined ? undefined : JSON.stringify(json),
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

/** Store a sealed secret: {ciphertext, link_proof_hash, access_proof_hash, kdf, expires_in, max_views}. */
export const createSecret = (body) => call("POST", "", { json: body });
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
/** Post a reply to the sender: the link proof and the reply's ciphertext, base64url. */
export const postReply = (id, linkProof, ciphertext) =>
  call("POST", `${one(id)}/replies`, { json: { link_proof: linkProof, ciphertext } });
/** Read a reply once, with the manage token; answers {ciphertext}. */
export const revealReply = (id, number, token) =>
  call("POST", `${one(id)}/replies/${Number(number)}/reveal`, { token });
