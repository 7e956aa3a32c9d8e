"""Learning-rate schedule: linear warmup over `warmup_ratio` of the steps, then linear decay to 0.

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
