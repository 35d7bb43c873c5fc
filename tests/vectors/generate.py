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


REPLY_CASES = [
    {
        "name": "a text reply",
        "receipt_key": bytes(range(64, 96)),
        "sender_scalar": bytes(range(1, 33)),
        "wrap_nonce": bytes(range(12)),
        "ephemeral_scalar": bytes(range(33, 65)),
        "nonce": bytes(range(200, 212)),
        "text": "got it, thanks: 收到",
        "files": [],
    },
    {
        "name": "a reply with a file",
        "receipt_key": bytes([0xA5] * 32),
        "sender_scalar": bytes([0x11] * 32),
        "wrap_nonce": bytes([2] * 12),
        "ephemeral_scalar": bytes([0x22] * 32),
        "nonce": bytes([3] * 12),
        "text": "see the file",
        "files": [("reply.txt", "text/plain", b"reply bytes")],
    },
]


def reply_vector(case: dict) -> dict:
    """Every step of a reply: the sender's wrapped key, then the reader's sealed reply."""
    from cryptography.hazmat.primitives.asymmetric import ec

    sender = crypto.new_reply_keys(case["receipt_key"], case["sender_scalar"], case["wrap_nonce"])
    ephemeral = ec.derive_private_key(int.from_bytes(case["ephemeral_scalar"], "big"),
                                      ec.SECP256R1())
    recipient = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender.public_key)
    shared = ephemeral.exchange(ec.ECDH(), recipient)
    files = tuple(crypto.Attachment(n, t, d) for n, t, d in case["files"])
    plaintext = crypto.pack(crypto.Message(case["text"], files))
    blob = crypto.seal_reply(sender.public_key, plaintext, case["ephemeral_scalar"],
                             case["nonce"])
    ephemeral_public = blob[:crypto.PUBLIC_KEY_BYTES]
    return {
        "name": case["name"],
        "input": {
            "receipt_key": b64(case["receipt_key"]),
            "sender_private_key": b64(case["sender_scalar"]),
            "wrap_nonce": b64(case["wrap_nonce"]),
            "ephemeral_private_key": b64(case["ephemeral_scalar"]),
            "nonce": b64(case["nonce"]),
            "message": {
                "text": case["text"],
                "files": [{"name": n, "type": t, "data": b64(d)} for n, t, d in case["files"]],
            },
        },
        "expected": {
            "sender_public_key": b64(sender.public_key),
            "wrap_key": b64(crypto.reply_wrap_key(case["receipt_key"])),
            "wrapped_private_key": b64(sender.wrapped_private_key),
            "ephemeral_public_key": b64(ephemeral_public),
            "shared_secret": b64(shared),
            "reply_key": b64(crypto._reply_content_key(shared, ephemeral_public,
                                                       sender.public_key)),
            "plaintext": b64(plaintext),
            "ciphertext": b64(blob),
        },
    }


# A request is a message (its note, under the request link's key) and one reply (its
# answer, to the requester's key pair): each half is checked as those are.
REQUEST_CASES = [
    {
        "name": "a request answered with a file",
        "note": {"name": "the note", "link_key": bytes(range(32, 64)), "passphrase": None,
                 "salt": None, "nonce": bytes(range(50, 62)),
                 "text": "the staging database password, please", "files": []},
        "answer": {"name": "the answer", "receipt_key": bytes(range(96, 128)),
                   "sender_scalar": bytes(range(2, 34)), "wrap_nonce": bytes(range(20, 32)),
                   "ephemeral_scalar": bytes(range(40, 72)), "nonce": bytes(range(80, 92)),
                   "text": "here it is",
                   "files": [("staging.env", "text/plain", b"DB_PASSWORD=hunter2\n")]},
    },
    {
        "name": "a request with a passphrase",
        "note": {"name": "the note", "link_key": bytes([0x5A] * 32),
                 "passphrase": "询问 passphrase", "salt": bytes(range(16, 32)),
                 "nonce": bytes([4] * 12), "text": "数据库密码?", "files": []},
        "answer": {"name": "the answer", "receipt_key": bytes([0x3C] * 32),
                   "sender_scalar": bytes([0x33] * 32), "wrap_nonce": bytes([5] * 12),
                   "ephemeral_scalar": bytes([0x44] * 32), "nonce": bytes([6] * 12),
                   "text": "密码是 hunter2", "files": []},
    },
]


def request_vector(case: dict) -> dict:
    """A request: the note sealed as a message, the answer sealed as a reply."""
    return {"name": case["name"], "note": vector(case["note"]),
            "answer": reply_vector(case["answer"])}


if __name__ == "__main__":
    out = Path(__file__).with_name("protocol_v1.json")
    document = {"protocol": "mayfly/v1", "vectors": [vector(c) for c in CASES],
                "reply_vectors": [reply_vector(c) for c in REPLY_CASES],
                "request_vectors": [request_vector(c) for c in REQUEST_CASES]}
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
