// The same Web Crypto calls as crypto.js, for trees without it: see bench/browser.py.
(async ({size, reps}) => {
  const subtle = crypto.subtle, te = new TextEncoder();
  const random = (n) => { const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 65536) crypto.getRandomValues(out.subarray(o, Math.min(o + 65536, n)));
    return out; };
  const b64 = (bytes) => { let s = "";
    for (let o = 0; o < bytes.length; o += 32768) s += String.fromCharCode(...bytes.subarray(o, o + 32768));
    return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""); };
  const unb64 = (t) => { const s = atob(t.replaceAll("-", "+").replaceAll("_", "/"));
    const out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out; };
  const contentKey = async (linkKey) => {
    const ikm = await subtle.importKey("raw", linkKey, "HKDF", false, ["deriveBits"]);
    const bits = await subtle.deriveBits({name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0),
      info: te.encode("mayfly/v1 content key")}, ikm, 256);
    return bits; };
  const aes = (raw, use) => subtle.importKey("raw", raw, "AES-GCM", false, [use]);
  const aad = te.encode("mayfly/v1");
  const plain = random(size);
  let text = null, linkKey = null;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    linkKey = random(32);
    const nonce = random(12);
    const key = await aes(await contentKey(linkKey), "encrypt");
    const body = new Uint8Array(await subtle.encrypt({name: "AES-GCM", iv: nonce, additionalData: aad}, key, plain));
    const blob = new Uint8Array(13 + body.length); blob[0] = 1; blob.set(nonce, 1); blob.set(body, 13);
    text = b64(blob);
  }
  const t1 = performance.now();
  let back = null;
  for (let i = 0; i < reps; i++) {
    const blob = unb64(text);
    const key = await aes(await contentKey(linkKey), "decrypt");
    back = new Uint8Array(await subtle.decrypt({name: "AES-GCM", iv: blob.subarray(1, 13), additionalData: aad}, key, blob.subarray(13)));
  }
  const t2 = performance.now();
  if (back.length !== size) throw new Error("round trip failed");
  return {encrypt: (t1 - t0) / reps, decrypt: (t2 - t1) / reps};
})
