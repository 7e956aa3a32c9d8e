"""Learning-rate schedule: linear warmup over `warmup_ratio` of the steps, then linear decay to 0.

The job's length in optimizer steps counts each epoch's last, smaller step (`steps_per_epoch` is a
ceil, as Hugging Face's Trainer with drop_last=False), so warmup and decay cover every step.

This is megatron-core's `OptimizerParamScheduler` (decay style "linear", min_lr 0, constant weight
decay), which also checkpoints its position. Its values equal Hugging Face's
`get_linear_schedule_with_warmup` (what the DRIFT paper's TRL run used) at every step:
lr(s) = lr * s / W for s <= W, then lr * (T - s) / (T - W), with W = ceil(warmup_ratio * T).
The lr at position s is used by the (s+1)-th optimizer step, so with warmup the first step has lr 0,
as in TRL. Example, T = 10, warmup_ratio 0.1 (W = 1), lr 1.0: steps use 0, 1, 8/9, 7/9, ..., 1/9.
"""
from __future__ import annotations

import math
from typing import Any

from nemo_drift.config.trainer import TrainerConfig


def steps_per_epoch(num_pairs: int, global_batch_size: int) -> int:
    """Optimizer steps of one epoch: every pair once, the last step takes the remainder (ceil).

    Example: 6 pairs, global batch 4 -> 2 steps, of 4 and 2 pairs (HF Trainer, drop_last=False).
    """
    return -(-num_pairs // global_batch_size)


def job_steps(num_pairs: int, cfg: TrainerConfig) -> int:
    """Optimizer steps of the job (and the lr schedule's length): all epochs, capped by max_steps.

    Example: 6 pairs, global batch 4, 3 epochs -> 2 x 3 = 6 steps (warmup_ratio 0.1: W = 1).
    """
    steps = steps_per_epoch(num_pairs, cfg.global_batch_size) * cfg.epochs
    return min(steps, cfg.max_steps) if cfg.max_steps > 0 else steps


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """W = ceil(warmup_ratio * T), kept below T (megatron requires warmup < decay steps)."""
    return max(0, min(math.ceil(warmup_ratio * total_steps), total_steps - 1))


def build_scheduler(optimizer: Any, cfg: TrainerConfig, total_steps: int) -> Any:
    """megatron OptimizerParamScheduler for `total_steps` optimizer steps; call `.step(1)` after each."""
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    total = max(total_steps, 1)
    return OptimizerParamScheduler(
        optimizer, init_lr=0.0, max_lr=cfg.lr, min_lr=0.0,
        lr_warmup_steps=warmup_steps(total, cfg.warmup_ratio), lr_decay_steps=total, lr_decay_style="linear",
        start_wd=cfg.weight_decay, end_wd=cfg.weight_decay, wd_incr_steps=total, wd_incr_style="constant")


def current_lr(optimizer: Any) -> float:
    """The lr of the first parameter group (all groups share it in our setup)."""
    return float(optimizer.param_groups[0]["lr"])
