"""Turn preference pairs into one padded batch: chosen sequences first, then rejected ones.

One forward pass over [chosen; rejected] gives both sides' log-probs (the DPO loss needs both) with
one set of weights reads. Layout, for B pairs padded to S positions:

    tokens    [2B, S]  rows 0..B-1 = prompt_i + chosen_i, rows B..2B-1 = prompt_i + rejected_i, right-padded
    labels    [2B, S]  tokens shifted left by one (labels[:, t] = tokens[:, t+1]); pad at the end
    loss_mask [2B, S]  1.0 where labels[:, t] is a response token, else 0.0
    position_ids [2B, S] 0..S-1 (causal attention + right padding: pads never influence real tokens)

`collate_packed` puts the same 2B sequences into ONE row instead (THD layout for megatron's
PackedSeqParams), in the same order: chosen of pair i at output slot i, rejected at slot B + i, so
everything that splits [2B] into chosen / rejected halves works unchanged. Per-sequence sums come
from `sequence_sums` for either layout; `packed_seq_params` hands the row's boundaries to the model.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Protocol, Sequence

import torch

if TYPE_CHECKING:
    from megatron.core.packed_seq_params import PackedSeqParams


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


def _label_span(prompt_len: int, length: int) -> tuple[int, int]:
    """[start, end) of the label positions of one sequence that score its response tokens.

    Position t predicts token t+1, so the response [prompt_len, length) is scored from
    [prompt_len - 1, length - 1); with no prompt nothing predicts the first response token and the
    span starts at 0 (collate_pairs' rule). The last position (its label belongs to whatever follows)
    is never in the span.
    """
    return max(prompt_len - 1, 0), max(length - 1, 0)


def _packed_width(content: int, row_length: Optional[int], pad_to_multiple_of: int) -> int:
    if row_length is None:
        return _round_up(max(content, 1), pad_to_multiple_of)
    if content > row_length:
        raise ValueError(f"packed row needs {content} tokens but row_length is {row_length}; pack fewer pairs "
                         f"per row or raise the row length (micro_batch_size x 2 x model.seq_length)")
    return row_length


def collate_packed(pairs: Sequence[PairLike], pad_id: int, seq_length: int, row_length: Optional[int] = None,
                   pad_to_multiple_of: int = 8) -> dict[str, torch.Tensor | int]:
    """Pack B pairs (in the given order) into ONE row of W tokens: chosen_0..chosen_{B-1},
    rejected_0..rejected_{B-1}, then padding. Each side is cut to seq_length as in collate_pairs.

        tokens, labels  [1, W] long   labels[0, t] = tokens[0, t+1] within the row (pad at the end); the
                                      label of a sequence's last position is the next sequence's first
                                      token and is never under the loss mask
        loss_mask       [1, W] float  1.0 where the label is a response token of the same sequence
        position_ids    [1, W] long   0, 1, ... restarting at each sequence; 0 on the padding tail (keeps
                                      every id below seq_length, as learned position tables need)
        seq_index       [1, W] long   output slot (0..2B-1) of the sequence whose response the label
                                      scores; -1 off the loss mask
        cu_seqlens      [n + 1] int32 segment offsets: one segment per sequence, plus the padding tail
                                      (when W exceeds the content) as a final segment, so [-1] == W
        max_seqlen      int           longest segment (sequence or padding tail), not W (see
                                      packed_seq_params)
        num_sequences   int           2B

    W = `row_length` when given (a fixed shape, as pipeline parallelism needs; ValueError if the
    content does not fit), else the content length rounded up to `pad_to_multiple_of`.
    """
    if not pairs:
        raise ValueError("collate_packed needs at least one pair")
    seqs = [_fit(pair.prompt_ids, getattr(pair, side), seq_length, i)
            for side in ("chosen_ids", "rejected_ids") for i, pair in enumerate(pairs)]
    lengths = [len(ids) for ids, _ in seqs]
    content = sum(lengths)
    width = _packed_width(content, row_length, pad_to_multiple_of)
    tokens = torch.full((1, width), pad_id, dtype=torch.long)
    tokens[0, :content] = torch.tensor([t for ids, _ in seqs for t in ids], dtype=torch.long)
    loss_mask = torch.zeros((1, width), dtype=torch.float32)
    seq_index = torch.full((1, width), -1, dtype=torch.long)
    position_ids = torch.zeros((1, width), dtype=torch.long)
    start = 0
    for slot, (ids, prompt_len) in enumerate(seqs):
        lo, hi = _label_span(prompt_len, len(ids))
        loss_mask[0, start + lo : start + hi] = 1.0
        seq_index[0, start + lo : start + hi] = slot
        position_ids[0, start : start + len(ids)] = torch.arange(len(ids))
        start += len(ids)
    labels = torch.full_like(tokens, pad_id)
    labels[:, :-1] = tokens[:, 1:]  # [1, W]: labels[0, t] = tokens[0, t+1]
    segments = lengths + ([width - content] if width > content else [])
    cu_seqlens = torch.tensor([0] + segments, dtype=torch.int32).cumsum(0, dtype=torch.int32)  # [n + 1]
    return {"tokens": tokens, "labels": labels, "loss_mask": loss_mask, "position_ids": position_ids,
            "seq_index": seq_index, "cu_seqlens": cu_seqlens, "max_seqlen": max(segments),
            "num_sequences": len(seqs)}


def is_packed(batch: dict) -> bool:
    """True for a collate_packed batch (it carries per-position output slots)."""
    return "seq_index" in batch


def sequence_sums(token_logps: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of masked log-probs [2B], response tokens [2B]) in output-slot order, for either layout.

    Padded batch (collate_pairs): row sums, the same arithmetic as logprobs.sum_by_sequence.
    Packed batch (collate_packed): each masked position adds into its sequence's slot (index_add, so
    gradients flow back to exactly the masked positions of token_logps [1, W]).
    """
    mask = batch["loss_mask"]
    if not is_packed(batch):
        return (token_logps * mask).sum(dim=1), mask.sum(dim=1)
    n = int(batch["num_sequences"])
    slots = batch["seq_index"].reshape(-1)
    slots = torch.where(slots < 0, n, slots)  # [W]; off-mask positions go to slot n, dropped below
    masked = (token_logps * mask).reshape(-1)  # [W]
    sums = masked.new_zeros(n + 1).index_add(0, slots, masked)
    counts = mask.new_zeros(n + 1).index_add(0, slots, mask.reshape(-1))
    return sums[:n], counts[:n]


def packed_seq_params(batch: dict) -> Optional["PackedSeqParams"]:
    """megatron's PackedSeqParams ('thd') for a packed batch, None for a padded one.

    cu_seqlens_q = cu_seqlens_kv = the row's segment offsets (int32, on the tokens' device);
    max_seqlen_q = max_seqlen_kv = the longest segment, which is also the length of the RoPE table
    megatron builds: the row length there would make its THD RoPE use row-global offsets instead of
    restarting at each sequence. The *_padded fields stay None: the segments already cover every
    token, and only context parallelism needs per-sequence padding.
    """
    if not is_packed(batch):
        return None
    from megatron.core.packed_seq_params import PackedSeqParams

    cu_seqlens = batch["cu_seqlens"].to(device=batch["tokens"].device, dtype=torch.int32)
    max_seqlen = int(batch["max_seqlen"])
    return PackedSeqParams(qkv_format="thd", cu_seqlens_q=cu_seqlens, cu_seqlens_kv=cu_seqlens,
                           max_seqlen_q=max_seqlen, max_seqlen_kv=max_seqlen)
