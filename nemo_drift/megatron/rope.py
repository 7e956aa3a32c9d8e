"""Llama 3 RoPE scaling with the checkpoint's own parameters.

Megatron-Bridge 0.6.2 maps a Hugging Face `rope_type: llama3` to megatron's `rope_scaling=True` and
`rope_scaling_factor` only (llama_bridge.py, `provider_bridge`); megatron-core's RotaryEmbedding then
scales with `low_freq_factor` 1, `high_freq_factor` 4 and `original_max_position_embeddings` 8192 fixed
(rotary_pos_embedding.py, `_apply_scaling`). Those are Llama 3.1's published values, but a checkpoint
with others (a tiny Llama with an original context of 256, a model extended differently) would be built
with the wrong frequencies: 4.6e-3 max |log-prob difference| from HF on the tiny Llama of the family
tests. `apply_llama3_scaling` recomputes the rotary frequencies from the checkpoint's config instead,
with megatron's own scaling function. The frequencies are not weights: checkpoints are unaffected.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import torch


def llama3_scaling(hf_config: Optional[Mapping[str, Any]]) -> Optional[dict[str, float]]:
    """The llama3 RoPE scaling parameters of a config.json dict (`rope_scaling` or transformers 5's
    `rope_parameters`), as `_apply_scaling` keyword arguments; None when the model has none."""
    if not hf_config:
        return None
    text = hf_config.get("text_config") or hf_config
    rope = text.get("rope_scaling") or text.get("rope_parameters") or {}
    if rope.get("rope_type", rope.get("type")) != "llama3":
        return None
    return {"factor": float(rope.get("factor", 8.0)), "low_freq_factor": float(rope.get("low_freq_factor", 1.0)),
            "high_freq_factor": float(rope.get("high_freq_factor", 4.0)),
            "original_max_position_embeddings": float(rope.get("original_max_position_embeddings", 8192))}


def _unwrap(chunk: torch.nn.Module) -> torch.nn.Module:
    while hasattr(chunk, "module"):
        chunk = chunk.module
    return chunk


def apply_llama3_scaling(chunks: list[torch.nn.Module], rotary_base: float, scaling: Mapping[str, float]) -> int:
    """Set every chunk's rotary frequencies to base frequencies scaled with `scaling`; returns how many
    rotary embeddings were set."""
    from megatron.core.models.common.embeddings.rotary_pos_embedding import RotaryEmbedding

    done = 0
    for chunk in chunks:
        rope = getattr(_unwrap(chunk), "rotary_pos_emb", None)
        if not isinstance(rope, RotaryEmbedding):
            continue
        half = rope.inv_freq.numel()
        dim = 2 * half
        base = 1.0 / (rotary_base ** (torch.arange(0, dim, 2, dtype=torch.float32, device=rope.inv_freq.device) / dim))
        rope.inv_freq = rope._apply_scaling(base, **scaling)
        done += 1
    RotaryEmbedding.forward.cache_clear()  # frequencies cached for the old inv_freq (lru_cache, all instances)
    return done
