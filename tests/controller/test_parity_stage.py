"""The parity stage's two halves in `nemo-drift run --dry-run`: vLLM samples from the controller through
the generation launcher (srun on a cluster), and the Megatron job gets the finished samples file to
score, never the generation interpreter."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SLURM = {"SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_NNODES": "2", "SLURM_GPUS_ON_NODE": "8"}


def _parity_lines(tmp_path: Path, overrides: list[str], env: dict | None = None) -> tuple[str, str]:
    """(the parity sampler line, the parity Megatron job line) of a dry run."""
    proc = subprocess.run([sys.executable, "-m", "nemo_drift.cli", "run", "--dry-run", f"run.root={tmp_path}",
                           "method.iterations=1", *overrides], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    sampler = [line for line in lines if line.startswith("[dry-run] parity sampler")]
    job = [line for line in lines if line.startswith("[dry-run] parity:")]
    assert len(sampler) == 1 and len(job) == 1, "\n".join(lines)
    assert lines.index(sampler[0]) < lines.index(job[0])  # sample first, then score
    return sampler[0], job[0]


def _check_split(sampler: str, job: str, run_dir: Path, gen_python: str) -> None:
    samples = run_dir / "iter_0" / "parity.tmp" / "samples"
    assert f"{gen_python} -m nemo_drift.generation.sampler --root {samples} " in sampler
    assert "(model " + str(run_dir / "iter_0" / "export" / "hf") + ")" in sampler
    assert "-m nemo_drift.megatron.jobs parity " in job and f"samples={samples / 'samples.jsonl'}" in job
    assert gen_python not in job and " hf=" not in job
    assert not list(run_dir.glob("iter_*"))  # a dry run starts nothing


def test_local_dry_run_samples_in_the_controller(tmp_path):
    from nemo_drift.config.generation import DEFAULT_GEN_PYTHON

    sampler, job = _parity_lines(tmp_path, [])
    _check_split(sampler, job, tmp_path / "drift_smollm2", str(DEFAULT_GEN_PYTHON))
    assert "srun" not in sampler and "srun" not in job


def test_srun_dry_run_samples_through_the_generation_launcher(tmp_path):
    """On a cluster the sampler is its own srun step (one replica: a handful of prompts), and the
    Megatron job its own srun step over every training rank."""
    from nemo_drift.config.generation import DEFAULT_GEN_PYTHON

    sampler, job = _parity_lines(tmp_path, ["model=qwen2_5_7b", "cluster=slurm_h100", "cluster.nodes=2"], SLURM)
    _check_split(sampler, job, tmp_path / "drift_smollm2", str(DEFAULT_GEN_PYTHON))
    assert sampler.startswith("[dry-run] parity sampler replica 0: srun ") and "--ntasks=1" in sampler
    assert job.startswith("[dry-run] parity: srun ") and "--ntasks=16" in job
