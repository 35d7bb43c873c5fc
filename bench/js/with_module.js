// Time the pages' own crypto.js: see bench/browser.py.
(async ({size, reps, url}) => {
  const m = await import(url);
  const plain = m.randomBytes(size);
  let text = null, linkKey = null;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    linkKey = m.newLinkKey();
    const keys = await m.deriveKeys(linkKey);
    text = m.b64encode(await m.seal(keys.contentKey, plain));
  }
  const t1 = performance.now();
  let back = null;
  for (let i = 0; i < reps; i++) {
    const keys = await m.deriveKeys(linkKey);
    back = await m.unseal(keys.contentKey, m.b64decode(text));
  }
  const t2 = performance.now();
  if (back.length !== size) throw new Error("round trip failed");
  return {encrypt: (t1 - t0) / reps, decrypt: (t2 - t1) / reps};
})
