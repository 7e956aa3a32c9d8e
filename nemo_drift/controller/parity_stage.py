"""Iteration 0's parity check: do vLLM's log-probs of its own samples match Megatron's for the same
tokens? Run once per run; a mismatch (mean multiplicative probability error over the threshold, as
NeMo-RL uses 1.05) fails the run before any GPU hour is spent on wrong samples."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nemo_drift.controller.context import RunContext
from nemo_drift.controller.stages import launch_megatron_job, megatron_world_size


def check_parity_stage(ctx: RunContext, tmp: Path, hf: Path, policy: Path) -> dict[str, Any]:
    """vLLM samples a few prompts from the exported `hf` folder; Megatron scores them from `policy`."""
    launch_megatron_job(ctx, "parity", tmp, nproc=megatron_world_size(ctx), hf=hf, checkpoint=policy)
    if ctx.dry_run:
        return {}
    report = json.loads((tmp / "parity.json").read_text())
    ctx.record(0, parity_mult_prob_error=report.get("mult_prob_error"), parity_max_abs=report.get("max_abs"))
    return report
