"""The planned figures in README.md and docs/cluster.md are the planner's own output for each preset on
`cluster=slurm_h100`, so a change to the planner or a preset that moves them fails here until the tables
are regenerated (the slurm/ scripts print the plan at submit time instead of quoting it)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from nemo_drift.planner.cli import plan_config
from nemo_drift.planner.memory import GIB
from nemo_drift.planner.plan import make_plan

REPO = Path(__file__).resolve().parents[2]
GIB_COLUMN, HOURS_COLUMN = "planned train GiB/GPU", "planned h/iteration"


def documented(path: Path) -> dict[str, tuple[float, float]]:
    """preset -> (GiB/GPU, h/iteration) from every table of `path` that has both columns."""
    rows: dict[str, tuple[float, float]] = {}
    header: list[str] = []
    for line in path.read_text().splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not header:
            header = [re.sub(r"\*$", "", c) for c in cells]
            continue
        if GIB_COLUMN not in header or HOURS_COLUMN not in header or set(cells[0]) <= {"-"}:
            continue
        gib, hours = cells[header.index(GIB_COLUMN)], cells[header.index(HOURS_COLUMN)]
        if re.fullmatch(r"[\d.]+", gib) and re.fullmatch(r"[\d.]+", hours):
            rows[cells[0].split()[0]] = (float(gib), float(hours))
    return rows


def test_table_parser_reads_figures_and_skips_other_tables(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"| preset | {GIB_COLUMN} | {HOURS_COLUMN}* |\n|---|---|---|\n| qwen2_5_7b (`x`) | 39.8 | 0.36 |\n"
                   "| cpu | 5.3 (RAM) | n/a |\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert documented(doc) == {"qwen2_5_7b": (39.8, 0.36)}


@pytest.mark.parametrize("doc", ["README.md", "docs/cluster.md"])
def test_documented_plans_match_the_planner(doc):
    rows = documented(REPO / doc)
    assert len(rows) >= 8, f"{doc}: the presets table was not found"
    for preset, (gib, hours) in rows.items():
        plan = make_plan(plan_config(preset, "slurm_h100"))
        assert (gib, hours) == (round(plan.train.total / GIB, 1), round(plan.time.total_s / 3600, 2)), \
            f"{doc}: {preset} says {gib} GiB / {hours} h; regenerate the table from `nemo-drift plan`"
