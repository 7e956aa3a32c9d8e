"""Core attention with torch `scaled_dot_product_attention`: a drop-in for megatron's DotProductAttention.

Why: megatron-core's local DotProductAttention materialises the [b*np, s, s] score matrix (baddbmm +
softmax); measured on one H100 (docs/gpu-measurements.md, "DPO step on one H100") it is 1.8x slower
than this module and OOMed where this one fit. Without Transformer Engine, this is the core attention.
Same constructor and forward signature as megatron.core.transformer.dot_product_attention
.DotProductAttention (0.19.2 lines 42-52 and 142-151), so it is swapped in through the layer spec
(`self_attention.submodules.core_attention`), never by branching inside a layer.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Optional

import torch
import torch.nn.functional as F
from megatron.core.process_groups_config import ProcessGroupCollection
from megatron.core.tensor_parallel import get_cuda_rng_tracker
from megatron.core.transformer.enums import AttnMaskType
from megatron.core.transformer.module import MegatronModule
from megatron.core.transformer.transformer_config import TransformerConfig
from megatron.core.transformer.utils import is_layer_window_attention
from megatron.core.utils import divide
from torch import Tensor

from nemo_drift.megatron.packed_attention import causal_window_mask, packed_attention

_CAUSAL_TYPES = (AttnMaskType.causal, AttnMaskType.padding_causal)


def layer_window(config: Any, layer_number: int) -> Optional[int]:
    """How many earlier tokens a query of layer `layer_number` (1-based) may attend to; None = all.

    Two conventions reach here. Megatron-Bridge's Gemma 3 provider sets `window_size` to Hugging Face's
    `sliding_window` W and `interleaved_attn_pattern` (local, global): every layer whose number is not a
    multiple of local + global is local, with window W - 1 (HF lets a query see the W keys in
    (i - W, i]; the bridge's TE attention passes (W - 1, 0) likewise). megatron-core's own convention is
    `window_size = (left, right)` with `window_attn_skip_freq` naming the full-attention layers.
    """
    window = getattr(config, "window_size", None)
    if window is None:
        return None
    pattern = getattr(config, "interleaved_attn_pattern", None)
    if pattern is not None and isinstance(window, int):
        return None if layer_number % sum(pattern) == 0 else window - 1
    if not is_layer_window_attention(window, getattr(config, "window_attn_skip_freq", None), layer_number):
        return None
    left, right = window
    if right != 0:
        raise ValueError(f"SdpaAttention supports causal sliding windows (right = 0) only, got window_size {window}")
    return None if left < 0 else left


class SdpaAttention(MegatronModule):
    """Causal (or masked) attention over this TP rank's heads via torch SDPA, GQA without KV copies."""

    def __init__(self, config: TransformerConfig, layer_number: int, attn_mask_type: AttnMaskType,
                 attention_type: str, attention_dropout: Optional[float] = None,
                 softmax_scale: Optional[float] = None, cp_comm_type: Optional[str] = None,
                 pg_collection: Optional[ProcessGroupCollection] = None) -> None:
        super().__init__(config=config)
        if config.context_parallel_size != 1:
            raise ValueError("SdpaAttention has no context parallelism: set model.context_parallel_size=1 "
                             "or install Transformer Engine (model.attention_backend=te)")
        if getattr(config, "softmax_type", "vanilla") != "vanilla":
            raise ValueError(f"SdpaAttention supports softmax_type 'vanilla' only, got {config.softmax_type!r}")
        if pg_collection is None:
            pg_collection = ProcessGroupCollection.use_mpu_process_groups(required_pgs=["tp"])
        tp = pg_collection.tp.size()
        self.layer_number = max(1, layer_number)
        self.attn_mask_type = attn_mask_type
        self.heads_per_partition = divide(config.num_attention_heads, tp)
        self.groups_per_partition = divide(config.num_query_groups, tp)
        head_dim = divide(config.kv_channels * config.num_attention_heads, config.num_attention_heads)
        # apply_query_key_layer_scaling divides the scale by layer_number and multiplies it back in the
        # fp32 softmax (DotProductAttention): the product is unchanged, so the plain scale is exact.
        self.softmax_scale = softmax_scale if softmax_scale is not None else head_dim ** -0.5
        self.dropout_p = config.attention_dropout if attention_dropout is None else attention_dropout
        self.window = layer_window(config, self.layer_number)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, attention_mask: Optional[Tensor],
                attn_mask_type: Optional[AttnMaskType] = None, attention_bias: Optional[Tensor] = None,
                packed_seq_params: Optional[Any] = None, **unused: Any) -> Tensor:
        """query [sq, b, np, hn], key/value [sk, b, ng, hn] -> context [sq, b, np * hn]; a packed row
        (packed_seq_params 'thd': SelfAttention squeezed the batch away) [t, np, hn] -> [t, np * hn]."""
        if attention_bias is not None:
            raise ValueError("SdpaAttention does not support attention_bias")
        mask_type = attn_mask_type if attn_mask_type is not None else self.attn_mask_type
        causal = mask_type in _CAUSAL_TYPES
        if packed_seq_params is not None:
            return self._packed(query, key, value, packed_seq_params, causal)
        # megatron masks are True where attention is NOT allowed; SDPA's boolean masks are the opposite.
        sdpa_mask = None if causal or attention_mask is None else ~attention_mask
        if self.window is not None:
            if not causal:
                raise ValueError(f"layer {self.layer_number}: a sliding window needs causal attention")
            if query.shape[0] > self.window + 1:
                sdpa_mask, causal = causal_window_mask(query.shape[0], self.window, query.device), False
        q = query.permute(1, 2, 0, 3)  # [sq, b, np, hn] -> [b, np, sq, hn]
        k = key.permute(1, 2, 0, 3)    # [sk, b, ng, hn] -> [b, ng, sk, hn]
        v = value.permute(1, 2, 0, 3)  # [sk, b, ng, hn] -> [b, ng, sk, hn]
        dropout = self.dropout_p if self.training else 0.0
        # Dropout inside a TP region draws from the model-parallel RNG stream, as DotProductAttention does.
        rng = get_cuda_rng_tracker().fork() if dropout > 0 and not self.config.sequence_parallel else nullcontext()
        with rng:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=sdpa_mask, dropout_p=dropout, is_causal=causal, scale=self.softmax_scale,
                enable_gqa=self.heads_per_partition != self.groups_per_partition,
            )  # [b, np, sq, hn]
        sq, b = out.shape[2], out.shape[0]
        return out.permute(2, 0, 1, 3).reshape(sq, b, -1)  # [b, np, sq, hn] -> [sq, b, np * hn]

    def _packed(self, query: Tensor, key: Tensor, value: Tensor, params: Any, causal: bool) -> Tensor:
        """Attention confined to each sequence of a packed row (nemo_drift/megatron/packed_attention.py
        picks varlen_attn on GPU, one SDPA call per sequence on CPU)."""
        if getattr(params, "qkv_format", "thd") != "thd":
            raise ValueError(f"SdpaAttention packs the 'thd' layout only, got qkv_format {params.qkv_format!r}")
        if self.training and self.dropout_p > 0:
            raise ValueError(f"packed sequences with attention dropout {self.dropout_p} are not supported by the "
                             "SDPA path: set trainer.packing=false")
        return packed_attention(query, key, value, params, causal, self.softmax_scale,
                                enable_gqa=self.heads_per_partition != self.groups_per_partition, window=self.window)
