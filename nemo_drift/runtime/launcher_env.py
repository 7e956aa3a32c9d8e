"""Where this process sits in the job: read torchrun or SLURM environment variables.

torchrun sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT. Under `srun` (one task per GPU)
SLURM sets SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID/SLURM_JOB_NODELIST; the rendezvous address is
MASTER_ADDR/MASTER_PORT when the batch script exports them, else the first node of the allocation and
a port derived from the job id (the same on every task, so no coordination is needed). Without either,
the process is a single rank on a free local port.
"""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import Literal, Mapping

Launcher = Literal["torchrun", "slurm", "single"]


@dataclass(frozen=True)
class LaunchInfo:
    """Rank layout and rendezvous address as given by the launcher."""

    launcher: Launcher
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


def first_slurm_host(nodelist: str) -> str:
    """The first hostname of a SLURM nodelist: "gpu[003-005,010],cpu1" -> "gpu003"."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if match is None:
        raise ValueError(f"cannot parse SLURM_JOB_NODELIST={nodelist!r}")
    prefix, ranges = match.group(1), match.group(2)
    if ranges is None:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first


def free_port() -> int:
    """A TCP port that is free on this host right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_launch_env(env: Mapping[str, str] | None = None) -> LaunchInfo:
    """Read the launcher's variables (torchrun first, then SLURM, else a single local process)."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        return LaunchInfo("torchrun", int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")),
                          env.get("MASTER_ADDR", "127.0.0.1"), int(env.get("MASTER_PORT", "29500")))
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        addr = env.get("MASTER_ADDR") or first_slurm_host(env.get("SLURM_JOB_NODELIST", "127.0.0.1"))
        port = int(env.get("MASTER_PORT") or 20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000)
        return LaunchInfo("slurm", int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]),
                          int(env.get("SLURM_LOCALID", "0")), addr, port)
    return LaunchInfo("single", 0, 1, 0, "127.0.0.1", free_port())
