"""SPIN and IterDPO through the same pipeline as DRIFT (tiny Qwen2, one iteration, no warm start):
the pairs have the sides each method promises."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["spin", "iterdpo"])
def test_baseline_runs_one_iteration(tmp_path, method, tiny_qwen_path, gen_python):
    cmd = [sys.executable, "-m", "nemo_drift.cli", "run", f"run.root={tmp_path}", f"run.name={method}",
           "model=tiny_qwen2", f"method={method}", "method.warm_start=false", "method.iterations=1",
           "method.max_examples=4", "trainer.wandb_mode=disabled"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    run_dir = tmp_path / method
    pairs = [json.loads(line) for line in (run_dir / "iter_1/pairs/pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 4 and all(p["origin"] == method for p in pairs)
    if method == "spin":
        sat = {json.loads(line)["id"]: json.loads(line) for line in (run_dir / "data/sat.jsonl").read_text().splitlines()}
        assert all(p["chosen"] == sat[p["id"]]["reply"] for p in pairs)  # the real SAT reply
    else:
        dsat = {json.loads(line)["id"]: json.loads(line) for line in (run_dir / "data/dsat.jsonl").read_text().splitlines()}
        assert all(p["rejected"] != dsat[p["id"]]["rejected"] for p in pairs)  # both sides are samples
        samples = (run_dir / "iter_1/generate/samples.jsonl").read_text()
        assert samples.count(":guided") == 4 and samples.count(":unguided") == 4
    assert (run_dir / "iter_1/export/hf/model.safetensors").exists()
