"""`nemo-drift run --dry-run`: every stage's exact command, nothing run, locally and under srun."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _dry(tmp_path: Path, overrides: list[str], env: dict | None = None) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "nemo_drift.cli", "run", "--dry-run", f"run.root={tmp_path}",
                           *overrides], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [line for line in proc.stdout.splitlines() if line.startswith("[dry-run]")]


def test_local_dry_run_prints_every_stage_and_runs_nothing(tmp_path):
    lines = _dry(tmp_path, ["method.iterations=1"])
    stages = [line.split(":")[0].removeprefix("[dry-run] ") for line in lines]
    assert stages == ["prepare", "import", "pairs (warm start)", "reference", "train", "export",
                      "parity sampler replica 0", "parity",
                      "generate replica 0", "pairs", "reference", "train", "export"]
    train = next(line for line in lines if line.startswith("[dry-run] train:"))
    assert "-m nemo_drift.megatron.jobs train" in train and "epochs=3" in train  # the warm start
    run_dir = tmp_path / "drift_smollm2"
    assert not (run_dir / "data").exists() and not list(run_dir.glob("iter_*"))


def test_srun_dry_run_places_ranks_and_replicas(tmp_path):
    slurm = {"SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_NNODES": "2",
             "SLURM_GPUS_ON_NODE": "8"}
    lines = _dry(tmp_path, ["model=qwen2_5_7b", "cluster=slurm_h100", "cluster.nodes=2", "method.iterations=1"],
                 slurm)
    train = next(line for line in lines if line.startswith("[dry-run] train:"))
    assert "srun " in train and "--ntasks=16" in train and "--ntasks-per-node=8" in train
    assert "MASTER_ADDR=gpu01" in train and "torchrun" not in train
    replicas = [line for line in lines if line.startswith("[dry-run] generate replica")]
    assert len(replicas) == 16  # 2 nodes x 8 GPUs / vLLM TP 1
    assert sum("--nodelist=gpu02" in line for line in replicas) == 8
