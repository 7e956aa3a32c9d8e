"""Training metrics: reduce per-pair statistics over micro-batches and data-parallel ranks, and log them.

Logged per optimizer step: loss, rewards/chosen, rewards/rejected (implicit rewards
beta * log pi/pi_ref), rewards/margin (mean) and rewards/margin_std, rewards/accuracy (share of pairs
whose chosen reward beats the rejected one), grad_norm, lr, tokens_per_s, packing_efficiency (real tokens /
positions run, padding included: what packing raises). Sinks: a `metrics.jsonl` in
the output folder (one JSON object per logged step), wandb (offline unless told otherwise; no
network needed), and a tqdm bar with ETA. Only global rank 0 writes.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import torch.distributed as dist
from torch import Tensor

SUM_KEYS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margin", "rewards/margin_sq",
            "rewards/accuracy")


@dataclass
class StepAccumulator:
    """Sums of per-pair statistics over the micro-batches of one optimizer step (on the last PP stage)."""

    sums: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in SUM_KEYS})
    pairs: float = 0.0
    tokens: float = 0.0
    row_tokens: float = 0.0

    def add(self, stats: dict[str, Tensor], num_tokens: int, row_tokens: Optional[int] = None) -> None:
        """Add one micro-batch: `stats` maps SUM_KEYS to per-pair tensors [B]; `num_tokens` real tokens in
        `row_tokens` positions (padding included; default: no padding)."""
        for key in SUM_KEYS:
            self.sums[key] += float(stats[key].detach().double().sum())
        self.pairs += float(stats["loss"].numel())
        self.tokens += float(num_tokens)
        self.row_tokens += float(num_tokens if row_tokens is None else row_tokens)

    def reduce(self, group: Optional[dist.ProcessGroup] = None) -> dict[str, float]:
        """Means over all pairs of the step, summed over `group` (world: non-last PP stages add zeros).

        Tokens are the total over the group; the PP last stage is the only one that adds stats.
        """
        values = torch.tensor([*(self.sums[k] for k in SUM_KEYS), self.pairs, self.tokens, self.row_tokens],
                              dtype=torch.float64)
        if dist.is_initialized():
            # NCCL reduces device tensors only (found on an H100: "No backend type associated with device type cpu").
            device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else values.device
            values = values.to(device)
            dist.all_reduce(values, group=group)
            values = values.cpu()
        *sums, pairs, tokens, row_tokens = values.tolist()
        means = {k: s / max(pairs, 1.0) for k, s in zip(SUM_KEYS, sums)}
        margin_sq = means.pop("rewards/margin_sq")
        means["rewards/margin_std"] = math.sqrt(max(margin_sq - means["rewards/margin"] ** 2, 0.0))
        means["pairs"] = pairs
        means["tokens"] = tokens
        means["packing_efficiency"] = tokens / row_tokens if row_tokens else 1.0
        return means


class MetricsLogger:
    """Writes step metrics to metrics.jsonl, wandb and a tqdm bar on global rank 0 (no-op elsewhere)."""

    def __init__(self, out_dir: Path, total_steps: int, initial_step: int, wandb_mode: str,
                 wandb_project: str, run_name: Optional[str], config: dict[str, Any]) -> None:
        self.enabled = (not dist.is_initialized()) or dist.get_rank() == 0
        self.path = Path(out_dir) / "metrics.jsonl"
        self._wandb: Any = None
        self._bar: Any = None
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from tqdm import tqdm

        self._bar = tqdm(total=total_steps, initial=initial_step, desc="train", unit="step", dynamic_ncols=True)
        if wandb_mode != "disabled":
            self._wandb = _start_wandb(out_dir, wandb_mode, wandb_project, run_name, config)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record the metrics of optimizer step `step` (1-based)."""
        if not self.enabled:
            return
        record = {"step": step, **metrics}
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{metrics['loss']:.4f}", acc=f"{metrics['rewards/accuracy']:.2f}")

    def advance(self) -> None:
        """Move the progress bar by one optimizer step."""
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        """Close the bar and finish the wandb run."""
        if self._bar is not None:
            self._bar.close()
        if self._wandb is not None:
            self._wandb.finish()


def _start_wandb(out_dir: Path, mode: str, project: str, run_name: Optional[str], config: dict[str, Any]) -> Any:
    """A wandb run writing under out_dir (offline: files only, synced later with `wandb sync`)."""
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    return wandb.init(project=project, name=run_name, mode=mode, dir=str(out_dir), config=config,
                      reinit="finish_previous")


def read_metrics(out_dir: Path) -> list[dict[str, Any]]:
    """The records of `out_dir/metrics.jsonl` (for tests, plots and the report)."""
    path = Path(out_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
