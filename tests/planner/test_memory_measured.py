"""Planner memory vs a real DPO step of the project's Megatron trainer on CPU (bench/plan_validation.py):
static bytes (weights + grads + optimizer state) exactly; the step's peak RSS delta (activations +
logits) within 40%, the total within the stated 20% (docs/cluster.md has the figures)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_planned_memory_within_tolerance_of_measured(tiny_qwen_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "plan_validation.py"), str(tiny_qwen_path),
                           "--seq", "128"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert abs(got["static_error"]) < 1e-3  # exact up to the q/k/v biases the planner leaves out
    assert abs(got["dynamic_error"]) < 0.40
    measured = got["params_bytes"] + got["grad_bytes"] + got["optimizer_bytes"] + got["step_peak_delta_bytes"]
    plan = got["planned"]
    planned = plan["weights"] + plan["grads"] + plan["optimizer"] + plan["dynamic"]
    assert abs(planned / measured - 1) < 0.20
