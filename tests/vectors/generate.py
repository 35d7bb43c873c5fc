"""Regenerate protocol_v1.json from fixed inputs (run by hand when the protocol changes).

The vectors are the specification in numbers: test_crypto.py re-derives them
with the standard library alone, and the browser's crypto.js must match them.
"""

import json
from pathlib import Path

from mayfly import crypto

b64 = crypto.b64encode

CASES = [
    {
        "name": "text, no passphrase",
        "link_key": bytes(range(32)),
        "passphrase": None,
        "salt": None,
        "nonce": bytes(range(100, 112)),
        "text": "hello, mayfly",
        "files": [],
    },
    {
        "name": "text with a passphrase",
        "link_key": bytes(range(255, 223, -1)),
        "passphrase": "correct horse battery staple 马",
        "salt": bytes(range(16)),
        "nonce": bytes(12),
        "text": "阅后即焚: burn after reading",
        "files": [],
    },
    {
        "name": "attachments, passphrase in decomposed Unicode (NFC-normalised)",
        "link_key": bytes([7] * 32),
        "passphrase": "cafe\u0301",
        "salt": bytes([9] * 16),
        "nonce": bytes([1] * 12),
        "text": "",
        "files": [("a.txt", "text/plain", b"abc"),
                  ("空 <b>.bin", "application/octet-stream", bytes(range(256)))],
    },
]


def vector(case: dict) -> dict:
    kdf = crypto.Kdf(case["salt"]) if case["salt"] else None
    keys = crypto.derive_keys(case["link_key"], case["passphrase"], kdf)
    files = tuple(crypto.Attachment(n, t, d) for n, t, d in case["files"])
    plaintext = crypto.pack(crypto.Message(case["text"], files))
    return {
        "name": case["name"],
        "input": {
            "link_key": b64(case["link_key"]),
            "passphrase": case["passphrase"],
            "kdf": kdf.to_json() if kdf else None,
            "nonce": b64(case["nonce"]),
            "message": {
                "text": case["text"],
                "files": [{"name": n, "type": t, "data": b64(d)} for n, t, d in case["files"]],
            },
        },
        "expected": {
            "link_proof": b64(keys.link_proof),
            "access_proof": b64(keys.access_proof),
            "link_proof_hash": b64(crypto.proof_hash(keys.link_proof)),
            "access_proof_hash": b64(crypto.proof_hash(keys.access_proof)),
            "content_key": b64(keys.content_key),
            "plaintext": b64(plaintext),
            "ciphertext": b64(crypto.seal(keys.content_key, plaintext, case["nonce"])),
        },
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("protocol_v1.json")
    document = {"protocol": "mayfly/v1", "vectors": [vector(c) for c in CASES]}
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
