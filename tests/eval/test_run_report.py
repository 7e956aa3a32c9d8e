"""Evaluation sections in a run folder: report.md keeps the run's part and gathers every eval section."""
from __future__ import annotations

import json

import pytest

from nemo_drift.eval.run_report import EVAL_MARKER, add_eval_section, write_report


def test_sections_land_in_report_and_metrics_and_survive_a_rewrite(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("trainer: {wandb_mode: disabled}\n")
    write_report(run, ["# Run x", "", "table"])
    assert "No evaluation yet" in (run / "report.md").read_text()
    add_eval_section(run, "reward", ["## Reward", "", "| a | b |"], {"mean": 1.5})
    add_eval_section(run, "judge", ["## Judge", "", "win 0.6"], {"win_rate": 0.6})
    add_eval_section(run, "judge", ["## Judge", "", "win 0.7"], {"win_rate": 0.7})
    report = (run / "report.md").read_text()
    assert report.startswith("# Run x\n\ntable\n\n" + EVAL_MARKER)
    assert report.index("## Judge") < report.index("## Reward") and "win 0.7" in report and "win 0.6" not in report
    write_report(run, ["# Run x", "", "new table"])  # the run resumed and rewrote its part
    report = (run / "report.md").read_text()
    assert "new table" in report and "win 0.7" in report and report.count(EVAL_MARKER) == 1
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval"] for r in records] == ["reward", "judge", "judge"] and records[-1]["win_rate"] == 0.7


def test_a_folder_that_is_not_a_run_is_refused(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        add_eval_section(tmp_path, "judge", ["x"], {})
    assert not (tmp_path / "metrics.jsonl").exists()


def test_figures_reach_an_offline_wandb_run(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run: {name: r1}\n")  # the default trainer.wandb_mode: offline
    add_eval_section(run, "judge", ["## Judge"], {"outputs": {"a.json": {"win_rate": 0.6, "lc": None}}, "n": 5})
    runs = list(run.glob("wandb/offline-run-*/run-*.wandb"))  # wandb's offline log (protobuf records)
    assert len(runs) == 1
    logged = runs[0].read_bytes()
    assert b"outputs/a.json/win_rate" in logged and b"r1-eval-judge" in logged and b"outputs/a.json/lc" not in logged
