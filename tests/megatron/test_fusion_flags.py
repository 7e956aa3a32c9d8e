"""Which kernel fusions a model is built with: none on CPU; on GPU the ones whose kernels exist, and
megatron's SwiGLU Function for gated-SiLU models (it keeps one tensor per MLP for backward, not three)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from megatron.core.transformer import TransformerConfig

from nemo_drift.megatron.model import fusion_flags


def _config(**kw) -> TransformerConfig:
    base = dict(num_layers=2, hidden_size=64, num_attention_heads=4, ffn_hidden_size=128, add_bias_linear=False,
                gated_linear_unit=True, activation_func=F.silu, use_cpu_initialization=True)
    return TransformerConfig(**{**base, **kw})


def test_cpu_turns_every_fusion_off():
    flags = fusion_flags(_config(), on_gpu=False, have_te=True, have_apex_wgrad=True)
    assert flags and not any(flags.values())
    assert "bias_activation_fusion" in flags and "gradient_accumulation_fusion" in flags


def test_gpu_swiglu_fused_and_accepted_by_megatron():
    flags = fusion_flags(_config(), on_gpu=True, have_te=False, have_apex_wgrad=False)
    assert flags["bias_activation_fusion"] is True
    assert flags["persist_layer_norm"] is False and flags["apply_rope_fusion"] is False
    assert flags["gradient_accumulation_fusion"] is False
    built = _config(**flags)  # TransformerConfig.__post_init__ validates the combination
    assert built.bias_activation_fusion is True


def test_gpu_leaves_other_activations_and_offsets_unfused():
    gelu_tanh = lambda x: F.gelu(x, approximate="tanh")  # noqa: E731  (Gemma's activation)
    assert "bias_activation_fusion" not in fusion_flags(_config(activation_func=gelu_tanh), True, False, False)
    assert "bias_activation_fusion" not in fusion_flags(_config(gated_linear_unit=False), True, False, False)
    assert "bias_activation_fusion" not in fusion_flags(_config(glu_linear_offset=1.0), True, False, False)
    with_te = fusion_flags(_config(), on_gpu=True, have_te=True, have_apex_wgrad=True)
    assert "persist_layer_norm" not in with_te and "gradient_accumulation_fusion" not in with_te


def test_cpu_build_is_unaffected(dist_env):
    """The flags a CPU build gets still build and run a model (the embedded default's path)."""
    from megatron.core.models.gpt import GPTModel

    from nemo_drift.megatron.layer_spec import sdpa_layer_spec

    cfg = _config(**fusion_flags(_config(), on_gpu=False, have_te=False, have_apex_wgrad=False))
    model = GPTModel(config=cfg, transformer_layer_spec=sdpa_layer_spec(cfg), vocab_size=32, max_sequence_length=8)
    out = model(torch.zeros(1, 8, dtype=torch.long), torch.arange(8).unsqueeze(0), None)
    assert out.shape == (1, 8, 32) and torch.isfinite(out).all()
