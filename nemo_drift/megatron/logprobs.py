"""Exact per-token and per-sequence log-probs from a (tensor/pipeline-parallel) Megatron model.

- `token_logprobs`: log p(label) from vocab-parallel logits of any layout, chunk by chunk, as one
  autograd Function: the forward keeps only the per-token log-sum-exp (4 bytes a token), the backward
  writes d logp / d logits chunk by chunk into one gradient tensor of the logits' dtype (recomputing
  one exp per logit instead of storing a softmax). No fp32 copy of the whole batch's logits ever
  exists, and no per-chunk full-size gradient is zero-filled and summed (what slicing + activation
  checkpointing cost before, see bench/README.md).
- `logprob_output_processor`: GPTModel's `output_processor` hook; the last stage returns token
  log-probs [B, S] fp32 straight from the [S, B, V/tp] logits (no [S,B,V] -> [B,S,V] copy, and
  Float16Module has nothing vocabulary-sized left to upcast).
- `make_forward_step`: a forward-step function for megatron's `get_forward_backward_func()` (any
  pipeline schedule) that hands masked per-token log-probs to a loss function (DPO lives on top).
- `sequence_logprobs`: forward-only per-sequence sums, broadcast from the last pipeline stage to all.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterator, Optional

import torch
import torch.distributed as dist
from megatron.core import parallel_state as ps
from megatron.core.pipeline_parallel import get_forward_backward_func
from torch import Tensor

Batch = dict[str, Tensor]
LossFn = Callable[[Tensor, Batch], tuple]
"""(token_logps [2B, S] masked, batch) -> (loss, stats) or (loss, num_tokens, stats): megatron's loss_func contract."""
ForwardStep = Callable[[Iterator[Batch], torch.nn.Module], tuple[Tensor, Callable[[Tensor], tuple]]]

_CHUNK_ELEMENTS = 1 << 26  # 64M fp32 logits (256 MiB) per chunk


def _group_size_rank(group: Optional[dist.ProcessGroup]) -> tuple[int, int]:
    if group is None:
        return 1, 0
    return dist.get_world_size(group), dist.get_rank(group)


class _VocabParallelTokenLogprobs(torch.autograd.Function):
    """logits [N, V/tp] (this rank's vocabulary shard), labels [N] global ids -> log p(label) [N].

    Computed in fp32 (fp64 for fp64 logits, so gradcheck can check the backward).
    Same arithmetic as megatron's vocab_parallel_cross_entropy (max, target logit and sum of exps
    all-reduced over the TP group), but chunked over rows and with a hand-written backward:
    d logp / d z_j = 1[j = label] - softmax_j, from the saved log-sum-exp.
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, labels: Tensor, group: Optional[dist.ProcessGroup],
                chunk_rows: int) -> Tensor:
        rows, v_local = logits.shape
        tp, rank = _group_size_rank(group)
        first = rank * v_local  # this rank's vocabulary range [first, first + v_local)
        dtype = torch.promote_types(logits.dtype, torch.float32)
        logps = torch.empty(rows, dtype=dtype, device=logits.device)
        lse = torch.empty(rows, dtype=dtype, device=logits.device)
        for r0 in range(0, rows, chunk_rows):
            x = logits[r0:r0 + chunk_rows].to(dtype, copy=True)  # [c, V/tp] private fp32 copy
            local = labels[r0:r0 + chunk_rows] - first
            here = (local >= 0) & (local < v_local)
            row_max = x.max(dim=-1).values  # [c]
            if tp > 1:
                dist.all_reduce(row_max, op=dist.ReduceOp.MAX, group=group)
            x.sub_(row_max.unsqueeze(-1))
            target = x.gather(-1, local.clamp(0, v_local - 1).unsqueeze(-1)).squeeze(-1) * here  # [c]
            sums = torch.stack([x.exp_().sum(dim=-1), target])  # [2, c]
            if tp > 1:
                dist.all_reduce(sums, group=group)
            log_sum = sums[0].log()
            logps[r0:r0 + chunk_rows] = sums[1] - log_sum
            lse[r0:r0 + chunk_rows] = row_max + log_sum
        ctx.save_for_backward(logits, labels, lse)
        ctx.first, ctx.chunk_rows = first, chunk_rows
        return logps

    @staticmethod
    def backward(ctx: Any, grad_logps: Tensor) -> tuple[Tensor, None, None, None]:
        logits, labels, lse = ctx.saved_tensors
        rows, v_local = logits.shape
        grad = torch.empty_like(logits, memory_format=torch.contiguous_format)  # [N, V/tp], logits' dtype
        for r0 in range(0, rows, ctx.chunk_rows):
            r1 = min(rows, r0 + ctx.chunk_rows)
            g = grad_logps[r0:r1].to(lse.dtype)  # [c]
            same_dtype = grad.dtype == lse.dtype  # fp32 logits: work in the gradient's own rows
            p = grad[r0:r1].copy_(logits[r0:r1]) if same_dtype else logits[r0:r1].to(lse.dtype, copy=True)
            p.sub_(lse[r0:r1].unsqueeze(-1)).exp_().mul_(-g.unsqueeze(-1))  # -g * softmax
            local = labels[r0:r1] - ctx.first
            here = (local >= 0) & (local < v_local)
            p.scatter_add_(-1, local.clamp(0, v_local - 1).unsqueeze(-1), (g * here).unsqueeze(-1))
            if not same_dtype:
                grad[r0:r1].copy_(p)
        return grad, None, None, None


def token_logprobs(logits: Tensor, labels: Tensor, chunk_elements: int = _CHUNK_ELEMENTS,
                   group: Optional[dist.ProcessGroup] | str = "tp") -> Tensor:
    """Per-token log-prob of `labels` under vocab-parallel `logits`, in any layout.

    logits: [..., V/tp] (this TP rank's vocab shard, e.g. [S, B, V/tp] from GPTModel's output layer)
    labels: [...] token ids (global vocab ids), same leading shape
    group: the process group the vocabulary is split over: "tp" (default) = megatron's TP group,
    None = logits hold the whole vocabulary.
    returns [...] fp32, identical on every rank of the group (to fp32 rounding, across TP sizes).
    """
    if isinstance(group, str):
        group = ps.get_tensor_model_parallel_group() if ps.get_tensor_model_parallel_world_size() > 1 else None
    v_local = logits.shape[-1]
    flat = logits.reshape(-1, v_local)  # a view for contiguous logits
    chunk_rows = max(1, chunk_elements // max(1, v_local))
    out = _VocabParallelTokenLogprobs.apply(flat, labels.reshape(-1), group, chunk_rows)
    return out.view(labels.shape)


def logprob_output_processor(*, hidden_states: Tensor, output_layer: torch.nn.Module,
                             output_weight: Optional[Tensor], labels: Tensor,
                             runtime_gather_output: Optional[bool] = None,
                             scale_logits: Optional[Callable[[Tensor], Tensor]] = None, **_: Any) -> Tensor:
    """GPTModel `output_processor` (megatron-core >= 0.16): last-stage hidden [S, B, H] -> log p(labels) [B, S].

    Replaces GPTModel's own postprocessing after the decoder: output layer, MuP logit scaling, then
    token_logprobs on the [S, B, V/tp] logits with the labels transposed (a [B, S] int copy, not a
    vocabulary-sized one).
    """
    logits, _ = output_layer(hidden_states, weight=output_weight, runtime_gather_output=runtime_gather_output)
    if scale_logits is not None:
        logits = scale_logits(logits)
    gathered = runtime_gather_output if runtime_gather_output is not None else getattr(output_layer, "gather_output", False)
    group: Any = None if gathered else "tp"
    return token_logprobs(logits, labels.t(), group=group).t().contiguous()  # [S, B] -> [B, S]


def sum_by_sequence(token_logps: Tensor, loss_mask: Tensor) -> tuple[Tensor, Tensor]:
    """token_logps [2B, S], loss_mask [2B, S] -> (sum of masked log-probs [2B], response tokens [2B])."""
    return (token_logps * loss_mask).sum(dim=1), loss_mask.sum(dim=1)


def batch_to_device(batch: Batch, device: torch.device | None = None) -> Batch:
    """Move every tensor of a batch to `device` (default: the current CUDA device, else CPU)."""
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def _logps_loss(loss_fn: LossFn, batch: Batch, token_logps: Tensor) -> tuple:
    return loss_fn(token_logps * batch["loss_mask"], batch)  # [2B, S], zero off-response


def make_forward_step(loss_fn: LossFn) -> ForwardStep:
    """A forward-step function for `get_forward_backward_func()`.

    Each call takes the next micro-batch (a collate_pairs or collate_packed dict, plus any extra tensors the loss needs,
    e.g. reference log-probs) and runs the model chunk. On the last pipeline stage megatron then calls
    the returned loss function with the token log-probs [2B, S] (logprob_output_processor), masks
    them to the response and returns `loss_fn(token_logps, batch)`. Every stage needs the same micro-batches (only
    the first stage reads tokens; the last reads labels/loss_mask).
    """

    def forward_step(data_iterator: Iterator[Batch], model: torch.nn.Module) -> tuple[Tensor, Callable]:
        from nemo_drift.megatron.batch import packed_seq_params

        batch = batch_to_device(next(data_iterator))
        output = model(batch["tokens"], batch["position_ids"], None, labels=batch["labels"],
                       packed_seq_params=packed_seq_params(batch),  # None for a padded batch
                       output_processor=logprob_output_processor)  # last stage: log-probs [2B, S] / [1, W]; else hidden
        return output, partial(_logps_loss, loss_fn, batch)

    return forward_step


def _collect_sums(token_logps: Tensor, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
    sums, counts = sum_by_sequence(token_logps, batch["loss_mask"])
    return token_logps.new_zeros(()), {"sum_logps": sums.detach(), "n_tokens": counts.detach()}


def _broadcast_from_last_stage(values: Tensor | None, shape: tuple[int, ...], device: torch.device) -> Tensor:
    if ps.get_pipeline_model_parallel_world_size() == 1:
        assert values is not None
        return values
    buffer = values if values is not None else torch.empty(shape, dtype=torch.float32, device=device)
    dist.broadcast(buffer, src=ps.get_pipeline_model_parallel_last_rank(), group=ps.get_pipeline_model_parallel_group())
    return buffer


@torch.no_grad()
def sequence_logprobs(model_chunks: list[torch.nn.Module], batch: Batch) -> tuple[Tensor, Tensor]:
    """Forward-only: (sum of response log-probs [2B], response token counts [2B]) for a collate_pairs batch.

    Runs megatron's pipeline schedule (one micro-batch), so it works at any TP/PP; the result is
    computed on the last pipeline stage and broadcast to every rank. Chunks are not put in eval mode:
    the caller decides (build_model(for_training=False) already did).
    """
    rows, width = batch["tokens"].shape
    step = make_forward_step(_collect_sums)
    iterators: Any = [iter([batch]) for _ in model_chunks] if len(model_chunks) > 1 else iter([batch])
    out = get_forward_backward_func()(
        forward_step_func=step, data_iterator=iterators, model=model_chunks, num_microbatches=1,
        seq_length=width, micro_batch_size=rows, forward_only=True,
    )
    device = batch_to_device({"x": batch["tokens"][:1]})["x"].device
    sums = torch.stack([out[0]["sum_logps"], out[0]["n_tokens"]]).float() if out else None  # [2, 2B]
    both = _broadcast_from_last_stage(sums, (2, rows), device)
    return both[0], both[1]
