"""`nemo-drift eval reward`: score benchmark replies with a local reward model, and compare policies.

Input is what `nemo-drift eval export` wrote: one evaluator file per policy (e.g. the base model and each
iteration's export), all for the same prompts. Every reply is scored by a one-logit sequence-classification
reward model (nemo_drift/eval/reward.py; the paper's IterDPO used
OpenAssistant/reward-model-deberta-v3-large-v2). Per file: the mean reward with its standard error, and
against the baseline file, prompt by prompt, the win rate (a tie counts half) with a 95% normal-approximation
interval.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from nemo_drift.eval.benchmarks import BenchmarkPrompt, check_outputs
from nemo_drift.eval.stats import Estimate

RewardFn = Callable[[Sequence[dict], Sequence[str]], list[float]]


def read_replies(benchmark: str, path: Path, prompts: Sequence[BenchmarkPrompt]) -> list[str]:
    """The replies of an evaluator file, in prompt order; ValueError naming the file when it does not match
    the prompts (another benchmark, another prompt set, another order)."""
    problems = check_outputs(benchmark, path, prompts)
    if problems:
        raise ValueError(f"{path}: not the {benchmark} outputs of these prompts: {problems[0]}")
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    return [row["output"][0] if isinstance(row["output"], list) else row["output"] for row in rows]


@dataclass
class RewardRow:
    """One policy's figures on the benchmark's prompts."""

    name: str
    reward: Estimate
    win_rate: Estimate
    """Against the baseline, prompt by prompt (tie = 0.5); the baseline's own row is 0.5 by construction."""

    def interval(self) -> tuple[float, float] | None:
        """95% normal-approximation interval of the win rate, within [0, 1]."""
        return self.win_rate.interval(bounds=(0.0, 1.0))


def reward_rows(reward: RewardFn, prompts: Sequence[BenchmarkPrompt], replies: dict[str, Sequence[str]],
                baseline: str) -> list[RewardRow]:
    """Rows for every named set of replies (one per prompt, in prompt order), compared with `baseline`'s."""
    if baseline not in replies:
        raise ValueError(f"baseline {baseline!r} is not among the scored files: {', '.join(replies)}")
    scores = {name: [reward(p.messages, [text])[0] for p, text in zip(prompts, texts)]
              for name, texts in replies.items()}
    base = scores[baseline]
    rows = []
    for name, values in scores.items():
        wins = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(values, base)]
        rows.append(RewardRow(name, Estimate.of(values), Estimate.of(wins)))
    return rows


def format_rows(rows: Sequence[RewardRow], baseline: str) -> str:
    """A Markdown table: mean reward ± SE, and the win rate over the baseline with its 95% interval."""
    lines = [f"| outputs | mean reward | win rate over {baseline} | 95% interval | prompts |", "|---|---|---|---|---|"]
    for row in rows:
        reward = "-" if row.reward.mean is None else f"{row.reward.mean:.4f}" + (
            f" ± {row.reward.se:.4f}" if row.reward.se is not None else "")
        win = "-" if row.win_rate.mean is None else f"{row.win_rate.mean:.3f}"
        interval = row.interval()
        lines.append(f"| {row.name} | {reward} | {win} | "
                     f"{'-' if interval is None else f'{interval[0]:.3f}-{interval[1]:.3f}'} | {row.reward.n} |")
    return "\n".join(lines)
