"""Stages as `srun` job steps inside a SLURM allocation: the cluster side of the Launcher protocol.

The batch script (slurm/common.sh) runs the controller once on the first node; every stage that needs
GPUs becomes one `srun` step:
  training / reference / import / export: `srun --nodes N --ntasks R --ntasks-per-node K --gpus-per-node K
      --gpu-bind=none --export=ALL,MASTER_ADDR=<first node>,MASTER_PORT=<port> python -m module args`.
      srun gives each task SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID, which
      nemo_drift/runtime/launcher_env.py reads (no torchrun). Every task sees all K GPUs of its node and
      picks cuda:SLURM_LOCALID (runtime/distributed.py), so GPUs are not masked per task
      (`--gpu-bind=none`; a per-task mask would make local rank 3 see only cuda:0).
  generation: one single-task step per vLLM replica, pinned to a node, `--gpus-per-task=TP --exact`,
      so 8 / TP replicas share a node and SLURM sets each step's CUDA_VISIBLE_DEVICES. Replicas share
      nothing but the shard folder. On CPU nodes: `generation.replicas` replicas over the nodes.
Example: 2 nodes x 8 GPUs, training: 16 ranks, ranks 0-7 on node 0 (local 0-7), 8-15 on node 1.
Containers: Megatron steps run in `cluster.container_image` with `cluster.train_python`, replicas in
`cluster.generation_image` with `generation.python` (either may be none); flags in container.py.
"""
from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import IO, Mapping, Optional, Sequence

from nemo_drift.config.paths import REPO_ROOT
from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.container import SCRUBBED_ENV, container_flags
from nemo_drift.controller.launcher import LaunchSpec, StageFailed, log_tail


def expand_nodelist(nodelist: str) -> list[str]:
    """SLURM's compressed hostlist -> hostnames: "gpu[003-004,010],cpu1" -> gpu003 gpu004 gpu010 cpu1
    (what `scontrol show hostnames` prints; zero padding kept)."""
    hosts: list[str] = []
    for prefix, ranges, plain in re.findall(r"([^,\[]+)\[([^\]]+)\]|([^,\[\]]+)", nodelist.strip()):
        if plain:
            hosts.append(plain)
            continue
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            hosts += [f"{prefix}{i:0{len(lo)}d}" for i in range(int(lo), int(hi or lo) + 1)]
    return hosts


@dataclass(frozen=True)
class ReplicaPlacement:
    """Where one vLLM replica runs: a node and TP GPUs of it."""

    replica: int
    node: str
    first_gpu: int
    tp: int


def generation_layout(nodes: list[str], gpus_per_node: int, tp: int, cpu_replicas: int = 1) -> list[ReplicaPlacement]:
    """One replica per TP group over all nodes: replicas = nodes x gpus_per_node / TP. Without GPUs,
    `cpu_replicas` replicas spread over the nodes.

    Example: 2 nodes x 8 GPUs, TP 4 -> 4 replicas: node0 GPUs 0-3, node0 4-7, node1 0-3, node1 4-7.
    """
    if gpus_per_node == 0:
        return [ReplicaPlacement(i, nodes[i % len(nodes)], 0, tp) for i in range(cpu_replicas)]
    if tp < 1 or gpus_per_node % tp:
        raise ValueError(f"generation.tensor_parallel_size: {tp} must divide cluster.gpus_per_node {gpus_per_node} "
                         "(a vLLM replica never spans nodes)")
    per_node = gpus_per_node // tp
    return [ReplicaPlacement(i, nodes[i // per_node], (i % per_node) * tp, tp) for i in range(len(nodes) * per_node)]


def step_env(env: Mapping[str, str], image: Optional[str]) -> dict[str, str]:
    """The environment srun exports into a step: the controller's, without host Python variables when the
    step runs in a container."""
    return {k: v for k, v in env.items() if not (image and k in SCRUBBED_ENV)}


def replica_env(env: Mapping[str, str], image: Optional[str]) -> dict[str, str]:
    """A vLLM replica step's environment: the step's binding decides CUDA_VISIBLE_DEVICES; in an image,
    host Python variables are dropped and the mounted checkout is the only PYTHONPATH, so an image's own
    interpreter without nemo-drift installed still finds the sampler."""
    out = {k: v for k, v in step_env(env, image).items() if k != "CUDA_VISIBLE_DEVICES"}
    if image:
        out["PYTHONPATH"] = str(REPO_ROOT)
    return out


class SrunLauncher:
    """Launcher protocol (command/run) over srun; `.generation` starts vLLM replicas as srun steps."""

    def __init__(self, cfg: DriftConfig, mounts: Sequence[str] = (), env: Optional[Mapping[str, str]] = None) -> None:
        self.cluster = cfg.cluster
        self.mounts = list(mounts)
        """`src:dst` container mounts (container.mounts of the run config)."""
        self.env = dict(os.environ if env is None else env)
        self.generation = SrunReplicaLauncher(self, cfg.generation.tensor_parallel_size, cfg.generation.replicas)

    # --- layout -----------------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        """Hostnames of the allocation (SLURM_JOB_NODELIST)."""
        return expand_nodelist(self.env.get("SLURM_JOB_NODELIST", "localhost"))

    def master_addr(self) -> str:
        """Rendezvous host: MASTER_ADDR when the batch script exported it, else the first node."""
        return self.env.get("MASTER_ADDR") or self.nodes[0]

    def master_port(self) -> int:
        """cluster.master_port, else 20000 + job id mod 20000 (launcher_env.py derives the same)."""
        return self.cluster.master_port or 20000 + int(self.env.get("SLURM_JOB_ID", "0")) % 20000

    def tasks_per_node(self, nproc: int) -> tuple[int, int]:
        """(nodes, tasks per node) for `nproc` ranks, filling nodes GPU by GPU (srun's block distribution)."""
        per_node = self.cluster.gpus_per_node or math.ceil(nproc / self.cluster.nodes)
        per_node = min(nproc, per_node)
        nodes = math.ceil(nproc / per_node)
        if nproc % per_node or nodes > self.cluster.nodes:
            raise ValueError(f"{nproc} ranks do not fill whole nodes of {per_node} GPUs within cluster.nodes="
                             f"{self.cluster.nodes}; change the parallel layout or the allocation")
        return nodes, per_node

    def task_env(self, spec: LaunchSpec, procid: int) -> dict[str, str]:
        """The variables srun gives task `procid` of this step (what launcher_env.py reads), plus ours."""
        nodes, per_node = self.tasks_per_node(spec.nproc)
        return {"SLURM_PROCID": str(procid), "SLURM_NTASKS": str(spec.nproc), "SLURM_LOCALID": str(procid % per_node),
                "SLURM_NODEID": str(procid // per_node), "SLURM_STEP_NUM_NODES": str(nodes),
                "SLURM_JOB_NODELIST": self.env.get("SLURM_JOB_NODELIST", "localhost"),
                "SLURM_JOB_ID": self.env.get("SLURM_JOB_ID", "0"),
                "MASTER_ADDR": self.master_addr(), "MASTER_PORT": str(self.master_port())}

    @property
    def job_id(self) -> str:
        return self.env.get("SLURM_JOB_ID", "0")

    # --- commands -----------------------------------------------------------------------------
    def container_args(self, image: Optional[str]) -> list[str]:
        """pyxis flags of a step in `image` (none without one)."""
        return container_flags(image, self.mounts, self.job_id)

    def command(self, spec: LaunchSpec) -> list[str]:
        """The srun line of a multi-rank stage (see module docstring)."""
        nodes, per_node = self.tasks_per_node(spec.nproc)
        gpus = [f"--gpus-per-node={per_node}", "--gpu-bind=none"] if self.cluster.on_gpu else []
        return ["srun", f"--job-name={spec.name}", f"--nodes={nodes}", f"--ntasks={spec.nproc}",
                f"--ntasks-per-node={per_node}", *gpus, "--kill-on-bad-exit=1",
                f"--export=ALL,MASTER_ADDR={self.master_addr()},MASTER_PORT={self.master_port()}",
                *self.container_args(spec.image), *self.cluster.srun_extra_args, spec.python, "-m", spec.module,
                *spec.args]

    def layout_note(self, spec: LaunchSpec) -> str:
        """Where the ranks of `spec` go, in words (printed above its dry-run line)."""
        nodes, per_node = self.tasks_per_node(spec.nproc)
        where = f"image {spec.image}" if spec.image else "no container"
        return (f"{spec.name}: world size {spec.nproc} = {nodes} node(s) x {per_node} tasks; rank r -> node r // "
                f"{per_node}, local rank r % {per_node}; {where}")

    def run(self, spec: LaunchSpec) -> None:
        """Run the srun step, streaming its output to the console and `spec.log_path`."""
        cmd = self.command(spec)
        env = step_env({**self.env, "PYTHONUNBUFFERED": "1", **spec.env}, spec.image)
        log = open(spec.log_path, "a") if spec.log_path else None  # noqa: SIM115 (closed below)
        try:
            proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=spec.timeout_s)
            code: Optional[int] = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if log:
                log.close()
        if code != 0:
            why = "timed out" if code is None else f"failed (exit {code})"
            raise StageFailed(f"stage {spec.name} {why}: {shlex.join(cmd)}\n"
                              f"--- last lines of {spec.log_path} ---\n{log_tail(spec.log_path)}")


class SrunReplicaLauncher:
    """The generation client's launcher protocol (`start(cmd, env, log, replica)`): replica r as one srun
    step on its node with TP GPUs (SLURM sets CUDA_VISIBLE_DEVICES for the step), in
    `cluster.generation_image` when one is set."""

    def __init__(self, parent: SrunLauncher, tp: int, cpu_replicas: int = 1) -> None:
        self.parent = parent
        self.tp = tp
        self.cpu_replicas = cpu_replicas

    @property
    def image(self) -> Optional[str]:
        return self.parent.cluster.generation_image

    def placements(self) -> list[ReplicaPlacement]:
        """Every replica's node and GPUs over the allocation."""
        return generation_layout(self.parent.nodes[: self.parent.cluster.nodes], self.parent.cluster.gpus_per_node,
                                 self.tp, self.cpu_replicas)

    def command(self, cmd: list[str], replica: int) -> list[str]:
        """srun line of replica `replica` (dry-run prints it)."""
        place = self.placements()[replica]
        gpus = [f"--gpus-per-task={self.tp}"] if self.parent.cluster.on_gpu else []
        return ["srun", f"--job-name=vllm-r{replica}", "--nodes=1", "--ntasks=1", f"--nodelist={place.node}",
                *gpus, "--exact", "--kill-on-bad-exit=1", "--export=ALL",
                *self.parent.container_args(self.image), *self.parent.cluster.srun_extra_args, *cmd]

    def start(self, cmd: list[str], env: dict[str, str], log: IO[bytes], replica: int) -> subprocess.Popen:
        """Start replica `replica` in its own session (a kill reaches vLLM's children)."""
        return subprocess.Popen(self.command(cmd, replica), env=replica_env(env, self.image), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
