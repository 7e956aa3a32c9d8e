"""The paper's third family end to end on a CPU: `nemo-drift run model=gemma3_270m` with the real
Gemma-3-270M (sliding windows, zero-centred norms, post-norms; built without Transformer Engine), cut to
its iteration 0: prepare -> import -> warm-start DPO steps -> export -> vLLM-vs-Megatron parity."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow


def test_gemma3_270m_warm_start_exports_and_passes_parity(tmp_path, gemma3_270m_path, gen_python):
    cmd = [sys.executable, "-m", "nemo_drift.cli", "run", f"run.root={tmp_path}", "model=gemma3_270m",
           "method.iterations=0", "method.warm_start_epochs=1", "trainer.lr=1e-5", "trainer.wandb_mode=disabled"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    run_dir = tmp_path / "drift_gemma3_270m"
    parity = json.loads((run_dir / "iter_0/parity/parity.json").read_text())
    print(f"gemma3-270m iteration-0 parity: {parity}")
    assert parity["ok"] and parity["mult_prob_error"] < 1.01
    config = json.loads((run_dir / "iter_0/export/hf/config.json").read_text())
    assert config["architectures"] == ["Gemma3ForCausalLM"] and config["sliding_window"] == 512
    before = load_file(str(gemma3_270m_path / "model.safetensors"))
    after = load_file(str(run_dir / "iter_0/export/hf/model.safetensors"))
    moved = max((after[k].float() - before[k].float()).abs().max().item() for k in before)
    assert moved > 0  # the DPO steps changed the weights the export carries
    metrics = [json.loads(line) for line in (run_dir / "iter_0/train/metrics.jsonl").read_text().splitlines()]
    assert math.isclose(metrics[0]["loss"], math.log(2), abs_tol=1e-4)  # policy = reference at step 1
