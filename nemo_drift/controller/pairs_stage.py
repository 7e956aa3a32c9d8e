"""The pairs stage: preference pairs (warm start: the seed pairs; later: the method's pairs from the
samples), written as text and as tokens, with every skipped example counted by reason, and the held-out
records the training job scores (nemo_drift/controller/heldout.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nemo_drift.controller import sampling, stages
from nemo_drift.controller.context import RunContext
from nemo_drift.controller.heldout import write_heldout_tokens
from nemo_drift.controller.stage_runner import RunError
from nemo_drift.data.records import SeedPair, read_jsonl
from nemo_drift.methods.seed import warm_start_pairs


def _require_pairs(n_pairs: int, what: str, hint: str) -> None:
    if n_pairs == 0:
        raise RunError(f"{what}: no preference pair to train on ({hint})")


def warm_start_pairs_stage(ctx: RunContext, tmp: Path) -> dict[str, Any]:
    """Seed DSAT->SAT pairs -> tokenized pairs for the warm start."""
    if ctx.dry_run:
        print("[dry-run] pairs (warm start): seed pairs tokenized in the controller process")
        return {}
    pairs = warm_start_pairs(read_jsonl(ctx.data_dir / "seed_pairs.jsonl", SeedPair), ctx.cfg.method.warm_start_seeds)
    _require_pairs(len(pairs), "warm start", f"{ctx.data_dir}/seed_pairs.jsonl has no seed pair for "
                   f"method.warm_start_seeds={ctx.cfg.method.warm_start_seeds}; set method.warm_start=false, "
                   "give data with DSAT->SAT revisions, or data.seed_source=<seed pairs file>")
    counts = stages.tokenize_and_write(ctx, pairs, tmp)
    ctx.record(0, pairs=counts["pairs"], skipped=0)
    return {**counts, **write_heldout_tokens(ctx, tmp)}


def method_pairs_stage(ctx: RunContext, tmp: Path, gen_dir: Path, iteration: int) -> dict[str, Any]:
    """The configured method's pairs from this iteration's samples."""
    if ctx.dry_run:
        print(f"[dry-run] pairs: method {ctx.cfg.method.name} builds pairs in the controller process")
        return {}
    result = sampling.build_pairs(ctx, gen_dir / sampling.SAMPLES_FILE)
    _require_pairs(len(result.pairs), f"iteration {iteration} ({ctx.cfg.method.name})",
                   f"skipped by reason: {result.counts()['skipped_by_reason']}")
    counts = stages.tokenize_and_write(ctx, result.pairs, tmp)
    skips = result.counts()
    ctx.record(iteration, pairs=counts["pairs"], skipped=skips["skipped"], unfinished=skips["unfinished_kept"])
    return {**counts, **skips, **write_heldout_tokens(ctx, tmp)}
