"""Llama 3 RoPE scaling with the checkpoint's own parameters (nemo_drift/megatron/rope.py) gives Hugging
Face's frequencies; megatron's fixed parameters do not when the checkpoint's differ."""
from __future__ import annotations

import torch
from megatron.core.models.common.embeddings.rotary_pos_embedding import RotaryEmbedding
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from nemo_drift.megatron.rope import apply_llama3_scaling, llama3_scaling

ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 256, "rope_theta": 500000.0}


class _Chunk(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rotary_pos_emb = RotaryEmbedding(kv_channels=32, rotary_percent=1.0, rotary_base=500000,
                                              rope_scaling=True, rope_scaling_factor=8.0, use_cpu_initialization=True)


def _hf_inv_freq() -> torch.Tensor:
    config = LlamaConfig(hidden_size=128, num_attention_heads=4, head_dim=32, rope_parameters=dict(ROPE))
    inv_freq, _ = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")
    return inv_freq.float()


def test_checkpoint_parameters_give_hf_frequencies(dist_env):
    chunk = _Chunk()
    fixed = chunk.rotary_pos_emb.inv_freq.clone()  # megatron's own: original context 8192
    assert not torch.allclose(fixed, _hf_inv_freq())  # the check can fail
    scaling = llama3_scaling({"rope_parameters": ROPE})
    assert scaling["original_max_position_embeddings"] == 256.0
    assert apply_llama3_scaling([chunk], 500000.0, scaling) == 1
    assert torch.allclose(chunk.rotary_pos_emb.inv_freq, _hf_inv_freq(), rtol=1e-6)


def test_only_llama3_configs_are_scaled():
    assert llama3_scaling(None) is None
    assert llama3_scaling({"rope_parameters": {"rope_type": "default", "rope_theta": 1e6}}) is None
    assert llama3_scaling({"rope_scaling": {"type": "llama3", "factor": 32.0}})["factor"] == 32.0
