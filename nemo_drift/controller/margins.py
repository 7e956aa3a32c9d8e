"""Margin health inside a run: each training job scores its own pairs with the weights it ends with
(`scoring_args`), and the controller turns the scores into per-iteration figures (nemo_drift/eval/margins.py)
for the run's metrics, summary and report; `nemo-drift eval margins RUN_DIR` reads the same files."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.context import REF_LOGPS, RunContext, stage_path
from nemo_drift.data.records import RefLogps, read_jsonl
from nemo_drift.eval.margins import PAIR_SCORES_END, PAIR_SCORES_START, IterationMargins, MarginHealth, iteration_margins


def scoring_args(ctx: RunContext, out: Path) -> dict[str, Path]:
    """The training job's pair-scoring arguments (none with trainer.score_trained_pairs=false, or with an
    in-loop reference, whose log-probs are never stored): scores at the end, and at the start when the
    starting weights are not the reference."""
    trainer = ctx.cfg.trainer
    if not trainer.score_trained_pairs or trainer.reference != "precomputed":
        return {}
    args = {"pair_scores_end": out / PAIR_SCORES_END}
    if trainer.reference_model == "base":
        args["pair_scores_start"] = out / PAIR_SCORES_START
    return args


def _scores(path: Path) -> dict[str, RefLogps]:
    return {r.id: r for r in read_jsonl(path, RefLogps)}


def read_margins(run_dir: Path, cfg: DriftConfig, iteration: int, train_dir: Optional[Path] = None
                 ) -> Optional[IterationMargins]:
    """The margins of `iteration`'s training pairs from its stage folders (`train_dir` overrides where the
    train stage's files are, e.g. its temporary folder); None when the job did not score them."""
    train_dir = train_dir or stage_path(run_dir, iteration, "train")
    ref, end, start = stage_path(run_dir, iteration, "reference") / REF_LOGPS, train_dir / PAIR_SCORES_END, \
        train_dir / PAIR_SCORES_START
    if not (ref.is_file() and end.is_file()):
        return None
    return iteration_margins(iteration, _scores(ref), _scores(end), cfg.trainer.beta, cfg.trainer.uses_mean_logps(),
                             _scores(start) if start.is_file() else None)


def grad_norms(train_dir: Path) -> list[float]:
    """The gradient norm of every logged optimizer step of a training job (a skipped step logs none)."""
    path = train_dir / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []
    return [float(r["grad_norm"]) for r in rows if r.get("grad_norm") is not None and math.isfinite(r["grad_norm"])]


def margin_health(run_dir: Path, cfg: DriftConfig, iteration: int, train_dir: Optional[Path] = None
                  ) -> Optional[tuple[IterationMargins, MarginHealth]]:
    """The iteration's per-pair margins and figures (thresholds from `eval.*`), or None."""
    train_dir = train_dir or stage_path(run_dir, iteration, "train")
    margins = read_margins(run_dir, cfg, iteration, train_dir)
    if margins is None:
        return None
    return margins, MarginHealth.of(margins, cfg.eval.margin_tau, grad_norms(train_dir))


def record_margins(ctx: RunContext, iteration: int, out: Path) -> dict[str, Any]:
    """The iteration's margin figures from the files its training job wrote into `out`, appended to the
    run's metrics."""
    found = margin_health(ctx.run_dir, ctx.cfg, iteration, out)
    if found is None:
        return {}
    figures = found[1].to_record()
    ctx.record(iteration, **figures)
    return figures


def run_margins(run_dir: Path, cfg: DriftConfig) -> list[tuple[IterationMargins, MarginHealth]]:
    """Every scored iteration of a run folder, in order."""
    found = []
    for train_dir in sorted(Path(run_dir).glob("iter_*/train"), key=lambda p: int(p.parent.name[5:])):
        health = margin_health(run_dir, cfg, int(train_dir.parent.name[5:]), train_dir)
        if health is not None:
            found.append(health)
    return found
