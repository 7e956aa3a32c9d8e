"""Margin health: the DRIFT paper's margin theory (section 5) made observable, per iteration.

A DPO pair's implicit-reward margin is s = beta * (h(chosen) - h(rejected)), h(y) = log pi(y|x) -
log pi_ref(y|x) (sums of token log-probs, or their means when the loss compares means). Its gradient
carries the weight sigma(-s): a pair the policy already separates (large s) stops teaching. The paper
argues that DRIFT keeps margins spread because every iteration brings fresh chosen replies against real
DSAT rejections, while SPIN's margins shrink as its own samples approach the SAT catalogue, until the
gradient vanishes (collapse). Per iteration, on the pairs it trained on, this module computes:

- the margins at the start of the epoch (0 for every pair when the reference is the iteration's starting
  policy) and at its end (the training job scores its pairs with the trained weights);
- the share of pairs still learning at the end, sigma(-s) >= tau (`eval.margin_tau`);
- the variance over the pairs of h(chosen) at the end (for SPIN: over its SAT catalogue);
- the mean gradient norm of the epoch's optimizer steps;

and across iterations a collapse verdict (`collapse_verdict`). Plain Python: the scores come from files
(`RefLogps` records), so a hand-built table tests every figure. docs/margin-health.md explains how to read
them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean, pvariance, stdev
from typing import Any, Mapping, Optional, Sequence

from nemo_drift.data.records import RefLogps

PAIR_SCORES_START = "pair_scores_start.jsonl"
"""In a train stage folder: its pairs under the weights it started from (written only when they are not the
reference: trainer.reference_model=base)."""

PAIR_SCORES_END = "pair_scores_end.jsonl"
"""In a train stage folder: its pairs under the weights it ended with (trainer.score_trained_pairs)."""


@dataclass(frozen=True)
class IterationMargins:
    """Per-pair figures of one iteration's training pairs, in pair order."""

    iteration: int
    start: list[float]
    end: list[float]
    h_chosen_end: list[float]
    """h(chosen) = log pi(chosen) - log pi_ref(chosen) under the trained weights (no beta)."""


def _value(logp: float, tokens: int, mean_logps: bool) -> float:
    return logp / max(tokens, 1) if mean_logps else logp


def _h(policy: RefLogps, ref: RefLogps, mean_logps: bool) -> tuple[float, float]:
    """(h(chosen), h(rejected)) of one pair."""
    return (_value(policy.ref_chosen_logp, policy.chosen_tokens, mean_logps)
            - _value(ref.ref_chosen_logp, ref.chosen_tokens, mean_logps),
            _value(policy.ref_rejected_logp, policy.rejected_tokens, mean_logps)
            - _value(ref.ref_rejected_logp, ref.rejected_tokens, mean_logps))


def iteration_margins(iteration: int, ref: Mapping[str, RefLogps], end: Mapping[str, RefLogps], beta: float,
                      mean_logps: bool, start: Optional[Mapping[str, RefLogps]] = None) -> IterationMargins:
    """The margins of the pairs in `ref` (the job's reference log-probs) under the trained weights `end`
    and the starting weights `start` (None: the reference itself, so every start margin is 0). A pair
    missing from a score file is a ValueError naming it: the files come from one job's pairs."""
    start_scores, end_scores, h_chosen = [], [], []
    for pair_id, reference in ref.items():
        for name, scores in (("end", end), ("start", start)):
            if scores is not None and pair_id not in scores:
                raise ValueError(f"pair {pair_id!r} has reference log-probs but no {name}-of-epoch scores")
        hc, hr = _h(end[pair_id], reference, mean_logps)
        end_scores.append(beta * (hc - hr))
        h_chosen.append(hc)
        if start is None:
            start_scores.append(0.0)
        else:
            sc, sr = _h(start[pair_id], reference, mean_logps)
            start_scores.append(beta * (sc - sr))
    return IterationMargins(iteration, start_scores, end_scores, h_chosen)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _spread(values: Sequence[float]) -> Optional[float]:
    return stdev(values) if len(values) > 1 else None


@dataclass(frozen=True)
class MarginHealth:
    """One iteration's margin figures (what the summary and report show)."""

    iteration: int
    pairs: int
    start_mean: Optional[float]
    start_std: Optional[float]
    end_mean: Optional[float]
    end_std: Optional[float]
    """Sample standard deviation over the pairs (None for fewer than 2)."""
    learning_share: Optional[float]
    """Share of pairs with sigma(-s_end) >= tau: those whose gradient still carries weight."""
    h_chosen_var: Optional[float]
    """Population variance over the pairs of h(chosen) at the end of the epoch."""
    grad_norm_mean: Optional[float]

    @classmethod
    def of(cls, margins: IterationMargins, tau: float, grad_norms: Sequence[float] = ()) -> "MarginHealth":
        end = margins.end
        return cls(margins.iteration, len(end), fmean(margins.start) if margins.start else None,
                   _spread(margins.start), fmean(end) if end else None, _spread(end),
                   sum(_sigmoid(-s) >= tau for s in end) / len(end) if end else None,
                   pvariance(margins.h_chosen_end) if margins.h_chosen_end else None,
                   fmean(grad_norms) if grad_norms else None)

    def to_record(self) -> dict[str, Any]:
        """The figures under the keys the run's metrics.jsonl and summary table use."""
        return {"margin_pairs": self.pairs, "margin_start_mean": self.start_mean, "margin_start_std": self.start_std,
                "margin_end_mean": self.end_mean, "margin_end_std": self.end_std,
                "margin_learning_share": self.learning_share, "h_chosen_var": self.h_chosen_var,
                "grad_norm_mean": self.grad_norm_mean}


def collapse_verdict(rows: Sequence[Mapping[str, Any]], mean_below: float, std_below: float) -> Optional[str]:
    """A one-line warning when the margins collapsed, else None. `rows`: per-iteration records (keys of
    `MarginHealth.to_record` plus `iteration`), warm start (iteration 0) excluded by the caller or here.
    Collapse: the last iteration's end-of-epoch margin mean and spread are below the thresholds, and both
    shrank since the first iteration; a single iteration is never called a collapse (nothing shrank)."""
    scored = [r for r in sorted(rows, key=lambda r: r["iteration"])
              if r["iteration"] > 0 and r.get("margin_end_mean") is not None and r.get("margin_end_std") is not None]
    if len(scored) < 2:
        return None
    first, last = scored[0], scored[-1]
    shrank = last["margin_end_mean"] < first["margin_end_mean"] and last["margin_end_std"] < first["margin_end_std"]
    if shrank and last["margin_end_mean"] < mean_below and last["margin_end_std"] < std_below:
        return (f"margin collapse: by iteration {last['iteration']} the end-of-epoch margin fell to mean "
                f"{last['margin_end_mean']:.4g}, spread {last['margin_end_std']:.4g} (iteration {first['iteration']}: "
                f"{first['margin_end_mean']:.4g}, {first['margin_end_std']:.4g}), below eval.collapse_margin_mean "
                f"{mean_below:g} and eval.collapse_margin_std {std_below:g}: the pairs no longer teach the policy")
    return None


MARGIN_LEGEND = ("margin s = beta * (h(chosen) - h(rejected)), h = log pi - log pi_ref, on the pairs the iteration "
                 "trained on; start / end: with the weights the epoch started / ended with. still learning: share of "
                 "pairs whose DPO gradient weight sigma(-s) is still >= eval.margin_tau ({tau:g}) at the end. var "
                 "h(chosen): variance over the pairs of h of the chosen reply at the end (SPIN: its SAT catalogue). "
                 "grad norm: mean over the epoch's optimizer steps. docs/margin-health.md says how to read them.")
"""What the margin table's columns mean, printed under it in report.md (`{tau}`: eval.margin_tau)."""


def margin_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """A Markdown table, one row per iteration with margin figures."""
    def fig(value: Any) -> str:
        return "-" if value is None else f"{value:.4g}"

    scored = [r for r in rows if r.get("margin_pairs")]
    if not scored:
        return []
    lines = ["| iter | pairs | margin start (mean ± sd) | margin end (mean ± sd) | still learning | var h(chosen) "
             "| grad norm |", "|---|---|---|---|---|---|---|"]
    for r in scored:
        lines.append(f"| {r['iteration']} | {r['margin_pairs']} | {fig(r.get('margin_start_mean'))} ± "
                     f"{fig(r.get('margin_start_std'))} | {fig(r.get('margin_end_mean'))} ± {fig(r.get('margin_end_std'))} "
                     f"| {fig(r.get('margin_learning_share'))} | {fig(r.get('h_chosen_var'))} | {fig(r.get('grad_norm_mean'))} |")
    return lines
