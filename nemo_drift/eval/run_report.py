"""Evaluation results inside a run folder: every `nemo-drift eval ... --run RUN_DIR` result is a Markdown
section in `RUN_DIR/eval/<name>.md`, a record in `RUN_DIR/metrics.jsonl` (kind "eval") and the summary of a
wandb run `<run name>-eval-<name>` (the run's trainer.wandb_mode; offline by default), and `report.md` ends
with all of the sections, so the run's report gathers training and evaluation in one file.

report.md has two parts: what `nemo-drift run` writes (rewritten when a run resumes), then, after
`EVAL_MARKER`, the evaluation sections (rewritten whenever one is added). Either writer keeps the other's part.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from nemo_drift.data.jsonl import atomic_text

EVAL_DIR = "eval"
"""The run folder's subfolder of evaluation sections (and their plots)."""

EVAL_MARKER = "<!-- nemo-drift eval sections below -->"


def evaluation_lines(run_dir: Path) -> list[str]:
    """The report's evaluation part: the marker, then every section in name order (none: one line saying
    how to add them)."""
    sections = sorted((Path(run_dir) / EVAL_DIR).glob("*.md"))
    body = [path.read_text(encoding="utf-8").rstrip("\n") for path in sections]
    if not body:
        body = ["## Evaluation\n\nNo evaluation yet: `nemo-drift eval judge|reward|coverage ... --run <this run "
                "folder>` adds its results here (README, \"Did the run make the model better?\")."]
    return [EVAL_MARKER, "", *("\n\n".join(body).splitlines())]


def run_part(report: str) -> str:
    """The part of a report.md that `nemo-drift run` wrote (everything before the marker)."""
    return report.split(EVAL_MARKER, 1)[0].rstrip("\n")


def write_report(run_dir: Path, run_lines: Sequence[str] | None = None) -> Path:
    """Write report.md: `run_lines` (None: keep the run part already there) followed by the evaluation part."""
    path = Path(run_dir) / "report.md"
    head = "\n".join(run_lines) if run_lines is not None else (
        run_part(path.read_text(encoding="utf-8")) if path.is_file() else f"# Run {Path(run_dir).name}")
    with atomic_text(path) as fh:
        fh.write(head.rstrip("\n") + "\n\n" + "\n".join(evaluation_lines(run_dir)) + "\n")
    return path


def add_eval_section(run_dir: Path, name: str, lines: Sequence[str], record: dict[str, Any]) -> Path:
    """Store one evaluation result in a run folder: its section (replacing an earlier one of the same
    name), its metrics record, and the refreshed report. Returns the report's path."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"--run {run_dir}: not a run folder of `nemo-drift run` (no config.yaml)")
    folder = run_dir / EVAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_text(folder / f"{name}.md") as fh:
        fh.write("\n".join(lines).rstrip("\n") + "\n")
    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"kind": "eval", "eval": name, **record}) + "\n")
    log_to_wandb(run_dir, name, record)
    return write_report(run_dir)


def flat_figures(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of a nested record under slash-joined keys (what a wandb summary holds)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(flat_figures(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = value
    return out


def log_to_wandb(run_dir: Path, name: str, record: dict[str, Any]) -> None:
    """The record's numbers as the summary of a wandb run beside the run's own (none with wandb disabled)."""
    from nemo_drift.config.loader import load_config_file

    cfg = load_config_file(Path(run_dir) / "config.yaml")
    trainer = cfg.trainer
    if trainer.wandb_mode == "disabled":
        return
    import os

    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(project=trainer.wandb_project, name=f"{cfg.run.name}-eval-{name}", mode=trainer.wandb_mode,
                     dir=str(run_dir), config={"eval": name, "method": cfg.method.name}, reinit="finish_previous")
    run.summary.update(flat_figures(record))
    run.finish()
