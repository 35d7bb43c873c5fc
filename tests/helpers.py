"""Helpers for API tests: secrets made with random proofs, as a client would send them."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from mayfly.crypto import b64encode

KDF = {"name": "PBKDF2-HMAC-SHA256", "salt": b64encode(bytes(16)), "iterations": 600_000}


@dataclass
class Made:
    """A secret created through the API, with what its sender and reader know."""

    id: str
    token: str
    link_proof: bytes
    access_proof: bytes
    ciphertext: bytes
    response: dict

    def proofs(self, link: bytes | None = None, access: bytes | None = None) -> dict:
        """The reveal body, optionally with a wrong proof."""
        return {"link_proof": b64encode(link or self.link_proof),
                "access_proof": b64encode(access or self.access_proof)}

    def auth(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.token}"}


def create_body(ciphertext: bytes, link_proof: bytes, access_proof: bytes, **fields) -> dict:
    return {
        "ciphertext": b64encode(ciphertext),
        "link_proof_hash": b64encode(hashlib.sha256(link_proof).digest()),
        "access_proof_hash": b64encode(hashlib.sha256(access_proof).digest()),
        "kdf": None,
        **fields,
    }


def make_secret(client, size: int = 64, base: str = "", **fields) -> Made:
    """Create a secret through a Flask test client, or a requests session given the ``base`` URL.

    Only what both kinds of response share is used: ``status_code`` and ``text``.
    """
    ciphertext = b"\x01" + os.urandom(size)
    link_proof, access_proof = os.urandom(32), os.urandom(32)
    response = client.post(f"{base}/api/v1/secrets",
                           json=create_body(ciphertext, link_proof, access_proof, **fields))
    assert response.status_code == 201, response.text
    body = json.loads(response.text)
    return Made(body["id"], body["manage_token"], link_proof, access_proof, ciphertext, body)
