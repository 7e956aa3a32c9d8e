"""A hand-built tiny GPTModel (local modules + SDPA or megatron's DotProductAttention) for fast tests."""
from __future__ import annotations

import torch
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
from megatron.core.models.gpt.gpt_model import GPTModel
from megatron.core.transformer.transformer_config import TransformerConfig

from nemo_drift.megatron.attention import SdpaAttention

VOCAB = 128


def tiny_config(**overrides) -> TransformerConfig:
    """2 layers, hidden 64, 4 heads / 2 KV groups, RMSNorm, fp32 on CPU, no fusions."""
    kwargs = dict(num_layers=2, hidden_size=64, ffn_hidden_size=128, num_attention_heads=4, num_query_groups=2,
                  normalization="RMSNorm", gated_linear_unit=True, add_bias_linear=False,
                  use_cpu_initialization=True, params_dtype=torch.float32, pipeline_dtype=torch.float32,
                  hidden_dropout=0.0, attention_dropout=0.0, persist_layer_norm=False, apply_rope_fusion=False,
                  gradient_accumulation_fusion=False, masked_softmax_fusion=False, bias_activation_fusion=False,
                  bias_dropout_fusion=False)
    kwargs.update(overrides)
    return TransformerConfig(**kwargs)


def tiny_gpt(config: TransformerConfig, sdpa: bool = True, pre_process: bool = True, post_process: bool = True) -> GPTModel:
    """GPTModel with the local spec; core attention = SdpaAttention (sdpa=True) or megatron's own."""
    spec = get_gpt_layer_local_spec(normalization="RMSNorm")
    if sdpa:
        spec.submodules.self_attention.submodules.core_attention = SdpaAttention
    return GPTModel(config, spec, vocab_size=VOCAB, max_sequence_length=64, position_embedding_type="rope",
                    pre_process=pre_process, post_process=post_process)
