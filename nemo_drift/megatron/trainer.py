"""The DPO training loop (DRIFT Algorithm 1, inner step): one epoch over the pairs by default.

    for each global batch of pairs (deterministic order from the seed, sharded over data-parallel ranks;
                             every pair once per epoch: the epoch's last step takes the remainder,
                             as Hugging Face's Trainer does with drop_last=False):
        reference log-probs: read from the precomputed store, or a forward-only pass of the frozen
                             reference model (trainer.reference=in_loop)
        micro-batches:       padded groups of micro_batch_size pairs, or (trainer.packing) rows packed
                             with whole pairs up to the same token budget (docs/packing.md)
        forward + backward through megatron's (pipeline) schedule, micro-batch by micro-batch:
                             loss = preference loss (dpo/ipo/rpo) averaged over the pairs of the step
        clip the TP/PP-aware grad norm, optimizer step, lr schedule step
        log metrics; checkpoint every N steps and at the end

Resume: the checkpoint holds model, optimizer, scheduler, the step (which fixes the data position,
since the order is a function of seed and epoch) and the RNG state; a resumed run repeats the
uninterrupted run's losses.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from nemo_drift.config.trainer import TrainerConfig
from nemo_drift.megatron.batch import sequence_sums
from nemo_drift.megatron.data_order import Packer, epoch_order, step_plan
from nemo_drift.megatron.losses import PairLogps, compute_pair_loss, preference_stats
from nemo_drift.megatron.metrics import MetricsLogger, StepAccumulator
from nemo_drift.megatron.optimizer import build_optimizer, optimizer_step, prepare_for_load
from nemo_drift.megatron.logprobs import make_forward_step
from nemo_drift.megatron.reference import RefLogps, microbatch_logps, run_pipeline
from nemo_drift.megatron.schedule import build_scheduler, current_lr, job_steps, steps_per_epoch

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What one call of `train` did: steps run (this call), per-step metrics, the final checkpoint."""

    first_step: int
    last_step: int
    metrics: list[dict[str, float]] = field(default_factory=list)
    checkpoint_dir: Optional[Path] = None
    pair_ids: list[list[str]] = field(default_factory=list)
    """Per step, the ids of the pairs whose loss this rank computed (last pipeline stage, tensor-parallel
    rank 0; empty lists on other ranks). Zero-weight padding micro-batches are not listed."""

    @property
    def losses(self) -> list[float]:
        """The loss of each optimizer step run by this call."""
        return [m["loss"] for m in self.metrics]


# --- micro-batches -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """How pairs become micro-batches: padded groups of trainer.micro_batch_size pairs, or packed rows."""

    packed: bool = False
    row_length: Optional[int] = None
    """Packed rows' fixed width (pipeline parallelism keeps micro-batch shapes static); None: each row as
    wide as its content."""

    @classmethod
    def of(cls, packed: bool, cfg: TrainerConfig, seq_length: int, pipeline_parallel: int) -> "Layout":
        """The layout of a job: with packing under pipeline parallelism every row is the full token budget."""
        fixed = row_capacity(cfg, seq_length) if packed and pipeline_parallel > 1 else None
        return cls(packed, None if fixed is None else -(-fixed // 8) * 8)


def row_capacity(cfg: TrainerConfig, seq_length: int) -> int:
    """Tokens a packed row may hold: the padded micro-batch's largest size (micro_batch_size pairs of two
    sequences of seq_length), so packing never raises the activation memory of a micro-batch and every
    pair fits in one row."""
    return cfg.micro_batch_size * 2 * seq_length


def row_packer(pairs: Sequence[Any], cfg: TrainerConfig, seq_length: int) -> Packer:
    """Pair indices -> packed rows of pair indices, first-fit-decreasing on each pair's tokens."""
    from nemo_drift.data.packing import pack_pairs, pair_length

    lengths = [pair_length(len(p.prompt_ids), len(p.chosen_ids), len(p.rejected_ids), seq_length) for p in pairs]
    capacity = row_capacity(cfg, seq_length)

    def pack(indices: list[int]) -> list[list[int]]:
        return [[indices[j] for j in row] for row in pack_pairs([lengths[i] for i in indices], capacity)]

    return pack


def make_microbatch(pairs: Sequence[Any], pad_id: int, seq_length: int,
                    ref: Optional[dict[str, RefLogps]] = None, loss_weight: float = 1.0,
                    layout: Layout = Layout()) -> dict[str, Any]:
    """Collate pairs (`collate_pairs`: chosen rows first, then rejected; or one packed row, `collate_packed`)
    plus pair ids, real and padded token counts, the weight of its mean loss (see step_plan) and, when
    given, the reference log-probs of each pair."""
    from nemo_drift.megatron.batch import collate_packed, collate_pairs

    if layout.packed:
        batch = dict(collate_packed(list(pairs), pad_id, seq_length, row_length=layout.row_length))
    else:
        batch = dict(collate_pairs(list(pairs), pad_id, seq_length))
    batch["pair_ids"] = [str(p.id) for p in pairs]
    batch["loss_weight"] = float(loss_weight)
    batch["num_tokens"] = int(sum(min(len(p.prompt_ids) + len(c), seq_length)
                                  for p in pairs for c in (p.chosen_ids, p.rejected_ids)))
    batch["row_tokens"] = int(batch["tokens"].numel())
    if ref is not None:
        attach_reference(batch, ref)
    return batch


def attach_reference(batch: dict[str, Any], ref: dict[str, RefLogps]) -> None:
    """Add ref_chosen/ref_rejected [B] and the reference's token counts to a micro-batch."""
    rows = [ref[i] for i in batch["pair_ids"]]
    batch["ref_chosen"] = torch.tensor([r.ref_chosen_logp for r in rows], dtype=torch.float32)
    batch["ref_rejected"] = torch.tensor([r.ref_rejected_logp for r in rows], dtype=torch.float32)
    batch["ref_tokens"] = torch.tensor([r.chosen_tokens for r in rows] + [r.rejected_tokens for r in rows])


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of the micro-batch moved to `device` (other values untouched)."""
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


# --- one optimizer step ----------------------------------------------------------------------------

def dpo_loss_fn(cfg: TrainerConfig, acc: StepAccumulator, record: bool,
                seen: Optional[list[str]] = None) -> Callable:
    """The loss for logprobs.make_forward_step: token log-probs [2B, S] -> preference loss.

    The loss returned for a micro-batch is the mean over its pairs times its `loss_weight` (1 in a
    full step); megatron divides it by the number of micro-batches and DDP averages over
    data-parallel ranks, so the gradient is that of the mean loss over the pairs of the step
    (micro-batch x accumulation invariant; step_plan). `record` is True on one tensor-parallel rank
    of the last stage, so metrics are not counted TP times; the ids of the pairs recorded are
    appended to `seen`. Zero-weight (padding) micro-batches are not recorded.
    """

    def loss_fn(token_logps: Tensor, batch: dict[str, Any]) -> tuple[Tensor, dict]:
        logps, counts = sequence_sums(token_logps, batch)  # [2B], [2B]: chosen first, then rejected
        if not torch.equal(counts.long().cpu(), batch["ref_tokens"].long().cpu()):
            raise ValueError(f"pairs {batch['pair_ids']}: the reference log-probs cover other response tokens "
                             "than the policy's (other seq_length or tokens); recompute the reference")
        b = logps.shape[0] // 2
        pair = PairLogps(logps[:b], logps[b:], batch["ref_chosen"], batch["ref_rejected"], counts[:b], counts[b:])
        out = compute_pair_loss(cfg.loss, pair, beta=cfg.beta, alpha=cfg.rpo_alpha,
                                length_normalize=cfg.length_normalize)
        weight = batch["loss_weight"]
        if record and weight > 0:
            acc.add(preference_stats(out), batch["num_tokens"], batch["row_tokens"])
            if seen is not None:
                seen.extend(batch["pair_ids"])
        loss = out.losses.mean()
        return (loss if weight == 1.0 else loss * weight), {}

    return loss_fn


def train_step(chunks: list[torch.nn.Module], optimizer: Any, microbatches: list[dict[str, Any]],
               cfg: TrainerConfig, seen: Optional[list[str]] = None) -> dict[str, float]:
    """Forward/backward over the micro-batches of one global batch, then clip and step; the ids of
    the pairs whose loss this rank recorded are appended to `seen` (see dpo_loss_fn)."""
    from megatron.core import parallel_state as ps

    for chunk in chunks:
        chunk.train()
        chunk.zero_grad_buffer()
    optimizer.zero_grad()
    acc = StepAccumulator()
    record = ps.get_tensor_model_parallel_rank() == 0 and ps.is_pipeline_last_stage()
    run_pipeline(chunks, make_forward_step(dpo_loss_fn(cfg, acc, record, seen)), microbatches, forward_only=False)
    success, grad_norm = optimizer_step(optimizer)
    metrics = acc.reduce()  # world all-reduce: only (TP rank 0, last stage) ranks contribute
    metrics.update(grad_norm=float("nan") if grad_norm is None else grad_norm, lr=current_lr(optimizer),
                   skipped=float(not success))
    return metrics


def wire_megatron_config(chunks: list[torch.nn.Module], optimizer: Any) -> None:
    """Hooks megatron's schedules call: DDP no_sync across micro-batches, grad finalisation
    (DP all-reduce, tied-embedding all-reduce across pipeline stages), loss scaling."""
    from megatron.core.distributed import finalize_model_grads
    from megatron.core.utils import get_model_config

    config = get_model_config(chunks[0])
    config.no_sync_func = [c.no_sync for c in chunks] if len(chunks) > 1 else chunks[0].no_sync
    config.finalize_model_grads_func = finalize_model_grads
    config.grad_scale_func = optimizer.scale_loss


# --- checkpoints ------------------------------------------------------------------------------------

def unwrap(chunks: Sequence[torch.nn.Module]) -> list[torch.nn.Module]:
    """The models inside DDP / Float16Module wrappers: checkpoints hold the model's own keys, as
    Megatron-LM's do, so a training checkpoint also loads into an unwrapped model (reference, export)."""
    from megatron.core.distributed import DistributedDataParallel
    from megatron.core.transformer.module import Float16Module

    out = []
    for chunk in chunks:
        while isinstance(chunk, (DistributedDataParallel, Float16Module)):
            chunk = chunk.module
        out.append(chunk)
    return out


def latest_checkpoint(out_dir: Path) -> Optional[Path]:
    """The newest complete training checkpoint under `out_dir` (a checkpoint folder itself counts)."""
    out_dir = Path(out_dir)
    if (out_dir / "metadata.json").exists():
        return out_dir
    pointer = out_dir / "checkpoints" / "latest"
    return out_dir / "checkpoints" / pointer.read_text().strip() if pointer.exists() else None


def save_train_checkpoint(out_dir: Path, step: int, chunks: list[torch.nn.Module], optimizer: Any, scheduler: Any,
                          data_state: dict[str, Any]) -> Path:
    """Model + optimizer + scheduler + step/data position (+ RNG, by checkpoint.py) in
    out_dir/checkpoints/step_<N>; `checkpoints/latest` names it once it is complete."""
    import torch.distributed as dist

    from nemo_drift.megatron import checkpoint as ckpt

    name = f"step_{step:06d}"
    path = ckpt.save_checkpoint(Path(out_dir) / "checkpoints" / name, unwrap(chunks), optimizer,
                                extra={"step": step, "scheduler": scheduler.state_dict(), **data_state})
    if not dist.is_initialized() or dist.get_rank() == 0:
        (Path(out_dir) / "checkpoints" / "latest").write_text(name + "\n")
    if dist.is_initialized():
        dist.barrier()
    return path


def load_train_checkpoint(path: Path, chunks: list[torch.nn.Module], optimizer: Any, scheduler: Any,
                          data_state: dict[str, Any]) -> int:
    """Restore a training checkpoint; returns its step. The data order must be the same one."""
    from nemo_drift.megatron import checkpoint as ckpt

    prepare_for_load(optimizer)
    extra = ckpt.load_checkpoint(path, unwrap(chunks), optimizer)
    if "steps_per_epoch" not in extra and extra.get("global_batch_size"):  # older checkpoints: floor division
        extra["steps_per_epoch"] = extra["num_pairs"] // extra["global_batch_size"]
    changed = [f"{k}: checkpoint {extra.get(k)!r}, now {v!r}" for k, v in data_state.items() if extra.get(k) != v]
    if changed:
        raise ValueError(f"cannot resume from {path}: the data order changed ({'; '.join(changed)}); "
                         "use a new output folder or the same pairs and trainer.seed/global_batch_size "
                         "(a steps_per_epoch change alone: written by a version that dropped the last partial batch)")
    scheduler.load_state_dict(extra["scheduler"])
    return int(extra["step"])


# --- the loop -------------------------------------------------------------------------------------

def train(chunks: list[torch.nn.Module], pairs: Sequence[Any], cfg: TrainerConfig, out_dir: Path, *,
          seq_length: int, pad_id: int, ref_logps: Optional[dict[str, RefLogps]] = None,
          ref_chunks: Optional[list[torch.nn.Module]] = None, resume: bool = True,
          stop_after_step: Optional[int] = None, layout: Layout = Layout()) -> TrainResult:
    """Train DDP-wrapped `chunks` on `pairs` for cfg.epochs (or cfg.max_steps); checkpoint to out_dir.

    Exactly one of `ref_logps` (precomputed) and `ref_chunks` (in-loop reference model) is given.
    `layout`: padded micro-batches or packed rows (the same loss and gradients, Layout).
    `stop_after_step` ends the call early (after checkpointing) as if interrupted: for resume tests.
    """
    from megatron.core import parallel_state as ps

    if (ref_logps is None) == (ref_chunks is None):
        raise ValueError("train: give exactly one of ref_logps (precomputed) or ref_chunks (in-loop reference)")
    dp_size, dp_rank = ps.get_data_parallel_world_size(), ps.get_data_parallel_rank()
    errors = cfg.validate(dp_size)
    total = job_steps(len(pairs), cfg) if not errors else 0
    if not errors and not pairs:
        errors.append("no pairs to train on: the pair set is empty")
    if errors:
        raise ValueError("invalid trainer settings:\n  " + "\n  ".join(errors))
    out_dir = Path(out_dir)
    device = next(chunks[0].parameters()).device
    optimizer = build_optimizer(list(chunks), cfg)
    scheduler = build_scheduler(optimizer, cfg, total)
    wire_megatron_config(list(chunks), optimizer)
    per_epoch = steps_per_epoch(len(pairs), cfg.global_batch_size)
    data_state = {"seed": cfg.seed, "global_batch_size": cfg.global_batch_size, "num_pairs": len(pairs),
                  "steps_per_epoch": per_epoch}
    start = 0
    latest = latest_checkpoint(out_dir) if resume else None
    if latest is not None:
        start = load_train_checkpoint(latest, chunks, optimizer, scheduler, data_state)
        logger.info("resumed from %s at step %d", latest, start)
    packer = row_packer(pairs, cfg, seq_length) if layout.packed else None
    metrics_log = MetricsLogger(out_dir, total, start, cfg.wandb_mode, cfg.wandb_project, cfg.wandb_run_name, asdict(cfg))
    result = TrainResult(first_step=start + 1, last_step=start)
    end = total if stop_after_step is None else min(total, stop_after_step)
    try:
        for step in range(start, end):
            epoch, position = divmod(step, per_epoch)
            order = epoch_order(len(pairs), cfg.seed, epoch)
            micro = [to_device(make_microbatch([pairs[i] for i in g], pad_id, seq_length, ref_logps, weight, layout), device)
                     for g, weight in step_plan(order, position, cfg, dp_rank, dp_size, packer)]
            if ref_chunks is not None:  # in-loop reference: a forward-only pass of the frozen model
                ref = microbatch_logps(list(ref_chunks), micro)
                for batch in micro:
                    if ps.is_pipeline_last_stage():
                        attach_reference(batch, ref)
                        batch.update(to_device({k: batch[k] for k in ("ref_chosen", "ref_rejected", "ref_tokens")}, device))
            started = time.perf_counter()
            seen: list[str] = []
            metrics = train_step(list(chunks), optimizer, micro, cfg, seen)
            scheduler.step(1)
            metrics["tokens_per_s"] = metrics["tokens"] / max(time.perf_counter() - started, 1e-9)
            metrics.update(epoch=float(epoch))
            result.metrics.append(metrics)
            result.pair_ids.append(seen)
            result.last_step = step + 1
            if (step + 1) % cfg.log_every == 0 or step + 1 == end:
                metrics_log.log(step + 1, metrics)
            metrics_log.advance()
            done = step + 1 == end
            if done or (cfg.save_every_steps and (step + 1) % cfg.save_every_steps == 0):
                result.checkpoint_dir = save_train_checkpoint(out_dir, step + 1, chunks, optimizer, scheduler, data_state)
    finally:
        metrics_log.close()
    return result
