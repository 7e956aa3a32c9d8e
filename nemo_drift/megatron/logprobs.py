"""Exact per-token and per-sequence log-probs from a (tensor/pipeline-parallel) Megatron model.

- `token_logprobs`: log p(label) from vocab-parallel logits, chunk by chunk over the sequence, so the
  fp32 softmax of the whole batch is never materialised at once (and, under autograd, each chunk is
  recomputed in backward instead of being stored).
- `make_forward_step`: a forward-step function for megatron's `get_forward_backward_func()` (any
  pipeline schedule) that hands masked per-token log-probs to a loss function (DPO lives on top).
- `sequence_logprobs`: forward-only per-sequence sums, broadcast from the last pipeline stage to all.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from megatron.core import parallel_state as ps
from megatron.core import tensor_parallel
from megatron.core.pipeline_parallel import get_forward_backward_func
from torch import Tensor
from torch.utils.checkpoint import checkpoint

Batch = dict[str, Tensor]
LossFn = Callable[[Tensor, Batch], tuple]
"""(token_logps [2B, S] masked, batch) -> (loss, stats) or (loss, num_tokens, stats): megatron's loss_func contract."""
ForwardStep = Callable[[Iterator[Batch], torch.nn.Module], tuple[Tensor, Callable[[Tensor], tuple]]]

_CHUNK_ELEMENTS = 1 << 26  # 64M fp32 logits (256 MiB) per chunk


def _chunk_logprobs(logits: Tensor, labels: Tensor) -> Tensor:
    """logits [b, c, v/tp] (any dtype), labels [b, c] -> log p(labels) [b, c] in fp32."""
    # vocab_parallel_cross_entropy modifies fp32 logits IN PLACE (megatron-on-cpu.md, "Measured
    # equivalences"): always hand it a private contiguous fp32 copy.
    logits32 = torch.empty(logits.shape, dtype=torch.float32, device=logits.device).copy_(logits)
    return -tensor_parallel.vocab_parallel_cross_entropy(logits32, labels)


def token_logprobs(logits: Tensor, labels: Tensor, chunk_elements: int = _CHUNK_ELEMENTS) -> Tensor:
    """Per-token log-prob of `labels` under vocab-parallel `logits`.

    logits: [B, S, V/tp] (this TP rank's vocab shard, as GPTModel returns without labels)
    labels: [B, S] token ids (global vocab ids)
    returns [B, S] fp32. The log-sum-exp is all-reduced over the TP group inside megatron's
    vocab_parallel_cross_entropy, so every TP rank gets the same exact values.
    """
    b, s, v_local = logits.shape
    step = max(1, chunk_elements // max(1, b * v_local))
    use_checkpoint = torch.is_grad_enabled() and logits.requires_grad and step < s
    pieces = []
    for start in range(0, s, step):
        logit_chunk, label_chunk = logits[:, start:start + step], labels[:, start:start + step]  # [B, c, V/tp], [B, c]
        if use_checkpoint:
            pieces.append(checkpoint(_chunk_logprobs, logit_chunk, label_chunk, use_reentrant=False))
        else:
            pieces.append(_chunk_logprobs(logit_chunk, label_chunk))
    return torch.cat(pieces, dim=1)  # [B, S]


def sum_by_sequence(token_logps: Tensor, loss_mask: Tensor) -> tuple[Tensor, Tensor]:
    """token_logps [2B, S], loss_mask [2B, S] -> (sum of masked log-probs [2B], response tokens [2B])."""
    return (token_logps * loss_mask).sum(dim=1), loss_mask.sum(dim=1)


def batch_to_device(batch: Batch, device: torch.device | None = None) -> Batch:
    """Move every tensor of a batch to `device` (default: the current CUDA device, else CPU)."""
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def _logps_loss(loss_fn: LossFn, batch: Batch, output: Tensor) -> tuple:
    token_logps = token_logprobs(output, batch["labels"]) * batch["loss_mask"]  # [2B, S], zero off-response
    return loss_fn(token_logps, batch)


def make_forward_step(loss_fn: LossFn) -> ForwardStep:
    """A forward-step function for `get_forward_backward_func()`.

    Each call takes the next micro-batch (a collate_pairs dict, plus any extra tensors the loss needs,
    e.g. reference log-probs) and runs the model chunk. On the last pipeline stage megatron then calls
    the returned loss function with the logits [2B, S, V/tp]; it computes masked token log-probs
    [2B, S] and returns `loss_fn(token_logps, batch)`. Every stage needs the same micro-batches (only
    the first stage reads tokens; the last reads labels/loss_mask).
    """

    def forward_step(data_iterator: Iterator[Batch], model: torch.nn.Module) -> tuple[Tensor, Callable]:
        batch = batch_to_device(next(data_iterator))
        output = model(batch["tokens"], batch["position_ids"], None)  # last stage: [2B, S, V/tp]; else hidden
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
