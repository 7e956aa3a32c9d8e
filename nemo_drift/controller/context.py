"""The state one run carries through its stages: config, run folder, launcher, and where each
stage's output lives (`runs/<name>/iter_<k>/<stage>/`)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.launcher import Launcher


REF_LOGPS = "ref_logps.jsonl"
"""In a reference stage folder: the reference log-probs of the iteration's pairs."""


def stage_path(run_dir: Path, iteration: int, stage: str) -> Path:
    """Where `stage` of `iteration` keeps its output in a run folder (0 = import and warm start)."""
    return Path(run_dir) / f"iter_{iteration}" / stage


@dataclass
class RunContext:
    """Everything a stage needs besides its own inputs."""

    cfg: DriftConfig
    run_dir: Path
    launcher: Launcher
    config_path: Path
    """The resolved config saved in the run folder; stage processes load it."""
    dry_run: bool = False

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    def stage_dir(self, iteration: int, stage: str) -> Path:
        return stage_path(self.run_dir, iteration, stage)

    def logs_dir(self) -> Path:
        path = self.run_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def tokenizer(self) -> Any:
        """The policy's tokenizer (chat template): prompts and DPO tokens are rendered with it."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.cfg.model.hf_path)

    def record(self, iteration: int, **values: Any) -> None:
        """Append an iteration's figures (pairs, skips, sample lengths, ...) to the run's `metrics.jsonl`;
        the end-of-run summary reads them back, so a resumed run keeps the figures of skipped stages."""
        with (self.run_dir / "metrics.jsonl").open("a") as fh:
            fh.write(json.dumps({"iteration": iteration, "kind": "iteration", **values}) + "\n")
