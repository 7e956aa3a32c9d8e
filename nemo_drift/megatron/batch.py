"""Turn preference pairs into one padded batch: chosen sequences first, then rejected ones.

One forward pass over [chosen; rejected] gives both sides' log-probs (the DPO loss needs both) with
one set of weights reads. Layout, for B pairs padded to S positions:

    tokens    [2B, S]  rows 0..B-1 = prompt_i + chosen_i, rows B..2B-1 = prompt_i + rejected_i, right-padded
    labels    [2B, S]  tokens shifted left by one (labels[:, t] = tokens[:, t+1]); pad at the end
    loss_mask [2B, S]  1.0 where labels[:, t] is a response token, else 0.0
    position_ids [2B, S] 0..S-1 (causal attention + right padding: pads never influence real tokens)
"""
from __future__ import annotations

from typing import Protocol, Sequence

import torch


class PairLike(Protocol):
    """What collate_pairs reads from a pair (the data layer's TokenizedPair has these fields)."""

    prompt_ids: Sequence[int]
    chosen_ids: Sequence[int]
    rejected_ids: Sequence[int]


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _fit(prompt: Sequence[int], response: Sequence[int], seq_length: int, index: int) -> tuple[list[int], int]:
    """prompt + response cut to seq_length (response tail dropped); returns (ids, prompt length)."""
    if len(prompt) >= seq_length:
        raise ValueError(f"pair {index}: prompt has {len(prompt)} tokens, not less than model.seq_length "
                         f"{seq_length}; raise model.seq_length or shorten prompts in the data settings")
    ids = list(prompt) + list(response)
    return ids[:seq_length], len(prompt)


def collate_pairs(pairs: Sequence[PairLike], pad_id: int, seq_length: int,
                  pad_to_multiple_of: int = 8) -> dict[str, torch.Tensor]:
    """Pad B pairs into a [2B, S] batch (see module docstring); S = longest row rounded up to
    `pad_to_multiple_of` (8 keeps S divisible by TP / 2*CP sizes up to 8), at most `seq_length`.

    Sequences longer than seq_length lose the end of their response (the prompt is never cut).
    """
    if not pairs:
        raise ValueError("collate_pairs needs at least one pair")
    rows: list[tuple[list[int], int, int]] = []  # (ids, prompt_len, response_len_after_cut)
    for side in ("chosen_ids", "rejected_ids"):
        for i, pair in enumerate(pairs):
            ids, prompt_len = _fit(pair.prompt_ids, getattr(pair, side), seq_length, i)
            rows.append((ids, prompt_len, len(ids) - prompt_len))
    longest = max(len(ids) for ids, _, _ in rows)
    width = min(_round_up(longest, pad_to_multiple_of), max(seq_length, longest))
    n = len(rows)
    tokens = torch.full((n, width), pad_id, dtype=torch.long)
    loss_mask = torch.zeros((n, width), dtype=torch.float32)
    for r, (ids, prompt_len, response_len) in enumerate(rows):
        tokens[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        # label position t predicts token t+1: response tokens sit at [prompt_len, prompt_len+response_len)
        loss_mask[r, prompt_len - 1 : prompt_len - 1 + response_len] = 1.0 if prompt_len > 0 else 0.0
        if prompt_len == 0:  # no token predicts the first response token; the rest are still scored
            loss_mask[r, : max(response_len - 1, 0)] = 1.0
    labels = torch.full_like(tokens, pad_id)
    labels[:, :-1] = tokens[:, 1:]  # [2B, S]: labels[:, t] = tokens[:, t+1]
    position_ids = torch.arange(width, dtype=torch.long).unsqueeze(0).expand(n, width).contiguous()  # [2B, S]
    return {"tokens": tokens, "labels": labels, "loss_mask": loss_mask, "position_ids": position_ids}


def split_chosen_rejected(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[2B, ...] -> ([B, ...] chosen, [B, ...] rejected), matching collate_pairs' row order."""
    half = values.shape[0] // 2
    return values[:half], values[half:]
