"""Place preference pairs into packed rows: first-fit-decreasing on pair length.

What: `pack_pairs` groups pairs into rows of at most `capacity` tokens, each pair whole (its chosen
and its rejected sequence always share a row, so one forward pass over a row gives both sides of
every DPO term it holds). `pair_length` is the tokens a pair takes in a row; `PackingStats` says how
much of the rows' tokens are real.

Why: chat data is heavy-tailed. Padding every sequence of a micro-batch to its longest one spends
most of the compute on pad tokens when one long reply sits beside several short ones (padding waste
of 50-70% is the usual estimate for chat data). Packing concatenates sequences into one row instead,
and the attention is confined to each sequence, so the same token budget carries more pairs.

Invariants of `pack_pairs(lengths, capacity)`:
- every index of `lengths` appears in exactly one row;
- the lengths of a row's indices sum to at most `capacity`;
- the result depends only on (lengths, capacity): pairs are taken longest first, equal lengths in
  input order, and each goes to the first row (in creation order) with room left, else a new row;
  a row lists its indices in that placement order.
First-fit-decreasing never uses more than 11/9 OPT + 6/9 rows (Dosa 2007).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence


def pair_length(prompt_len: int, chosen_len: int, rejected_len: int, seq_length: int) -> int:
    """Tokens a pair takes in a packed row: prompt+chosen plus prompt+rejected, each side cut to
    `seq_length` (the response tail is dropped, as the padded collate does; a prompt of
    `seq_length` tokens or more is refused there, with the pair named)."""
    if min(prompt_len, chosen_len, rejected_len) < 0 or seq_length < 1:
        raise ValueError(f"pair_length needs non-negative lengths and seq_length >= 1, got prompt "
                         f"{prompt_len}, chosen {chosen_len}, rejected {rejected_len}, seq_length {seq_length}")
    return min(prompt_len + chosen_len, seq_length) + min(prompt_len + rejected_len, seq_length)


def _check(lengths: Sequence[int], capacity: int) -> None:
    if capacity < 1:
        raise ValueError(f"packing capacity must be at least 1 token, got {capacity}")
    for i, n in enumerate(lengths):
        if n < 1 or n > capacity:
            raise ValueError(f"pair {i}: length {n} tokens is outside [1, capacity {capacity}]; a packed row "
                             f"holds micro_batch_size x 2 x model.seq_length tokens")


def pack_pairs(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit-decreasing: rows (lists of indices into `lengths`, in placement order), in creation
    order; see the module docstring for the invariants. ValueError names a pair that cannot fit."""
    _check(lengths, capacity)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    room: list[int] = []  # tokens left in each row
    for i in order:
        slot = next((r for r, left in enumerate(room) if left >= lengths[i]), len(rows))
        if slot == len(rows):
            rows.append([])
            room.append(capacity)
        rows[slot].append(i)
        room[slot] -= lengths[i]
    return rows


@dataclass(frozen=True)
class PackingStats:
    """How full the packed rows are: efficiency = real_tokens / row_tokens (1.0 for no rows)."""

    rows: int
    """Number of packed rows."""
    real_tokens: int
    """Tokens of the pairs themselves (sum of their pair lengths)."""
    row_tokens: int
    """Tokens of the rows as collated: each row's content length after the row-length rule."""

    @property
    def efficiency(self) -> float:
        return self.real_tokens / self.row_tokens if self.row_tokens else 1.0

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int]], lengths: Sequence[int],
                  row_length: Callable[[int], int] = lambda content: content) -> "PackingStats":
        """Stats of `pack_pairs(lengths, ...)`'s rows; `row_length` maps a row's content tokens to
        the width it is collated at (e.g. rounded up to a multiple of 8, or a fixed width for PP)."""
        contents = [sum(lengths[i] for i in row) for row in rows]
        return cls(rows=len(rows), real_tokens=sum(contents), row_tokens=sum(row_length(c) for c in contents))
