"""The container cases of plaintext_v1.json, as plaintext bytes for either implementation."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from mayfly.crypto import b64decode

CASES = json.loads(
    (Path(__file__).parent / "plaintext_v1.json").read_text(encoding="utf-8"))["cases"]


def plaintext(case: dict) -> bytes:
    """Length prefix, header and the bytes after it (or the case's whole plaintext)."""
    if "plaintext" in case:
        return b64decode(case["plaintext"])
    header = case["header"].encode("utf-8")
    return struct.pack(">I", len(header)) + header + b64decode(case["after"])
