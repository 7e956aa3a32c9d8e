"""The `cluster` config group: where stages run (this machine or a SLURM allocation), the card's
memory, container settings, and the throughput assumptions the planner turns into time estimates.

Throughput assumptions are stated, not measured on every card: the defaults come from one H100
(docs/gpu-measurements.md: DPO step at 0.36 MFU for the 1.5B shape with precomputed
reference log-probs; Megatron-Bridge build+load+export of 0.5B at ~54 MB/s). `nemo-drift plan` prints
them next to every estimate so a reader can rescale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from nemo_drift.config.capabilities import Capabilities
from nemo_drift.config.declare import setting
from nemo_drift.config.paths import venv_python

_LAUNCHERS = ("local", "srun")


@dataclass
class ClusterConfig:
    """Settings of the machines a run uses (`cluster.*` on the command line)."""

    launcher: str = setting("local", invalidates=())
    """"local": subprocess/torchrun on this machine; "srun": one srun step per stage inside the job."""
    nodes: int = setting(1, invalidates=())
    """Nodes of the allocation (the SLURM scripts set it from SLURM_NNODES)."""
    gpus_per_node: int = setting(0, invalidates=())
    """GPUs per node (0: CPU-only; ranks are gloo processes, `cpu_ranks` of them)."""
    cpu_ranks: int = setting(1, invalidates=())
    """Training ranks on a CPU-only machine (gloo); ignored when gpus_per_node > 0."""
    gpu_memory_gib: float = setting(80.0, invalidates=())
    """Memory of one card in GiB (H100 SXM: 80; H200: 141). The planner refuses layouts above
    gpu_memory_gib - memory_headroom_gib."""
    memory_headroom_gib: float = setting(4.0, invalidates=())
    """Memory the planner keeps free per GPU: CUDA context (~0.5), NCCL buffers, allocator fragmentation."""
    train_python: str = setting(str(venv_python("train")), invalidates=())
    """Interpreter of the Megatron stages (import, reference, train, export, parity scoring), as a path
    valid where they run: with `container_image`, the venv built inside that image (`make
    setup-container`: .venv/train-container/bin/python); else an environment the nodes share."""
    container_image: Optional[str] = setting(None, invalidates=())
    """pyxis/enroot image of the Megatron stages (`srun --container-image`), e.g.
    `nvcr.io#nvidia/pytorch:25.09-py3` or a squashfs file; None runs them in the nodes' own environment."""
    generation_image: Optional[str] = setting(None, invalidates=())
    """Image of the vLLM replicas (with `generation.python` inside it); None runs them in the nodes' own
    environment. Separate from `container_image`: vLLM pins its own torch."""
    container_mounts: str = setting("", invalidates=())
    """Extra `src:dst[:flags][,...]` mounts for both images. The repo, the run folder, the model and
    reference folders and, for a hub id, the Hugging Face cache are mounted at their own paths
    without being listed (nemo_drift/controller/container.py)."""
    capabilities: str = setting("", invalidates=())
    """Probe file of the training environment (`nemo-drift probe`: torch, CUDA, Transformer Engine,
    Apex, GPUs): decides settings that need TE on srun runs. The slurm/ scripts probe by themselves."""
    srun_extra_args: list[str] = setting(default_factory=list, invalidates=())
    """Extra srun flags for every step, e.g. ["--mpi=pmix", "--cpu-bind=none"]."""
    master_port: int = setting(0, invalidates=())
    """Rendezvous port for training steps (0: 20000 + job id mod 20000, as launcher_env derives it)."""
    peak_tflops: float = setting(989.0, invalidates=())
    """Dense bf16 peak of one card (H100 SXM: 989; measured matmul ceiling 792, docs/gpu-measurements.md)."""
    train_mfu: float = setting(0.35, invalidates=())
    """Model FLOPs utilisation of a DPO step (measured 0.36 on one H100, 1.5B, SDPA, precomputed ref;
    assumed to hold with TP/PP at 7B-72B: an assumption, not a measurement)."""
    generation_mfu: float = setting(0.06, invalidates=())
    """vLLM decode utilisation: output tokens/s x 2 x params / peak (assumed, typical of batched decode;
    not measured here)."""
    export_gb_per_s: float = setting(0.054, invalidates=())
    """Megatron -> HF export speed per model-parallel rank in GB/s (measured 0.054 for 0.5B incl. build)."""
    plan_pairs: int = setting(10632, invalidates=())
    """Pairs per iteration assumed by the time estimate (WildFeedback's DSAT examples: 10,632)."""
    plan_sequence_tokens: Optional[int] = setting(None, invalidates=())
    """Mean tokens of a training sequence (prompt + reply) assumed by the time estimate when micro-batches are
    packed (trainer.packing): packed rows compute only real tokens. None: every sequence seq_length long (the
    upper bound, and what padded micro-batches cost at most). The data summary's token counts give it."""
    plan_prompt_tokens: int = setting(1024, invalidates=())
    """Prompt tokens per sample assumed for vLLM prefill and KV sizing: a typical prompt (the paper's training
    prompt limit, 1024); a single sampling prompt may take up to `generation.max_prompt_tokens`."""

    @property
    def on_gpu(self) -> bool:
        """True when the run has GPUs."""
        return self.gpus_per_node > 0

    @property
    def world_size(self) -> int:
        """Training ranks: one per GPU over all nodes, or `cpu_ranks` gloo processes."""
        return self.nodes * self.gpus_per_node if self.on_gpu else self.cpu_ranks

    def stage_capabilities(self) -> Capabilities:
        """What the environment of the Megatron stages can do (nemo_drift/config/capabilities.py); raises
        ValueError naming `cluster.capabilities` when its file cannot be read."""
        if self.capabilities:
            try:
                return Capabilities.load(self.capabilities)
            except ValueError as err:
                raise ValueError(f"cluster.capabilities: {err}") from err
        if self.launcher == "local":
            return Capabilities.of_this_machine()
        if self.container_image:
            return Capabilities.unknown(f"the training image {self.container_image}")
        return Capabilities.unknown(f"the training environment on the nodes ({self.train_python})")

    def validate(self) -> list[str]:
        """One message per bad setting, each naming the `cluster.<key>` to change."""
        errors: list[str] = []
        if self.launcher not in _LAUNCHERS:
            errors.append(f"cluster.launcher: {self.launcher!r} is not one of {_LAUNCHERS}")
        for key in ("nodes", "cpu_ranks", "plan_pairs", "plan_prompt_tokens"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                errors.append(f"cluster.{key}: {value!r} must be a positive integer")
        tokens = self.plan_sequence_tokens
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
            errors.append(f"cluster.plan_sequence_tokens: {tokens!r} must be a positive integer or null")
        if isinstance(self.gpus_per_node, bool) or not isinstance(self.gpus_per_node, int) or self.gpus_per_node < 0:
            errors.append(f"cluster.gpus_per_node: {self.gpus_per_node!r} must be >= 0 (0 = CPU)")
        if self.launcher == "local" and self.nodes > 1:
            errors.append(f"cluster.nodes: {self.nodes} nodes need cluster.launcher=srun")
        for key in ("gpu_memory_gib", "peak_tflops", "export_gb_per_s"):
            if not getattr(self, key) > 0:
                errors.append(f"cluster.{key}: {getattr(self, key)!r} must be > 0")
        if not 0 <= self.memory_headroom_gib < self.gpu_memory_gib:
            errors.append(f"cluster.memory_headroom_gib: {self.memory_headroom_gib!r} must be in [0, gpu_memory_gib)")
        for key in ("train_mfu", "generation_mfu"):
            if not 0 < getattr(self, key) <= 1:
                errors.append(f"cluster.{key}: {getattr(self, key)!r} must be in (0, 1]")
        for mount in filter(None, self.container_mounts.split(",")):
            src, _, rest = mount.partition(":")
            dst = rest.split(":")[0]
            if not (src.startswith("/") and dst.startswith("/")):
                errors.append(f"cluster.container_mounts: {mount!r} is not src:dst[:flags] with absolute paths")
        if self.launcher == "local":
            for key in ("container_image", "generation_image"):
                if getattr(self, key):
                    errors.append(f"cluster.{key}: containers are started by srun (pyxis); set cluster.launcher=srun "
                                  f"or cluster.{key}=null")
        if not 0 <= self.master_port < 65536:
            errors.append(f"cluster.master_port: {self.master_port!r} is not a port")
        return errors
