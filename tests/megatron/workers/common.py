"""Shared pieces of the torchrun workers: fixed text pairs and a model builder."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # repo root: nemo_drift and tests.distributed

PROMPTS = [
    "Explain why the sky is blue in one sentence.",
    "Write a haiku about autumn rain.",
]
CHOSEN = [
    " Sunlight scatters off air molecules, and blue light scatters the most.",
    " Soft rain on red leaves, the quiet garden listens, autumn breathes slowly.",
]
REJECTED = [
    " Because it reflects the ocean.",
    " Rain.",
]


@dataclass
class Pair:
    """A TokenizedPair look-alike: prompt and response-only token ids."""

    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]


def text_pairs(tokenizer) -> list[Pair]:
    """Real-text pairs tokenised with the model's own tokenizer."""
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    return [Pair(enc(p), enc(c), enc(r)) for p, c, r in zip(PROMPTS, CHOSEN, REJECTED)]
