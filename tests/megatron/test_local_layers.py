"""The local stand-ins for Transformer Engine modules (nemo_drift/megatron/local_layers.py), the per-layer
sliding window, and the swap of TE modules inside a family's own spec (nemo_drift/megatron/layer_spec.py)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
import torch
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_config import TransformerConfig
from transformers.models.gemma3.modeling_gemma3 import Gemma3RMSNorm
from transformers.models.llama.modeling_llama import LlamaRMSNorm

from nemo_drift.megatron.attention import SdpaAttention, layer_window
from nemo_drift.megatron.layer_spec import local_family_spec, swap_te_modules
from nemo_drift.megatron.local_layers import (LocalLayerNormColumnParallelLinear, LocalRMSNorm,
                                              LocalRowParallelLinearLayerNorm)


def _config(zero_centered: bool) -> TransformerConfig:
    return TransformerConfig(num_layers=2, hidden_size=16, num_attention_heads=2, normalization="RMSNorm",
                             layernorm_zero_centered_gamma=zero_centered, layernorm_epsilon=1e-6,
                             add_bias_linear=False)


@pytest.mark.parametrize("zero_centered, hf_norm", [(True, Gemma3RMSNorm), (False, LlamaRMSNorm)],
                         ids=["gemma3", "llama"])
def test_local_rmsnorm_equals_hf(dist_env, zero_centered, hf_norm):
    ours = LocalRMSNorm(_config(zero_centered), 16, eps=1e-6)
    theirs = hf_norm(16, eps=1e-6)
    torch.manual_seed(0)
    with torch.no_grad():
        ours.weight.normal_()
        theirs.weight.copy_(ours.weight)
    x = torch.randn(3, 2, 16)
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    other = LocalRMSNorm(_config(not zero_centered), 16, eps=1e-6)
    with torch.no_grad():
        other.weight.copy_(ours.weight)
    assert (other(x) - theirs(x)).abs().max().item() > 1e-1  # the check can fail: the other gain convention


def test_norm_linear_and_linear_norm_compose_as_written(dist_env):
    """TP1: norm -> linear, and linear -> norm, with the parameter names the bridge maps."""
    cfg = _config(True)
    init = torch.nn.init.normal_
    column = LocalLayerNormColumnParallelLinear(16, 8, config=cfg, init_method=init, bias=False, gather_output=False,
                                                skip_bias_add=True)
    row = LocalRowParallelLinearLayerNorm(8, 16, config=cfg, init_method=init, bias=False, input_is_parallel=True,
                                          skip_bias_add=True)
    assert {n for n, _ in column.named_parameters()} == {"weight", "layer_norm_weight"}
    assert {n for n, _ in row.named_parameters()} == {"weight", "post_layernorm.weight"}
    norm = Gemma3RMSNorm(16, eps=1e-6)
    post = Gemma3RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        column.layer_norm_weight.normal_()
        row.post_layernorm.weight.normal_()
        norm.weight.copy_(column.layer_norm_weight)
        post.weight.copy_(row.post_layernorm.weight)
    x = torch.randn(5, 1, 16)
    hidden, _ = column(x)
    assert torch.allclose(hidden, norm(x) @ column.weight.T, atol=1e-5)
    out, bias = row(hidden)
    assert bias is None and torch.allclose(out, post(hidden @ row.weight.T), atol=1e-5)


def test_layer_window_follows_gemma3_and_megatron_conventions():
    gemma = SimpleNamespace(window_size=512, interleaved_attn_pattern=(5, 1))
    assert [layer_window(gemma, n) for n in range(1, 13)] == [511] * 5 + [None] + [511] * 5 + [None]
    assert layer_window(SimpleNamespace(window_size=None), 3) is None
    mistral = SimpleNamespace(window_size=(4095, 0), window_attn_skip_freq=None)
    assert layer_window(mistral, 7) == 4095
    every_other = SimpleNamespace(window_size=(127, 0), window_attn_skip_freq=2)
    assert [layer_window(every_other, n) for n in (1, 2, 3)] == [127, None, 127]
    with pytest.raises(ValueError, match="right = 0"):
        layer_window(SimpleNamespace(window_size=(8, 8), window_attn_skip_freq=None), 1)


def _modules(spec) -> list:
    """Every module class/object named anywhere in a spec."""
    if isinstance(spec, ModuleSpec):
        return [spec.module, *_modules(spec.submodules)]
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return [m for f in dataclasses.fields(spec) for m in _modules(getattr(spec, f.name))]
    return [spec]


def test_gemma3_spec_keeps_its_structure_with_local_modules(dist_env):
    """The bridge's own Gemma 3 spec, built without TE: Gemma3SelfAttention stays, every TE placeholder
    is replaced, the post-norm linears and the SDPA core attention are in place, the final norm is local."""
    from nemo_drift.megatron.bridge import import_auto_bridge

    import_auto_bridge()
    from megatron.bridge.models.gemma.gemma3_provider import Gemma3SelfAttention, gemma3_layer_spec

    config = _config(True)
    config.is_vision_language = False
    config.qk_layernorm = True
    original = gemma3_layer_spec(config)
    assert any(isinstance(m, MagicMock) for m in _modules(original))  # what fails to build without TE
    block = local_family_spec(gemma3_layer_spec)(config)
    layer = block.layer_specs[0]
    attention = layer.submodules.self_attention
    assert attention.module is Gemma3SelfAttention
    assert attention.submodules.core_attention is SdpaAttention
    assert attention.submodules.linear_qkv is LocalLayerNormColumnParallelLinear
    assert attention.submodules.linear_proj is LocalRowParallelLinearLayerNorm
    assert attention.submodules.q_layernorm is LocalRMSNorm
    assert layer.submodules.mlp.submodules.linear_fc2 is LocalRowParallelLinearLayerNorm
    assert block.layer_norm is LocalRMSNorm and len(block.layer_specs) == 2
    assert not any(isinstance(m, MagicMock) for m in _modules(layer))


def test_a_te_module_without_stand_in_is_refused():
    unknown = MagicMock()
    spec = ModuleSpec(module=torch.nn.Module, submodules=None)
    assert swap_te_modules(spec, {}) == spec
    with pytest.raises(ValueError, match="layer.mlp: TEFusedMLP needs Transformer Engine"):
        swap_te_modules(unknown, {id(unknown): "TEFusedMLP"}, "layer.mlp")


def test_a_layer_pattern_the_bridge_cannot_build_is_refused():
    from nemo_drift.megatron.model import window_pattern_problem

    provider = SimpleNamespace(interleaved_attn_pattern=(5, 1))
    gemma = ["sliding_attention"] * 5 + ["full_attention"]
    assert window_pattern_problem({"layer_types": gemma * 3}, provider) is None
    assert window_pattern_problem({"layer_types": gemma}, SimpleNamespace()) is None  # not a windowed family
    problem = window_pattern_problem({"layer_types": ["sliding_attention", "full_attention"] * 3}, provider)
    assert problem.startswith("model.hf_path: config.json layer_types")
