"""The end-of-run summary: one row per iteration (pairs, skips, samples cut and kept, sampling prompts
cut, sample lengths, last-step DPO metrics), printed as a table and written to `report.md`."""
from __future__ import annotations

from typing import Any, Sequence

COLUMNS = (("iteration", "iter"), ("pairs", "pairs"), ("skipped", "skipped"), ("unfinished", "cut kept"),
           ("prompts_cut", "prompts cut"), ("sample_tokens_mean", "sample tok"),
           ("loss_first", "loss@1"), ("loss_last", "loss@end"), ("rewards/chosen", "chosen"),
           ("rewards/rejected", "rejected"), ("rewards/margin", "margin"), ("rewards/accuracy", "acc"))


TABLE_LEGEND = ("cut kept: pairs holding a sample cut at generation.max_tokens (trained without an end-of-turn "
                "token; generation.on_truncated=drop skips them instead). prompts cut: sampling prompts shortened "
                "to generation.max_prompt_tokens. skipped: examples that gave no pair, by reason in the pairs "
                "stage's manifest.")
"""What the less obvious columns count, printed under the table in report.md."""


def iteration_rows(iteration_stats: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by iteration (input: one dict per iteration as the controller collects them)."""
    return sorted(iteration_stats, key=lambda r: r["iteration"])


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table (readable on the console too)."""
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_fmt(row.get(key)) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join([header, rule, *body])
