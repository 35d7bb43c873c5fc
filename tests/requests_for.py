"""Request bodies for the API, made cheaply (no real encryption) for load and outage tests."""

from __future__ import annotations

import os

from mayfly import crypto


def new_secret(max_views: int = 1, expires_in: int | None = None) -> tuple[dict, dict]:
    """A create body and the reveal body that goes with it."""
    link_proof, access_proof = os.urandom(32), os.urandom(32)
    create = {
        # Only the envelope's shape is checked by the server: version, nonce, tag.
        "ciphertext": crypto.b64encode(crypto.ENVELOPE_VERSION + os.urandom(60)),
        "link_proof_hash": crypto.b64encode(crypto.proof_hash(link_proof)),
        "access_proof_hash": crypto.b64encode(crypto.proof_hash(access_proof)),
        "kdf": None,
        "max_views": max_views,
    }
    if expires_in is not None:
        create["expires_in"] = expires_in
    reveal = {"link_proof": crypto.b64encode(link_proof),
              "access_proof": crypto.b64encode(access_proof)}
    return create, reveal
