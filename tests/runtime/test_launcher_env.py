"""Launcher environment parsing: torchrun, SLURM (faked variables: no allocation exists here), single."""
from __future__ import annotations

from nemo_drift.runtime.launcher_env import first_slurm_host, read_launch_env


def test_torchrun_variables():
    info = read_launch_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "n1", "MASTER_PORT": "1234"})
    assert (info.launcher, info.rank, info.world_size, info.local_rank, info.master_addr, info.master_port) == \
        ("torchrun", 3, 8, 1, "n1", 1234)


def test_slurm_variables_without_master():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "5", "SLURM_JOB_ID": "4242",
           "SLURM_JOB_NODELIST": "gpu[003-004,010],cpu1"}
    info = read_launch_env(env)
    assert (info.launcher, info.rank, info.world_size, info.local_rank) == ("slurm", 5, 16, 5)
    assert info.master_addr == "gpu003"
    assert info.master_port == 20000 + 4242 % 20000
    assert read_launch_env({**env, "MASTER_ADDR": "head", "MASTER_PORT": "777"}).master_port == 777


def test_single_process_fallback():
    info = read_launch_env({})
    assert (info.launcher, info.rank, info.world_size) == ("single", 0, 1)
    assert 0 < info.master_port < 65536


def test_first_slurm_host():
    assert first_slurm_host("node7") == "node7"
    assert first_slurm_host("a[1-3]") == "a1"
    assert first_slurm_host("h[09,12]x") == "h09"
