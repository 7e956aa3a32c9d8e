"""Reference log-probs: on-disk formats, and the forward-only pass that computes them once.

Why precompute: the DPO step then needs no resident reference model (measured on one H100:
36.5k vs 26.7k tokens/s, docs/gpu-measurements.md). The pass runs through
`get_forward_backward_func(forward_only=True)` so pipeline-parallel models work; pairs are sharded
over data-parallel ranks and the results gathered on every rank.

On-disk formats (`nemo_drift.data.jsonl`: one record per line, `schema_version` on every line):
- tokenized pairs (`tokens.jsonl`): `nemo_drift.data.records.TokenizedPair` records, written by the
  pairs stage or `write_tokenized_pairs`.
- reference log-probs, `<pairs stem>.ref_logps.jsonl` next to the pairs: `RefLogps` records; log-probs
  are summed over the response tokens that fit in `seq_length`. A file made by another reference
  model or seq_length is recomputed, not reused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor

from nemo_drift.data.jsonl import iter_jsonl_located, read_jsonl, write_jsonl
from nemo_drift.data.records import RefLogps, TokenizedPair
from nemo_drift.megatron.batch import sequence_sums
from nemo_drift.megatron.logprobs import make_forward_step


def ref_logps_path(pairs_path: Path) -> Path:
    """Where the reference log-probs of `pairs_path` live: `<stem>.ref_logps.jsonl` beside it."""
    pairs_path = Path(pairs_path)
    return pairs_path.with_name(pairs_path.name.removesuffix(".jsonl") + ".ref_logps.jsonl")


def write_tokenized_pairs(path: Path, pairs: Iterable[TokenizedPair]) -> int:
    """Write tokenized pairs atomically; returns how many were written."""
    return write_jsonl(path, pairs)


def read_tokenized_pairs(path: Path) -> list[TokenizedPair]:
    """Read tokenized pairs; errors name the file, the line and the field, a duplicate id or an empty reply."""
    pairs: list[TokenizedPair] = []
    seen: set[str] = set()
    for where, pair in iter_jsonl_located(path, TokenizedPair):
        if pair.id in seen:
            raise ValueError(f"{where}: duplicate pair id {pair.id!r}")
        if not pair.chosen_ids or not pair.rejected_ids:
            raise ValueError(f"{where}: pair {pair.id!r} has an empty chosen or rejected reply")
        seen.add(pair.id)
        pairs.append(pair)
    return pairs


def write_ref_logps(path: Path, values: Iterable[RefLogps]) -> int:
    """Write reference log-probs atomically; returns how many were written."""
    return write_jsonl(path, values)


def read_ref_logps(path: Path, pair_ids: Sequence[str] | None = None) -> dict[str, RefLogps]:
    """Read reference log-probs by pair id; with `pair_ids`, fail naming the first pair that has none."""
    values = {value.id: value for value in read_jsonl(path, RefLogps)}
    missing = [i for i in (pair_ids or []) if i not in values]
    if missing:
        raise ValueError(f"{path}: no reference log-probs for pair {missing[0]!r} ({len(missing)} missing); "
                         "recompute them (trainer.reference=precomputed reruns the reference pass)")
    return values


# --- the forward-only pass ----------------------------------------------------------------------

def run_pipeline(chunks: list[torch.nn.Module], forward_step: Callable, microbatches: list[dict[str, Any]],
                 forward_only: bool) -> None:
    """One pass of megatron's (pipeline) schedule over `microbatches` (same number of rows each)."""
    from megatron.core.pipeline_parallel import get_forward_backward_func

    if not microbatches:
        return
    rows = microbatches[0]["tokens"].shape[0]  # 2 x pairs per padded micro-batch; 1 per packed row
    width = max(int(b["tokens"].shape[1]) for b in microbatches)  # PP exchanges shapes (variable_seq_lengths)
    iterators: Any = [iter(microbatches) for _ in chunks] if len(chunks) > 1 else iter(microbatches)
    get_forward_backward_func()(
        forward_step_func=forward_step, data_iterator=iterators, model=chunks,
        num_microbatches=len(microbatches), seq_length=width, micro_batch_size=rows, forward_only=forward_only)


def _recording_loss(sink: list[tuple[Tensor, Tensor, list[str]]]) -> Callable:
    """A loss for logprobs.make_forward_step that records (sums [2B], token counts [2B], pair ids)."""

    def loss_fn(token_logps: Tensor, batch: dict[str, Any]) -> tuple[Tensor, dict]:
        sums, counts = sequence_sums(token_logps, batch)  # [2B], [2B]: chosen first, then rejected
        sink.append((sums.detach(), counts.detach(), batch["pair_ids"]))
        return token_logps.new_zeros(()), {}

    return loss_fn


@torch.no_grad()
def microbatch_logps(chunks: list[torch.nn.Module], microbatches: list[dict[str, Any]]) -> dict[str, RefLogps]:
    """Reference log-probs of this rank's micro-batches (filled on the last pipeline stage only).

    Same forward step and log-prob code as the training step (logprobs.make_forward_step), so policy
    and reference log-probs agree exactly when the weights do (NeMo-Aligner's TP mismatch came from
    computing them two ways; docs/paper-reference.md, "Peer systems").
    """
    sink: list[tuple[Tensor, Tensor, list[str]]] = []
    modes = [c.training for c in chunks]
    for chunk in chunks:
        chunk.eval()
    run_pipeline(chunks, make_forward_step(_recording_loss(sink)), microbatches, forward_only=True)
    for chunk, mode in zip(chunks, modes):
        chunk.train(mode)
    out: dict[str, RefLogps] = {}
    for logps, counts, ids in sink:
        b = len(ids)  # sequences: [chosen x b, rejected x b]
        for i, pair_id in enumerate(ids):
            out[pair_id] = RefLogps(pair_id, float(logps[i]), float(logps[b + i]), int(counts[i]), int(counts[b + i]))
    return out


def gather_reference_logps(local: dict[str, RefLogps]) -> dict[str, RefLogps]:
    """Every rank's reference log-probs on every rank: one collective per job, so data-parallel ranks
    with different numbers of pipeline passes (an uneven share of pairs) never wait on each other."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return local
    gathered: list[dict[str, RefLogps]] = [None] * dist.get_world_size()  # type: ignore[list-item]
    dist.all_gather_object(gathered, local)
    merged: dict[str, RefLogps] = {}
    for part in gathered:
        merged.update(part)
    return merged


def compute_reference_logps(chunks: list[torch.nn.Module], microbatches: list[dict[str, Any]]) -> dict[str, RefLogps]:
    """The reference pass over one group of equal-shape micro-batches, gathered so every rank has all pairs."""
    return gather_reference_logps(microbatch_logps(chunks, microbatches))
