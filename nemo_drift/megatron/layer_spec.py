"""Which transformer-layer spec a model is built with: Transformer Engine's, or local modules + SDPA.

The backend is chosen by handing megatron a spec (megatron-core's ModuleSpec idea), never by branching
inside a layer. Without TE, megatron-bridge's default (TE) spec fails to build, so the provider's
`transformer_layer_spec` is set before `finalize()` (docs/megatron-bridge.md, "Layer spec").
"""
from __future__ import annotations

from typing import Any, Callable

from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
from megatron.core.transformer.spec_utils import ModuleSpec

from nemo_drift.config.model import have_transformer_engine
from nemo_drift.megatron.attention import SdpaAttention

SpecFn = Callable[[Any], ModuleSpec]


def sdpa_layer_spec(config: Any) -> ModuleSpec:
    """megatron-core local modules (torch norms/linears) with SdpaAttention as core attention."""
    if getattr(config, "num_moe_experts", None):
        raise ValueError("the SDPA/local spec here covers dense models only; MoE needs model.attention_backend=te")
    spec = get_gpt_layer_local_spec(qk_layernorm=bool(getattr(config, "qk_layernorm", False)),
                                    normalization=getattr(config, "normalization", "RMSNorm"))
    spec.submodules.self_attention.submodules.core_attention = SdpaAttention
    return spec


def te_layer_spec(config: Any) -> ModuleSpec:
    """Transformer Engine's fused spec (as megatron-bridge builds it by default)."""
    from megatron.bridge.models.gpt_provider import transformer_engine_layer_spec

    return transformer_engine_layer_spec(config)


def resolve_backend(attention_backend: str) -> str:
    """"auto" -> "te" when transformer_engine is importable, else "sdpa"; explicit "te" needs TE."""
    if attention_backend == "auto":
        return "te" if have_transformer_engine() else "sdpa"
    if attention_backend == "te" and not have_transformer_engine():
        raise ValueError("model.attention_backend=te but Transformer Engine is not installed; use sdpa or auto")
    if attention_backend not in ("te", "sdpa"):
        raise ValueError(f"model.attention_backend: unknown backend {attention_backend!r} (auto|te|sdpa)")
    return attention_backend


def layer_spec_for(attention_backend: str) -> SpecFn:
    """The spec function to set as `provider.transformer_layer_spec` for the given backend."""
    return te_layer_spec if resolve_backend(attention_backend) == "te" else sdpa_layer_spec
