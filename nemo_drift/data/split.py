"""Deterministic train/held-out split by a hash of the conversation id.

Hashing the id (not the row position) means adding, removing or reordering input never moves an
existing conversation to the other split, and every record of one conversation lands on one side.
"""
from __future__ import annotations

import hashlib

TRAIN = "train"
HELDOUT = "heldout"


def split_of(conversation_id: str, heldout_fraction: float, seed: int = 42) -> str:
    """"heldout" for a ``heldout_fraction`` share of ids (uniform in the hash), else "train"."""
    digest = hashlib.sha256(f"{seed}:{conversation_id}".encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return HELDOUT if position < heldout_fraction else TRAIN
