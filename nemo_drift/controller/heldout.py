"""The held-out learning signal inside a run: the pairs stages tokenize the held-out records, each training
job scores them with the weights it ends with (the run's first job also with the base weights it starts
from), and the controller turns the scores into figures against the base model
(nemo_drift/eval/heldout.py) for the summary table and report."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nemo_drift.controller.context import RunContext
from nemo_drift.data.records import DsatExample, RefLogps, SatExample, SeedPair, read_jsonl
from nemo_drift.eval.heldout import HELDOUT_TOKENS, SCORES_AT_END, SCORES_AT_START, heldout_pairs, heldout_signal
from nemo_drift.methods.seed import warm_start_pairs


def write_heldout_tokens(ctx: RunContext, tmp: Path) -> dict[str, Any]:
    """The held-out records a training job scores, tokenized like its pairs, into `tmp`; their counts."""
    from nemo_drift.data.jsonl import write_jsonl
    from nemo_drift.data.tokenize import tokenize_pairs

    data, method = ctx.cfg.data, ctx.cfg.method
    seeds = read_jsonl(ctx.data_dir / "seed_pairs.jsonl", SeedPair)
    trained_ids = {p.id for p in warm_start_pairs(seeds, method.warm_start_seeds)} if method.warm_start else set()
    trained = [s for s in seeds if s.id in trained_ids]
    held = heldout_pairs(read_jsonl(ctx.data_dir / "dsat.jsonl", DsatExample),
                         read_jsonl(ctx.data_dir / "sat.jsonl", SatExample), seeds, trained)
    tokens, _ = tokenize_pairs(ctx.tokenizer, held.pairs, data.max_length, data.max_prompt_length, data.overlength)
    write_jsonl(tmp / HELDOUT_TOKENS, tokens)
    return {"heldout_records": len(tokens), "heldout_trained_in_warm_start": held.trained_in_warm_start}


def scoring_args(ctx: RunContext, iteration: int, pairs_dir: Path, out: Path) -> dict[str, Path]:
    """The training job's held-out arguments: score `pairs_dir`'s held-out records into `out` with the trained
    weights, and, in the run's first training job only, with the base weights it starts from (a later job
    starts from the weights the previous one scored). None when the pairs stage found nothing held out."""
    tokens = pairs_dir / HELDOUT_TOKENS
    if not tokens.is_file() or tokens.stat().st_size == 0:
        return {}
    args = {"heldout": tokens, "heldout_end": out / SCORES_AT_END}
    if iteration == first_training(ctx):
        args["heldout_start"] = out / SCORES_AT_START
    return args


def first_training(ctx: RunContext) -> int:
    """The iteration of the run's first training job, whose starting weights are the base model."""
    return 0 if ctx.cfg.method.warm_start else 1


def record_signal(ctx: RunContext, iteration: int, out: Path) -> dict[str, Any]:
    """The iteration's held-out figures against the base, from the scores its training job wrote into `out`
    (the first job's own start scores are the base); appended to the run's metrics."""
    policy_path = out / SCORES_AT_END
    if not policy_path.is_file():
        return {}
    first = first_training(ctx)
    base_path = (out if iteration == first else ctx.stage_dir(first, "train")) / SCORES_AT_START
    figures = heldout_signal(_scores(base_path), _scores(policy_path)).to_record()
    ctx.record(iteration, **figures)
    return figures


def _scores(path: Path) -> dict[str, RefLogps]:
    return {r.id: r for r in read_jsonl(path, RefLogps)}
