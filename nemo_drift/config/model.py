"""Model settings: which checkpoint, how it is split over devices, numerics, attention backend.

One home for every model knob (DESIGN.md "Rules of the house"). `validate` returns one message per
problem, each naming the key to change, so a bad setting is caught before a job takes GPU hours.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from nemo_drift.config.architecture import ArchitectureConfig, resolve_architecture
from nemo_drift.config.capabilities import Capabilities, have_transformer_engine
from nemo_drift.config.declare import setting
from nemo_drift.config.families import (FAMILIES, describe_hf_config, family_for_hf_config, not_covered_reason,
                                        supported_names)

Precision = str  # "auto" | "bf16" | "fp32" (OmegaConf has no Literal: checked in validate)
Fp8 = Optional[str]  # None | "hybrid" | "e4m3"
Recompute = Optional[str]  # None | "selective" | "full"
AttentionBackend = str  # "auto" | "te" | "sdpa"

_PRECISIONS = ("auto", "bf16", "fp32")
_FP8 = (None, "hybrid", "e4m3")
_RECOMPUTE = (None, "selective", "full")
_BACKENDS = ("auto", "te", "sdpa")


@dataclass
class ModelConfig:
    """Settings for building the Megatron model from a Hugging Face checkpoint."""

    hf_path: str = setting("", invalidates=("import", "generate", "pairs"))
    """Hugging Face folder (or hub id when online) of the model to post-train; its config.json is read."""

    family: str = setting("", invalidates=())
    """Model family (nemo_drift/config/families.py: qwen2, qwen3, llama, gemma3): only families whose Megatron
    build is proven equal to Hugging Face's are trained. "" = take it from hf_path's config.json; a hub id not
    on disk needs it set (the presets set it). The checkpoint decides the model, so a change redoes nothing."""

    tensor_model_parallel_size: int = setting(1, invalidates=())
    """Tensor parallel degree: splits heads and the MLP; must divide the attention/KV heads."""

    pipeline_model_parallel_size: int = setting(1, invalidates=())
    """Pipeline parallel degree: splits the layers into stages; must divide num_hidden_layers."""

    context_parallel_size: int = setting(1, invalidates=())
    """Context parallel degree (splits the sequence in attention); needs Transformer Engine."""

    sequence_parallel: bool = setting(False, invalidates=())
    """Megatron sequence parallelism for LayerNorm/dropout regions (TP > 1); needs Transformer Engine."""

    precision: Precision = setting("auto", invalidates=("import", "reference", "train", "export", "parity"))
    """Parameter/compute dtype: "auto" = bf16 on GPU, fp32 on CPU (CPU bf16 matmuls are slow and inexact)."""

    fp8: Fp8 = setting(None, invalidates=("reference", "train"))
    """FP8 recipe format ("hybrid" or "e4m3"); None disables FP8. Needs Transformer Engine and a GPU."""

    recompute: Recompute = setting(None, invalidates=())
    """Activation recomputation: None, "selective" (core attention only) or "full" (whole layers)."""

    attention_backend: AttentionBackend = setting("auto", invalidates=("reference", "train"))
    """Core attention: "te" (Transformer Engine fused), "sdpa" (torch SDPA), "auto" = te if importable else sdpa."""

    seq_length: int = setting(2048, invalidates=("generate", "reference", "train"))
    """Maximum tokens per sequence (prompt + response); longer pairs are truncated by the data layer. It also
    sets the sampling prompt budget unless `generation.max_prompt_tokens` does, hence `generate`."""

    architecture: Optional[ArchitectureConfig] = setting(None, invalidates=())
    """Model shape for `nemo-drift plan` when hf_path is a hub id not on disk; a local config.json wins."""

    def hf_config(self) -> dict[str, Any] | None:
        """The checkpoint's config.json as a dict, or None when hf_path is not a local folder."""
        path = Path(self.hf_path) / "config.json" if self.hf_path else None
        if path is None or not path.is_file():
            return None
        return json.loads(path.read_text())

    def vllm_dtype(self, on_gpu: bool) -> str:
        """The dtype vLLM computes in to sample the policy as Megatron trains it (`precision`; "auto" = bf16 on
        GPU, fp32 on CPU, as the Megatron jobs resolve it). vLLM's own "auto" downcasts an fp32 checkpoint to
        bf16 on CPU (log: "Downcasting torch.float32 to torch.bfloat16"): a 1.06 parity error on SmolLM2,
        and slower decoding on CPUs without bf16 instructions (docs/vllm-cpu.md)."""
        fp32 = self.precision == "fp32" or (self.precision == "auto" and not on_gpu)
        return "float32" if fp32 else "bfloat16"

    def resolved_attention_backend(self) -> str:
        """The backend that will be used: "te" or "sdpa"."""
        if self.attention_backend == "auto":
            return "te" if have_transformer_engine() else "sdpa"
        return self.attention_backend

    def validate(self, world_size: int | None = None) -> list[str]:
        """One message per problem, each naming the `model.<key>` to change; empty when valid."""
        errors: list[str] = []
        tp, pp, cp = self.tensor_model_parallel_size, self.pipeline_model_parallel_size, self.context_parallel_size
        if not self.hf_path:
            errors.append("model.hf_path: empty; set it to a Hugging Face model folder")
        for key, value in (("tensor_model_parallel_size", tp), ("pipeline_model_parallel_size", pp),
                           ("context_parallel_size", cp), ("seq_length", self.seq_length)):
            if not isinstance(value, int) or value < 1:
                errors.append(f"model.{key}: {value!r} must be a positive integer")
        if errors:
            return errors
        if self.precision not in _PRECISIONS:
            errors.append(f"model.precision: {self.precision!r} is not one of {_PRECISIONS}")
        if self.fp8 not in _FP8:
            errors.append(f"model.fp8: {self.fp8!r} is not one of {_FP8}")
        elif self.fp8 is not None and self.precision == "fp32":
            errors.append("model.fp8: FP8 runs on top of bf16; set model.precision=bf16 (or auto) or model.fp8=null")
        if self.recompute not in _RECOMPUTE:
            errors.append(f"model.recompute: {self.recompute!r} is not one of {_RECOMPUTE}")
        if self.attention_backend not in _BACKENDS:
            errors.append(f"model.attention_backend: {self.attention_backend!r} is not one of {_BACKENDS}")
        errors.extend(self.family_problems(self.hf_config()))
        if self.sequence_parallel and tp == 1:
            errors.append("model.sequence_parallel: only meaningful with model.tensor_model_parallel_size > 1")
        if cp > 1 and self.seq_length % (2 * cp) != 0:
            errors.append(f"model.seq_length: {self.seq_length} must be a multiple of 2 * context_parallel_size = {2 * cp}")
        if world_size is not None and world_size % (tp * pp * cp) != 0:
            errors.append(f"model.tensor_model_parallel_size: TP {tp} x PP {pp} x CP {cp} = {tp * pp * cp} "
                          f"does not divide the world size {world_size}")
        errors.extend(self._validate_against_shape(tp, pp))
        return errors

    def family_problems(self, hf_config: Optional[Mapping[str, Any]]) -> list[str]:
        """`model.family` against the registry and against the checkpoint's config.json (`hf_config`, None when
        not on disk): one message per problem."""
        if self.family and self.family not in FAMILIES:
            return [f"model.family: {self.family!r} is not a supported family; supported: {supported_names()} "
                    "(docs/model-families.md)"]
        if hf_config is None:
            if self.family:
                return []
            return [f"model.family: empty, and model.hf_path {self.hf_path!r} has no local config.json to read the "
                    f"family from; set model.family to the checkpoint's family ({supported_names()}) or point "
                    "model.hf_path at a local Hugging Face folder"]
        found = family_for_hf_config(hf_config)
        where = f"{self.hf_path}/config.json"
        if found is None:
            reason = not_covered_reason(hf_config)
            return [f"model.hf_path: {where} ({describe_hf_config(hf_config)}) is in no supported family "
                    f"({supported_names()}){'; it is ' + reason if reason else ''}; nemo-drift refuses to train a "
                    "model whose Megatron build is not proven equal to Hugging Face's (docs/model-families.md)"]
        if self.family and self.family != found.name:
            return [f"model.family: {self.family!r}, but {where} ({describe_hf_config(hf_config)}) is family "
                    f"{found.name!r}; set model.family={found.name}, or model.family='' to take it from config.json"]
        return []

    def te_requirements(self) -> list[tuple[str, str]]:
        """(setting, how to do without) for every chosen setting that needs Transformer Engine."""
        needs = []
        if self.fp8 in ("hybrid", "e4m3"):
            needs.append((f"model.fp8: {self.fp8!r}", "set model.fp8=null"))
        if self.attention_backend == "te":
            needs.append(("model.attention_backend: 'te'", "use 'sdpa' or 'auto'"))
        if self.sequence_parallel:
            needs.append(("model.sequence_parallel: true", "set model.sequence_parallel=false (megatron's local "
                          "LayerNorm has no sequence-parallel support)"))
        if isinstance(self.context_parallel_size, int) and self.context_parallel_size > 1:
            needs.append((f"model.context_parallel_size: {self.context_parallel_size}", "set it to 1"))
        return needs

    def capability_problems(self, capabilities: Capabilities) -> list[str]:
        """One message per setting that needs Transformer Engine where the Megatron stages run lacks it
        (or where nobody has asked yet: see nemo_drift/config/capabilities.py)."""
        if capabilities.has_transformer_engine:
            return []
        problems = []
        for setting_, fix in self.te_requirements():
            if not capabilities.known:
                problems.append(f"{setting_} needs Transformer Engine, and whether {capabilities.where} has it is "
                                "not known: run `nemo-drift probe` with the same cluster settings and pass "
                                "cluster.capabilities=<its file> (the slurm/ scripts probe by themselves), or "
                                f"{fix}")
            else:
                found = f" (probe {capabilities.source})" if capabilities.source else ""
                problems.append(f"{setting_} needs Transformer Engine, which {capabilities.where} does not "
                                f"have{found}; use an image with TE (NVIDIA's PyTorch container) or {fix}")
        return problems

    def resolved_architecture(self) -> ArchitectureConfig:
        """The model's shape: config.json of a local hf_path, else the preset's `architecture` (raises
        ValueError naming the key when neither is there)."""
        return resolve_architecture(self.hf_config(), self.architecture, self.hf_path)

    def _validate_against_shape(self, tp: int, pp: int) -> list[str]:
        """Checks that need the model's shape (heads, layers, context length): from config.json when the
        checkpoint is on disk, else from the preset's `model.architecture`; skipped when neither is known."""
        hf = self.hf_config()
        try:
            arch = self.resolved_architecture()
        except (ValueError, KeyError):
            return []
        errors = arch.parallel_problems(tp, pp)
        text = (hf or {}).get("text_config") or hf or {}
        max_pos = text.get("max_position_embeddings")
        if max_pos and self.seq_length > max_pos:
            errors.append(f"model.seq_length: {self.seq_length} exceeds the model's max_position_embeddings {max_pos}")
        return errors
