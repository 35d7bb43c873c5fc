// Opening a reply to a receipt: the receipt page's replies and the answer link's answer.
import { revealReply } from "./api.js";
import { b64decode, KEY_BYTES, openReply, unpack, unwrapReplyKey } from "./crypto.js";
import { el } from "./dom.js";
import { formatBytes, t } from "./i18n.js";

/** The 32-byte receipt key written in a fragment (`text`), or null. */
export function receiptKey(text) {
  try {
    const key = b64decode(text);
    return key.length === KEY_BYTES ? key : null;
  } catch {
    return null;
  }
}

/**
 * Take reply `number` of `id` (it burns on the server) and decrypt it here: the receipt's
 * wrapped private key is unwrapped with `key`. Returns the message {text, files}.
 */
export async function takeReply(receipt, id, number, token, key) {
  const publicKey = b64decode(receipt.reply_key.public_key);
  const scalar = await unwrapReplyKey(key, b64decode(receipt.reply_key.wrapped_private_key));
  const revealed = await revealReply(id, number, token);
  return unpack(await openReply(scalar, publicKey, b64decode(revealed.ciphertext)));
}

/** A list item to save one attached file, marked with `testid`. */
export function download(file, testid) {
  // Bytes to save, never a page (as in read.js): the replier's type is only a label.
  const url = URL.createObjectURL(new Blob([file.data], { type: "application/octet-stream" }));
  return el("li", { testid },
    el("span", { class: "name", textContent: file.name }),
    el("span", { class: "muted", textContent: formatBytes(file.data.length) }),
    el("a", { href: url, download: file.name, class: "button secondary",
      textContent: t("download") }));
}
