"""Which transformer-layer spec a model is built with: Transformer Engine's, or local modules + SDPA.

The backend is chosen by handing megatron a spec (megatron-core's ModuleSpec idea), never by branching
inside a layer, and the provider's own spec is kept wherever it carries the family's architecture:

- TE installed: the provider's spec untouched (Megatron-Bridge's default TE spec for Qwen2/Llama/Qwen3,
  `gemma3_layer_spec` for Gemma 3).
- No TE, provider with the bridge's generic spec: megatron-core's local spec with SdpaAttention as the
  core attention (the bridge's TE spec does not build without TE: docs/megatron-bridge.md, "Layer spec").
- No TE, provider with a family-specific spec: that spec with every TE module swapped for its local
  stand-in (nemo_drift/megatron/local_layers.py; SdpaAttention for the core attention, sliding windows
  included), and a local final norm (megatron's torch norm refuses Gemma's zero-centred gamma).
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Optional, Union
from unittest.mock import Mock

from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
from megatron.core.tensor_parallel import ColumnParallelLinear, RowParallelLinear
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_block import TransformerBlockSubmodules, get_num_layers_to_build

from nemo_drift.config.model import have_transformer_engine
from nemo_drift.megatron.attention import SdpaAttention
from nemo_drift.megatron.local_layers import (
    LocalLayerNormColumnParallelLinear,
    LocalRMSNorm,
    LocalRowParallelLinearLayerNorm,
)

SpecFn = Callable[..., Union[ModuleSpec, TransformerBlockSubmodules]]

LOCAL_STAND_INS: dict[str, type] = {
    "TENorm": LocalRMSNorm,
    "TELayerNormColumnParallelLinear": LocalLayerNormColumnParallelLinear,
    "TERowParallelLinearLayerNorm": LocalRowParallelLinearLayerNorm,
    "TEColumnParallelLinear": ColumnParallelLinear,
    "TERowParallelLinear": RowParallelLinear,
    "TEDotProductAttention": SdpaAttention,
}
"""TE module (by class name; a name ending in one of these, such as the bridge's
Gemma3TEDotProductAttention, matches too) -> the local module built in its place."""

_GENERIC_BRIDGE_SPECS = ("default_layer_spec", "transformer_engine_layer_spec")
"""Megatron-Bridge's spec functions for architectures without a spec of their own (gpt_provider.py)."""


def sdpa_layer_spec(config: Any) -> ModuleSpec:
    """megatron-core local modules (torch norms/linears) with SdpaAttention as core attention."""
    if getattr(config, "num_moe_experts", None):
        raise ValueError("the SDPA/local spec here covers dense models only; MoE needs model.attention_backend=te")
    spec = get_gpt_layer_local_spec(qk_layernorm=bool(getattr(config, "qk_layernorm", False)),
                                    normalization=getattr(config, "normalization", "RMSNorm"))
    spec.submodules.self_attention.submodules.core_attention = SdpaAttention
    return spec


def _te_name(module: Any, names: dict[int, str]) -> Optional[str]:
    """The TE class name `module` stands for: its own or a base's name when it is a real class (TE
    installed), else the name it has in the spec's module (without TE the bridge's `safe_import_from`
    leaves MagicMock placeholders, and a class derived from one is a MagicMock too)."""
    if inspect.isclass(module):
        for cls in inspect.getmro(module):
            if cls.__name__ in LOCAL_STAND_INS:
                return cls.__name__
        return None
    name = names.get(id(module), "")
    return next((te for te in LOCAL_STAND_INS if name.endswith(te)), None)


def _is_transformer_engine(module: Any) -> bool:
    if isinstance(module, Mock):
        return True
    return inspect.isclass(module) and (module.__module__.startswith("transformer_engine")
                                        or module.__module__.endswith("extensions.transformer_engine"))


def swap_te_modules(spec: Any, names: dict[int, str], path: str = "layer") -> Any:
    """A copy of `spec` (a ModuleSpec, a submodules dataclass or a module) with every TE module replaced
    by its stand-in; raises ValueError naming the spec path of a TE module that has none. `names` maps
    id(object) -> name in the module that defined the spec (see _te_name)."""
    if isinstance(spec, ModuleSpec):
        return dataclasses.replace(spec, module=swap_te_modules(spec.module, names, path),
                                   submodules=swap_te_modules(spec.submodules, names, path))
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        changes = {field.name: swap_te_modules(getattr(spec, field.name), names, f"{path}.{field.name}")
                   for field in dataclasses.fields(spec)}
        return dataclasses.replace(spec, **changes)
    te_name = _te_name(spec, names)
    if te_name is not None:
        return LOCAL_STAND_INS[te_name]
    if _is_transformer_engine(spec):
        shown = names.get(id(spec)) or getattr(spec, "__name__", repr(spec))
        raise ValueError(f"{path}: {shown} needs Transformer Engine and has no local stand-in in "
                         "nemo_drift/megatron/local_layers.py; install TE (model.attention_backend=te)")
    return spec


def _global_names(fn: Any) -> dict[int, str]:
    """id(object) -> name for the globals of the module defining `fn` (its spec's vocabulary)."""
    module = inspect.getmodule(fn)
    return {id(value): name for name, value in vars(module).items()} if module is not None else {}


def _register_stand_ins_with_bridge() -> None:
    """Tell the bridge's weight mapping how the stand-ins split over TP (it detects it by class name;
    the LayerNormColumnParallelLinear and *Norm names it already recognises)."""
    from nemo_drift.megatron.bridge import import_auto_bridge

    import_auto_bridge()
    from megatron.bridge.models.conversion.param_mapping import AutoMapping

    AutoMapping.register_module_type(LocalRowParallelLinearLayerNorm.__name__, "row")


def local_family_spec(family_spec: Union[ModuleSpec, SpecFn]) -> SpecFn:
    """A spec function building the provider's own layer spec with local modules in place of TE's."""
    _register_stand_ins_with_bridge()
    names = _global_names(family_spec)

    def spec_fn(config: Any, vp_stage: Optional[int] = None) -> TransformerBlockSubmodules:
        layer = family_spec
        if not isinstance(layer, ModuleSpec):
            takes_vp = "vp_stage" in inspect.signature(layer).parameters
            layer = layer(config, vp_stage=vp_stage) if takes_vp else layer(config)
        if isinstance(layer, TransformerBlockSubmodules):
            return dataclasses.replace(layer, layer_specs=[swap_te_modules(s, names) for s in layer.layer_specs],
                                       layer_norm=swap_te_modules(layer.layer_norm, names) or LocalRMSNorm)
        return TransformerBlockSubmodules(
            layer_specs=[swap_te_modules(layer, names)] * get_num_layers_to_build(config, vp_stage),
            layer_norm=LocalRMSNorm)

    spec_fn.__name__ = f"local_{getattr(family_spec, '__name__', 'family_spec')}"
    return spec_fn


def has_family_spec(provider: Any) -> bool:
    """Whether the provider brings a spec of its own (not the bridge's generic GPT spec)."""
    spec = provider.transformer_layer_spec
    return isinstance(spec, ModuleSpec) or getattr(spec, "__name__", "") not in _GENERIC_BRIDGE_SPECS


def resolve_backend(attention_backend: str) -> str:
    """"auto" -> "te" when transformer_engine is importable, else "sdpa"; explicit "te" needs TE."""
    if attention_backend == "auto":
        return "te" if have_transformer_engine() else "sdpa"
    if attention_backend == "te" and not have_transformer_engine():
        raise ValueError("model.attention_backend=te but Transformer Engine is not installed; use sdpa or auto")
    if attention_backend not in ("te", "sdpa"):
        raise ValueError(f"model.attention_backend: unknown backend {attention_backend!r} (auto|te|sdpa)")
    return attention_backend


def layer_spec_for(provider: Any, attention_backend: str) -> Union[ModuleSpec, SpecFn]:
    """The spec to set as `provider.transformer_layer_spec` for the given backend (see the module
    docstring): the provider's own with TE, a local build of it otherwise."""
    if resolve_backend(attention_backend) == "te":
        return provider.transformer_layer_spec
    if has_family_spec(provider):
        return local_family_spec(provider.transformer_layer_spec)
    return sdpa_layer_spec
