"""Distributed start-up: process group, megatron parallel state, device, seeds.

`init_distributed` is the one call a stage entry point makes before building a model. It reads the
launcher (torchrun, SLURM, or none; see launcher_env.py), starts torch.distributed (NCCL on GPU, gloo on
CPU), applies the CPU patches for megatron-core when there is no GPU (cpu_support.py), initialises
megatron's tensor/pipeline/context/data parallel groups, and seeds every RNG.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from nemo_drift.runtime.cpu_support import apply_cpu_support
from nemo_drift.runtime.launcher_env import Launcher, read_launch_env


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job, and the parallel layout megatron was initialised with."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str
    launcher: Launcher
    tp_size: int
    pp_size: int
    cp_size: int
    dp_size: int
    tp_rank: int
    pp_rank: int
    cp_rank: int
    dp_rank: int

    @property
    def is_first_stage(self) -> bool:
        """True on the pipeline stage that holds the embedding."""
        return self.pp_rank == 0

    @property
    def is_last_stage(self) -> bool:
        """True on the pipeline stage that computes logits (and losses)."""
        return self.pp_rank == self.pp_size - 1


def _start_process_group(backend: str, timeout_minutes: int) -> Launcher:
    info = read_launch_env()
    if info.launcher == "single":
        # A fresh port, never an inherited MASTER_PORT: a parent process that ran init_distributed itself
        # (pytest, a notebook) exports its own port, still bound by its store (EADDRINUSE in children).
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = info.master_addr, str(info.master_port)
    else:
        os.environ.setdefault("MASTER_ADDR", info.master_addr)
        os.environ.setdefault("MASTER_PORT", str(info.master_port))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size,
                                timeout=datetime.timedelta(minutes=timeout_minutes))
    return info.launcher


def init_distributed(tensor_parallel: int = 1, pipeline_parallel: int = 1, context_parallel: int = 1,
                     seed: int = 1234, timeout_minutes: int = 30) -> DistEnv:
    """Start (or reuse) the process group, initialise megatron parallel state, seed; return the layout.

    Safe to call again in the same process: the process group is reused and megatron's groups are
    rebuilt when the requested layout differs.
    """
    from megatron.core import parallel_state as ps

    on_gpu = torch.cuda.is_available()
    if not on_gpu:
        apply_cpu_support()
    launcher = _start_process_group("nccl" if on_gpu else "gloo", timeout_minutes)
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0")))
    if on_gpu:
        torch.cuda.set_device(local_rank)
    model_parallel = tensor_parallel * pipeline_parallel * context_parallel
    if world % model_parallel:
        raise ValueError(f"world size {world} is not divisible by TP {tensor_parallel} x PP {pipeline_parallel} "
                         f"x CP {context_parallel}: change model.tensor_model_parallel_size / "
                         "pipeline_model_parallel_size / context_parallel_size or the number of processes")
    if ps.model_parallel_is_initialized():
        same = (ps.get_tensor_model_parallel_world_size(), ps.get_pipeline_model_parallel_world_size(),
                ps.get_context_parallel_world_size()) == (tensor_parallel, pipeline_parallel, context_parallel)
        if not same:
            ps.destroy_model_parallel()
    if not ps.model_parallel_is_initialized():
        ps.initialize_model_parallel(tensor_model_parallel_size=tensor_parallel,
                                     pipeline_model_parallel_size=pipeline_parallel,
                                     context_parallel_size=context_parallel,
                                     distributed_timeout_minutes=timeout_minutes)
    from nemo_drift.runtime.rng import seed_everything

    seed_everything(seed)
    return DistEnv(
        rank=rank, world_size=world, local_rank=local_rank,
        device=torch.device("cuda", local_rank) if on_gpu else torch.device("cpu"),
        backend=dist.get_backend(), launcher=launcher,
        tp_size=tensor_parallel, pp_size=pipeline_parallel, cp_size=context_parallel,
        dp_size=ps.get_data_parallel_world_size(),
        tp_rank=ps.get_tensor_model_parallel_rank(), pp_rank=ps.get_pipeline_model_parallel_rank(),
        cp_rank=ps.get_context_parallel_rank(), dp_rank=ps.get_data_parallel_rank(),
    )


def teardown_distributed() -> None:
    """Destroy megatron's parallel groups and the process group (no-op when nothing is initialised)."""
    from megatron.core import parallel_state as ps

    if ps.model_parallel_is_initialized():
        ps.destroy_model_parallel()
    if dist.is_initialized():
        dist.destroy_process_group()
