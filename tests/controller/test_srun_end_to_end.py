"""A whole `nemo-drift run` through the srun launcher (tiny Qwen2, one iteration), with a fake `srun`
that starts local processes the way srun starts tasks (SLURM cannot exist here): the probe step, every
Megatron stage at world size 2 with TP 2, and two vLLM replicas sampling one shard folder."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FAKE_SRUN = '''#!{python}
"""Fake srun: --ntasks tasks on this host with srun's per-task variables; one JSON line per step in
$FAKE_SRUN_LOG. No container runtime here: a step that asks for one is refused."""
import json, os, subprocess, sys
args = sys.argv[1:]
opts = {{}}
while args and args[0].startswith("--"):
    key, _, value = args.pop(0)[2:].partition("=")
    opts[key] = value
if "container-image" in opts:
    sys.exit("fake srun: no container runtime on this machine")
n = int(opts.get("ntasks", "1"))
per_node = int(opts.get("ntasks-per-node", n))
with open(os.environ["FAKE_SRUN_LOG"], "a") as log:
    log.write(json.dumps({{"opts": opts, "program": args}}) + "\\n")
extra = dict(kv.split("=", 1) for kv in opts.get("export", "ALL").split(",")[1:])
procs = [subprocess.Popen(args, env={{**os.environ, **extra, "SLURM_PROCID": str(i), "SLURM_NTASKS": str(n),
                                      "SLURM_LOCALID": str(i % per_node), "SLURM_NODEID": str(i // per_node)}})
         for i in range(n)]
codes = [p.wait() for p in procs]
sys.exit(max(codes))
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def srun_run(tmp_path_factory, tiny_qwen_path, gen_python) -> dict:
    root = tmp_path_factory.mktemp("srun_e2e")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text(FAKE_SRUN.format(python=sys.executable))
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    log = root / "srun.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "RANK", "WORLD_SIZE"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", SLURM_JOB_NODELIST="localhost", SLURM_JOB_ID="77",
               FAKE_SRUN_LOG=str(log), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "nemo_drift.cli", "run", f"run.root={root}", "run.name=srun", "model=tiny_qwen2",
           "cluster.launcher=srun", "cluster.cpu_ranks=2", f"cluster.master_port={_free_port()}",
           "model.tensor_model_parallel_size=2", "generation.replicas=2", "generation.prompts_per_shard=2",
           f"generation.python={gen_python}", "method.iterations=1", "method.max_examples=8",
           "method.warm_start=false", "trainer.wandb_mode=disabled"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env, cwd=root)
    assert proc.returncode == 0, f"run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    steps = [json.loads(line) for line in log.read_text().splitlines()]
    return {"run_dir": root / "srun", "steps": steps, "stdout": proc.stdout}


def test_every_stage_ran_as_an_srun_step(srun_run):
    steps = srun_run["steps"]
    names = [s["opts"]["job-name"] for s in steps]
    assert names[0] == "probe" and steps[0]["opts"]["ntasks"] == "1"
    for job in ("import", "reference", "train", "export", "parity"):
        assert job in names, names
    for step in steps:
        if step["opts"]["job-name"] in ("reference", "train", "parity"):
            assert step["opts"]["ntasks"] == "2" and step["program"][1:3] == ["-m", "nemo_drift.megatron.jobs"]
    probe = json.loads((srun_run["run_dir"] / "capabilities.json").read_text())
    assert probe["schema"] == 1 and probe["transformer_engine"] is None and probe["gpus_visible"] == 0
    assert "probe " in srun_run["stdout"] and "Transformer Engine absent" in srun_run["stdout"]


def test_two_replicas_split_the_shards_and_merge_in_order(srun_run):
    replicas = [s for s in srun_run["steps"] if s["opts"]["job-name"].startswith("vllm-r")]
    generate = [s for s in replicas if "/iter_1/generate" in " ".join(s["program"])]
    assert sorted(s["opts"]["job-name"] for s in generate) == ["vllm-r0", "vllm-r1"]
    shards = [set(s["program"][s["program"].index("--shards") + 1].split(",")) for s in generate]
    assert shards[0] and shards[1] and not shards[0] & shards[1]
    gen_dir = srun_run["run_dir"] / "iter_1" / "generate"
    summary = json.loads((gen_dir / "summary.json").read_text())
    assert summary["shards_total"] == len(shards[0] | shards[1]) == summary["shards_run"]
    requests = [json.loads(line)["prompt_id"] for shard in sorted((gen_dir / "shards").glob("requests_*.jsonl"))
                for line in shard.read_text().splitlines()]
    merged = [json.loads(line)["prompt_id"] for line in (gen_dir / "samples.jsonl").read_text().splitlines()]
    assert requests and list(dict.fromkeys(merged)) == requests  # every prompt, in request order


def test_training_at_tp2_finished_the_iteration(srun_run):
    run_dir = srun_run["run_dir"]
    for stage in ("generate", "pairs", "reference", "train", "export"):
        assert (run_dir / "iter_1" / stage / "manifest.json").is_file(), stage
    assert json.loads((run_dir / "iter_0" / "parity" / "parity.json").read_text())["ok"] is True
    steps = [json.loads(line) for line in (run_dir / "iter_1" / "train" / "metrics.jsonl").read_text().splitlines()]
    assert steps and all(s["loss"] == s["loss"] for s in steps)  # finite, not NaN
