"""Build the Megatron model from a Hugging Face checkpoint through Megatron-Bridge.

`build_model` = AutoBridge.from_hf_pretrained(path).to_megatron_provider() + our settings (TP/PP/CP,
dtype, FP8, recompute, layer spec, CPU-safe fusion flags) + provide_distributed_model(). Call
`nemo_drift.runtime.init_distributed` first: otherwise the bridge initialises NCCL and calls
torch.cuda.set_device itself (docs/megatron-bridge.md, "Start gloo yourself first").
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import torch
from megatron.core import parallel_state as ps

from nemo_drift.config.model import ModelConfig, have_transformer_engine
from nemo_drift.megatron.bridge import import_auto_bridge
from nemo_drift.megatron.layer_spec import layer_spec_for, resolve_backend
from nemo_drift.megatron.rope import apply_llama3_scaling, llama3_scaling

# Fusions that need CUDA kernels (TE/Apex/jit on GPU). All must be False on CPU: megatron-on-cpu.md,
# "Flags that must stay False on CPU".
_CPU_UNSAFE_FLAGS = ("persist_layer_norm", "apply_rope_fusion", "gradient_accumulation_fusion",
                     "masked_softmax_fusion", "bias_activation_fusion", "bias_dropout_fusion")


@dataclass
class BuiltModel:
    """A Megatron model built from a HF checkpoint, with what is needed to convert it back."""

    chunks: list[torch.nn.Module]
    """Model chunks, megatron-style (one per virtual pipeline stage; one without VPP)."""
    bridge: Any
    """The megatron.bridge AutoBridge (export_hf_weights / save_hf_pretrained go through it)."""
    provider: Any
    """The GPTModelProvider: a megatron TransformerConfig with the settings the model was built with."""
    tokenizer_path: Path
    """Folder holding the tokenizer (the HF checkpoint folder)."""

    @property
    def config(self) -> Any:
        """The TransformerConfig (the provider) of the model."""
        return self.provider


def _resolve_dtype(cfg: ModelConfig) -> torch.dtype:
    if cfg.precision == "fp32":
        return torch.float32
    if cfg.precision == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_available() else torch.float32


def _have_apex_fused_wgrad() -> bool:
    return importlib.util.find_spec("fused_weight_gradient_mlp_cuda") is not None


def fusion_flags(config: Any, on_gpu: bool, have_te: bool, have_apex_wgrad: bool) -> dict[str, bool]:
    """Fusion flags for a TransformerConfig-like `config` (a bridge provider or a TransformerConfig).

    CPU: every kernel fusion off. GPU: the ones whose kernels exist here; and the SwiGLU of gated-SiLU
    models (Qwen2, Llama) through megatron's `bias_swiglu_impl`, an autograd Function that keeps only
    the fc1 output for backward. Unfused, megatron's local MLP also keeps silu(x) and a copy of the
    linear half (`x_linear + glu_linear_offset`, mlp.py:329): 2 x [s, b, ffn] per layer, ~7.7 GiB for
    Qwen2.5-1.5B at 8,192 tokens (bench/estimate_dpo_memory.py). Gemma's tanh-GELU stays unfused.
    """
    if not on_gpu:
        return {flag: False for flag in _CPU_UNSAFE_FLAGS}
    flags: dict[str, bool] = {}
    if not have_apex_wgrad:
        flags["gradient_accumulation_fusion"] = False
    if not have_te:
        flags["persist_layer_norm"] = False
        flags["apply_rope_fusion"] = False
    swiglu = (getattr(config, "activation_func", None) is torch.nn.functional.silu
              and getattr(config, "gated_linear_unit", False)
              and getattr(config, "glu_linear_offset", 0.0) == 0.0
              and getattr(config, "activation_func_clamp_value", None) is None
              and not getattr(config, "use_te_activation_func", False))
    if swiglu:
        flags["bias_activation_fusion"] = True
    return flags


def _check_parallel_state(cfg: ModelConfig) -> None:
    if not ps.model_parallel_is_initialized():
        raise RuntimeError("megatron parallel state is not initialised: call nemo_drift.runtime.init_distributed"
                           "(tensor_parallel=..., pipeline_parallel=...) before build_model")
    have = (ps.get_tensor_model_parallel_world_size(), ps.get_pipeline_model_parallel_world_size(),
            ps.get_context_parallel_world_size())
    want = (cfg.tensor_model_parallel_size, cfg.pipeline_model_parallel_size, cfg.context_parallel_size)
    if have != want:
        raise ValueError(f"model.tensor/pipeline/context parallel sizes {want} differ from the initialised "
                         f"parallel state {have}: pass the same sizes to init_distributed")


def _feature_errors(cfg: ModelConfig) -> list[str]:
    """Settings that need Transformer Engine (or a GPU): checked here even if validate() was skipped."""
    errors = []
    te = have_transformer_engine()
    if cfg.fp8 is not None and not te:
        errors.append(f"model.fp8: {cfg.fp8!r} needs Transformer Engine, which is not installed; set model.fp8=null")
    if cfg.fp8 is not None and not torch.cuda.is_available():
        errors.append(f"model.fp8: {cfg.fp8!r} needs a GPU; set model.fp8=null")
    if cfg.sequence_parallel and not te:
        errors.append("model.sequence_parallel: needs Transformer Engine (megatron's local norms do not support it);"
                      " set model.sequence_parallel=false")
    if cfg.context_parallel_size > 1 and not te:
        errors.append(f"model.context_parallel_size: {cfg.context_parallel_size} needs Transformer Engine; set it to 1")
    return errors


def window_pattern_problem(hf_config: Optional[dict[str, Any]], provider: Any) -> Optional[str]:
    """Why the provider's local/global layer pattern differs from the checkpoint's `layer_types`, or None.

    Megatron-Bridge builds Gemma 3 with a fixed `interleaved_attn_pattern` (5 local : 1 global); Hugging
    Face reads each layer's type from config.json. A checkpoint with another pattern would be built wrong.
    """
    pattern = getattr(provider, "interleaved_attn_pattern", None)
    types = ((hf_config or {}).get("text_config") or hf_config or {}).get("layer_types")
    if pattern is None or not types:
        return None
    period = sum(pattern)
    expected = ["full_attention" if (i + 1) % period == 0 else "sliding_attention" for i in range(len(types))]
    if list(types) == expected:
        return None
    return (f"model.hf_path: config.json layer_types {types} do not follow the {pattern[0]} local : {pattern[1]} "
            "global pattern Megatron-Bridge builds this family with; this checkpoint cannot be trained exactly")


def configure_provider(provider: Any, cfg: ModelConfig) -> Any:
    """Apply parallelism, numerics, recompute, layer spec and CPU-safe flags to a bridge provider."""
    on_gpu = torch.cuda.is_available()
    dtype = _resolve_dtype(cfg)
    provider.tensor_model_parallel_size = cfg.tensor_model_parallel_size
    provider.pipeline_model_parallel_size = cfg.pipeline_model_parallel_size
    provider.context_parallel_size = cfg.context_parallel_size
    provider.sequence_parallel = cfg.sequence_parallel
    provider.seq_length = cfg.seq_length
    provider.params_dtype = dtype
    provider.pipeline_dtype = dtype
    provider.bf16 = dtype == torch.bfloat16
    provider.fp16 = False
    if hasattr(provider, "autocast_dtype"):
        provider.autocast_dtype = dtype
    if cfg.fp8 is not None:
        provider.fp8 = cfg.fp8
    if cfg.recompute == "full":
        provider.recompute_granularity, provider.recompute_method, provider.recompute_num_layers = "full", "uniform", 1
    elif cfg.recompute == "selective":
        provider.recompute_granularity = "selective"
    provider.transformer_layer_spec = layer_spec_for(provider, cfg.attention_backend)
    if resolve_backend(cfg.attention_backend) == "sdpa":
        from megatron.core.transformer.enums import AttnBackend

        # Which TE kernel to use means nothing to SDPA. "local" would make gpt_provider.py:277 swap in
        # DotProductAttention; "flash" (Gemma 3's provider) sets process-wide NVTE_* variables in
        # finalize() that a later "auto" build in the same process rejects.
        provider.attention_backend = AttnBackend.auto
    for flag, value in fusion_flags(provider, on_gpu, have_transformer_engine(), _have_apex_fused_wgrad()).items():
        if hasattr(provider, flag):
            setattr(provider, flag, value)
    provider.finalize()
    # PP > 1: micro-batches of different padded lengths, so p2p exchanges shapes first. Set after
    # finalize(): transformer_config.py:2644 rejects it whenever moe_token_dispatcher_type is
    # "allgather" (the default), even for dense models where the dispatcher is never built.
    if not getattr(provider, "num_moe_experts", None):
        provider.variable_seq_lengths = cfg.pipeline_model_parallel_size > 1
    return provider


def build_model(hf_path: str | Path, cfg: ModelConfig, *, load_weights: bool = True, for_training: bool = True,
                wrap_with_ddp: bool = False, ddp_config: Any = None) -> BuiltModel:
    """Build (and by default load) the Megatron model for `hf_path` with the layout and numerics of `cfg`.

    wrap_with_ddp: wrap each chunk in megatron's DistributedDataParallel (megatron's optimizer needs it);
        `ddp_config` defaults to a DistributedDataParallelConfig with fp32 grad accumulation.
    for_training: False puts the chunks in eval mode with requires_grad off (reference / scoring passes).
    """
    hf_path = Path(hf_path)
    cfg = replace(cfg, hf_path=str(hf_path))
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else None
    errors = list(dict.fromkeys(cfg.validate(world) + _feature_errors(cfg)))  # ordered, without repeats
    if errors:
        raise ValueError("invalid model settings:\n  " + "\n  ".join(errors))
    _check_parallel_state(cfg)
    auto_bridge = import_auto_bridge()
    bridge = auto_bridge.from_hf_pretrained(str(hf_path), dtype=torch.float32)
    provider = configure_provider(bridge.to_megatron_provider(load_weights=load_weights), cfg)
    problem = window_pattern_problem(cfg.hf_config(), provider)
    if problem:
        raise ValueError(problem)
    if wrap_with_ddp and ddp_config is None:
        from megatron.core.distributed import DistributedDataParallelConfig

        ddp_config = DistributedDataParallelConfig(grad_reduce_in_fp32=True, use_distributed_optimizer=False)
    on_gpu = torch.cuda.is_available()
    chunks = provider.provide_distributed_model(
        ddp_config=ddp_config, wrap_with_ddp=wrap_with_ddp, use_cpu_initialization=not on_gpu,
        bf16=provider.bf16, fp16=False,
    )
    scaling = llama3_scaling(cfg.hf_config())
    if scaling is not None:
        apply_llama3_scaling(list(chunks), provider.rotary_base, scaling)
    for chunk in chunks:
        chunk.train(for_training)
        if not for_training:
            chunk.requires_grad_(False)
    return BuiltModel(chunks=list(chunks), bridge=bridge, provider=provider, tokenizer_path=hf_path)
