"""Stable hashes: the same input gives the same number on every machine and run (Python's hash() does
not), so a record's split, its row kind and its question phrasing never depend on anything else."""
from __future__ import annotations

import hashlib


def digest8(data: bytes, key: bytes = b"") -> bytes:
    """8 bytes of BLAKE2b of `data` (keyed by `key`): a compact identity, or a source of a number."""
    return hashlib.blake2b(data, digest_size=8, key=key).digest()


def unit_hash(*parts: str, key: str = "") -> float:
    """A number in [0, 1) fixed by `parts` (joined by the unit separator) and `key`."""
    data = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(digest8(data, key.encode()), "big") / 2**64
