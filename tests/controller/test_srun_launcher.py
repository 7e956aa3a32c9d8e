"""SrunLauncher: nodelist expansion, per-task environment, and the rank/world wiring of 2 processes
under a fake `srun` (SLURM cannot exist here; the fake spawns tasks with the variables srun sets) equal
to what the local torchrun launcher gives, each process joining a real gloo group."""
from __future__ import annotations

import json
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from nemo_drift.config.cluster import ClusterConfig
from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.launcher import LaunchSpec, LocalLauncher
from nemo_drift.controller.srun import SrunLauncher, expand_nodelist, generation_layout
from nemo_drift.runtime.launcher_env import read_launch_env

PROBE = '''
import json, os, sys
import torch.distributed as dist
from nemo_drift.runtime.launcher_env import read_launch_env
info = read_launch_env()
dist.init_process_group("gloo", init_method=f"tcp://{info.master_addr}:{info.master_port}", rank=info.rank,
                        world_size=info.world_size)
import torch
total = torch.tensor([float(info.rank + 1)])
dist.all_reduce(total)
out = {"rank": info.rank, "world": info.world_size, "local": info.local_rank, "sum": total.item()}
open(os.path.join(sys.argv[1], f"rank{info.rank}.json"), "w").write(json.dumps(out))
dist.destroy_process_group()
'''

FAKE_SRUN = '''#!{python}
"""Fake srun: --ntasks tasks on this host with srun's per-task variables (block distribution)."""
import os, subprocess, sys
args = sys.argv[1:]
opts = {{}}
while args and args[0].startswith("--"):
    key, _, value = args.pop(0)[2:].partition("=")
    opts[key] = value
n, per_node = int(opts["ntasks"]), int(opts["ntasks-per-node"])
extra = dict(kv.split("=", 1) for kv in opts.get("export", "ALL").split(",")[1:])
procs = [subprocess.Popen(args, env={{**os.environ, **extra, "SLURM_PROCID": str(i), "SLURM_NTASKS": str(n),
                                      "SLURM_LOCALID": str(i % per_node), "SLURM_NODEID": str(i // per_node)}})
         for i in range(n)]
sys.exit(max(p.wait() for p in procs))
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_expand_nodelist_and_generation_layout() -> None:
    assert expand_nodelist("gpu[003-004,010],cpu1") == ["gpu003", "gpu004", "gpu010", "cpu1"]
    places = generation_layout(["a", "b"], 8, 4)
    assert [(p.node, p.first_gpu) for p in places] == [("a", 0), ("a", 4), ("b", 0), ("b", 4)]


def test_task_env_is_what_launcher_env_reads() -> None:
    launcher = SrunLauncher(DriftConfig(cluster=ClusterConfig(launcher="srun", nodes=2, gpus_per_node=8)),
                            env={"SLURM_JOB_NODELIST": "gpu[001-002]", "SLURM_JOB_ID": "77"})
    spec = LaunchSpec("train", "m", [], python="/venv/bin/python", nproc=16)
    infos = [read_launch_env(launcher.task_env(spec, r)) for r in range(16)]
    assert [(i.rank, i.world_size, i.local_rank) for i in infos] == [(r, 16, r % 8) for r in range(16)]
    assert {(i.master_addr, i.master_port) for i in infos} == {("gpu001", 20077)}


@pytest.mark.slow
def test_two_process_wiring_srun_equals_torchrun(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "rank_probe.py").write_text(PROBE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text(FAKE_SRUN.format(python=sys.executable))
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    repo = str(Path(__file__).resolve().parents[2])
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "RANK", "WORLD_SIZE"))}
    pythonpath = f"{pkg}{os.pathsep}{repo}"
    results = {}
    for name in ("torchrun", "srun"):
        out = tmp_path / name
        out.mkdir()
        spec = LaunchSpec(name, "rank_probe", [str(out)], python=sys.executable, nproc=2, env={"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"},
                          log_path=tmp_path / f"{name}.log", timeout_s=120)
        if name == "torchrun":
            LocalLauncher().run(spec)
        else:
            env = {**base_env, "PATH": f"{bin_dir}{os.pathsep}{base_env['PATH']}", "SLURM_JOB_NODELIST": "localhost",
                   "SLURM_JOB_ID": "1"}
            cluster = ClusterConfig(launcher="srun", nodes=1, gpus_per_node=2, master_port=_free_port())
            launcher = SrunLauncher(DriftConfig(cluster=cluster), env=env)
            assert "--ntasks=2" in launcher.command(spec) and "--ntasks-per-node=2" in launcher.command(spec)
            launcher.run(spec)
        results[name] = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert results["srun"] == results["torchrun"] == [
        {"rank": 0, "world": 2, "local": 0, "sum": 3.0}, {"rank": 1, "world": 2, "local": 1, "sum": 3.0}]
