"""The end-of-run summary: one row per iteration (pairs, skips, samples cut and kept, sampling prompts
cut, sample lengths, the held-out signal, last-step DPO metrics), printed as a table and written to
`report.md`, with the held-out trend spelled out (`heldout_lines`)."""
from __future__ import annotations

from typing import Any, Sequence

COLUMNS = (("iteration", "iter"), ("pairs", "pairs"), ("skipped", "skipped"), ("unfinished", "cut kept"),
           ("prompts_cut", "prompts cut"), ("sample_tokens_mean", "sample tok"),
           ("heldout_dsat", "held-out DSAT"), ("heldout_sat", "held-out SAT"),
           ("loss_first", "loss@1"), ("loss_last", "loss@end"), ("rewards/chosen", "chosen"),
           ("rewards/rejected", "rejected"), ("rewards/margin", "margin"), ("rewards/accuracy", "acc"))


TABLE_LEGEND = ("cut kept: pairs holding a sample cut at generation.max_tokens (trained without an end-of-turn "
                "token; generation.on_truncated=drop skips them instead). prompts cut: sampling prompts shortened "
                "to generation.max_prompt_tokens. skipped: examples that gave no pair, by reason in the pairs "
                "stage's manifest. held-out DSAT / SAT: mean per-token log-prob of the held-out DSAT / SAT "
                "replies under the iteration's policy minus under the base model (DRIFT should push the first "
                "below 0 without collapsing the second).")
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


def heldout_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One Markdown line per iteration with held-out figures: each delta with its standard error and count."""
    def fig(row: dict[str, Any], key: str) -> str:
        if row.get(key) is None:
            return "-"
        se = row.get(f"{key}_se")
        return f"{row[key]:+.4f}" + (f" ± {se:.4f}" if se is not None else "") + f" (n={row.get(f'{key}_n', 0)})"

    return [f"- iteration {row['iteration']}: DSAT {fig(row, 'heldout_dsat')}, SAT {fig(row, 'heldout_sat')}, "
            f"DSAT->SAT pairs preferred {fig(row, 'heldout_pair_acc')}"
            for row in rows if row.get("heldout_dsat_n") or row.get("heldout_sat_n") or row.get("heldout_pair_acc_n")]
