// The JSON API (/api/v1) as the pages use it; every failure becomes an ApiError.

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

async function call(method, path, { json = undefined, token = undefined, base = BASE } = {}) {
  const headers = { Accept: "application/json" };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(base + path, {
      method, headers, cache: "no-store", credentials: "same-origin", redirect: "error",
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  } catch {
    throw new ApiError("unreachable");
  }
  if (response.ok) return response.status === 204 ? null : response.json();
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
/** Burn early, with the manage token. */
export const burnSecret = (id, token) => call("DELETE", one(id), { token });
/** Post a reply to the sender: the link proof and the reply's ciphertext, base64url. */
export const postReply = (id, linkProof, ciphertext) =>
  call("POST", `${one(id)}/replies`, { json: { link_proof: linkProof, ciphertext } });
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
/** Post the one answer, sealed to the asker; "already-answered" if someone was first. */
export const answerRequest = (id, linkProof, accessProof, ciphertext) => call("POST",
  `${one(id)}/answer`,
  { json: { link_proof: linkProof, access_proof: accessProof, ciphertext }, base: REQUESTS });
