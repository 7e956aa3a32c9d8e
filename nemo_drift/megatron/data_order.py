"""Which pairs each optimizer step trains, on which data-parallel rank, in which micro-batches, and with what
loss weight: every pair once per epoch, in an order fixed by seed and epoch, the epoch's last step
holding the remainder (Hugging Face Trainer's drop_last=False). Nothing here touches a model, so the
step plan is tested on its own (tests/megatron/test_epoch_coverage.py)."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from nemo_drift.config.trainer import TrainerConfig


def epoch_order(num_pairs: int, seed: int, epoch: int) -> list[int]:
    """Pair indices in training order for `epoch` (a permutation fixed by seed and epoch)."""
    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    return torch.randperm(num_pairs, generator=generator).tolist()


def _micro_size(num_pairs: int, micro_batch_size: int) -> int:
    """The largest micro-batch size <= micro_batch_size dividing num_pairs: one pipeline pass needs
    micro-batches of equal shape (reference.run_pipeline). Example: 3 pairs, micro 2 -> 1."""
    return next(s for s in range(min(micro_batch_size, num_pairs), 0, -1) if num_pairs % s == 0)


def rank_share(order: Sequence[int], position: int, cfg: TrainerConfig, dp_rank: int, dp_size: int) -> list[int]:
    """This data-parallel rank's pairs of global batch `position`: the batch split as evenly as possible over
    the ranks (earlier ranks take one more); empty when the batch has fewer pairs than there are ranks."""
    batch = order[position * cfg.global_batch_size:(position + 1) * cfg.global_batch_size]
    base, extra = divmod(len(batch), dp_size)
    start = dp_rank * base + min(dp_rank, extra)
    return list(batch[start:start + base + (dp_rank < extra)])


def rank_microbatch_indices(order: Sequence[int], position: int, cfg: TrainerConfig, dp_rank: int,
                            dp_size: int) -> list[list[int]]:
    """This rank's micro-batches (lists of pair indices) of global batch `position`.

    A full batch gives every rank global/DP pairs in micro-batches of micro_batch_size. A smaller last batch
    may give a rank fewer or smaller micro-batches, or none (fewer pairs than DP ranks).
    Example: global batch 4, micro 1, DP 2: rank 0 gets pairs [o0], [o1]; rank 1 gets [o2], [o3];
    a last batch of 3 pairs: rank 0 gets [o0], [o1]; rank 1 gets [o2].
    """
    mine = rank_share(order, position, cfg, dp_rank, dp_size)
    if not mine:
        return []
    size = _micro_size(len(mine), cfg.micro_batch_size)
    return [mine[i:i + size] for i in range(0, len(mine), size)]


Packer = Callable[[list[int]], list[list[int]]]
"""Pair indices -> rows of pair indices (nemo_drift/data/packing.py placed by pair length)."""


def step_plan(order: Sequence[int], position: int, cfg: TrainerConfig, dp_rank: int,
              dp_size: int, pack: Optional[Packer] = None) -> list[tuple[list[int], float]]:
    """This rank's micro-batches of step `position` with the weight of each micro-batch's mean loss.

    Micro-batches are groups of micro_batch_size pairs, or with `pack` the packed rows of this rank's pairs
    (as many pairs as fit in a row's token budget, so the count varies from row to row and rank to rank).
    Megatron divides each micro-batch's loss by this rank's micro-batch count k and DDP averages over
    the DP ranks d, so weight b * k * d / n (b pairs in the micro-batch, n in the step) makes the
    gradient that of the mean loss over the step's n pairs, however they are split; a full unpacked step
    has weight 1 everywhere. A rank with no pair of the step runs the step's first pair at weight 0
    (it must still join the gradient all-reduce): it adds nothing to the gradient or the metrics.
    Example: last step of 3 pairs, micro 1, DP 2: rank 0 [[o0], [o1]] at 2*1*2/3 = 4/3 each,
    rank 1 [[o2]] at 1*1*2/3 = 2/3: (4/3 + 4/3) / 2 / 2 + 2/3 / 1 / 2 = 1/3 per pair.
    """
    if pack is None:
        groups = rank_microbatch_indices(order, position, cfg, dp_rank, dp_size)
    else:
        mine = rank_share(order, position, cfg, dp_rank, dp_size)
        groups = pack(mine) if mine else []
    n = len(order[position * cfg.global_batch_size:(position + 1) * cfg.global_batch_size])
    if not groups:
        return [([order[position * cfg.global_batch_size]], 0.0)]
    k = len(groups)
    return [(g, (len(g) * k * dp_size) / n) for g in groups]
