"""The shape of a transformer, as far as the planner's arithmetic needs it (no torch, no weights).

A preset for a hub model (`conf/model/qwen2_5_72b.yaml`) carries its shape here, because the planner
must size a 72B job on a laptop where the checkpoint is not on disk. When `model.hf_path` is a local
folder, its config.json is the truth and `from_hf_config` reads it instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from nemo_drift.config.declare import setting


@dataclass
class ArchitectureConfig:
    """Decoder-only transformer shape (Llama/Qwen2/Gemma family: RMSNorm, GQA attention, gated MLP)."""

    hidden_size: int = setting(0, invalidates=())
    """Model width h (0: unknown; read config.json of model.hf_path)."""
    num_layers: int = setting(0, invalidates=())
    """Transformer layers L (HF `num_hidden_layers`)."""
    num_attention_heads: int = setting(0, invalidates=())
    """Query heads; tensor parallelism must divide it."""
    num_key_value_heads: int = setting(0, invalidates=())
    """KV groups (GQA); tensor parallelism must divide it too (0: same as num_attention_heads)."""
    ffn_hidden_size: int = setting(0, invalidates=())
    """Gated-MLP inner width f (HF `intermediate_size`)."""
    vocab_size: int = setting(0, invalidates=())
    """Vocabulary V (logits are [tokens, V / TP])."""
    tied_embeddings: bool = setting(False, invalidates=())
    """Input embedding and output layer share one matrix (SmolLM2, Qwen2.5 <= 3B, Qwen3 <= 4B, Gemma 3)."""
    head_dim: int = setting(0, invalidates=())
    """Per-head width (0: hidden_size / num_attention_heads). Gemma 3 and Qwen3 set it explicitly, and there
    heads x head_dim need not equal hidden_size (Qwen3-32B: 64 x 128 = 8192, hidden 5120)."""
    activation: str = setting("silu", invalidates=())
    """Gated-MLP activation (HF `hidden_act` / `hidden_activation`): "silu" (Qwen2, Llama) gets megatron's
    fused SwiGLU on GPU; Gemma's "gelu_pytorch_tanh" does not (nemo_drift.megatron.model.fusion_flags)."""
    source: str = setting("preset", invalidates=())
    """Where the shape came from: "preset" or the config.json path (printed by the planner)."""

    @property
    def kv_heads(self) -> int:
        """KV groups, defaulting to the query heads (plain multi-head attention)."""
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def head_size(self) -> int:
        """Per-head width d."""
        return self.head_dim or self.hidden_size // max(self.num_attention_heads, 1)

    def layer_params(self) -> int:
        """Parameters of one transformer layer.

        attention: q (h x heads*d) + k, v (h x kv*d each) + o (heads*d x h), with heads*d, not h (they differ
        where head_dim is explicit: Qwen3-32B q and o are 5120 x 8192); MLP: gate+up (h x 2f) + down (f x h);
        two RMSNorm weights (2h). Biases (Qwen2 q/k/v) and Qwen3's QK-norm weights (2d) are < 0.01% and left out.
        """
        h, d = self.hidden_size, self.head_size
        q_width, kv_width = self.num_attention_heads * d, self.kv_heads * d
        attention = h * q_width + 2 * h * kv_width + q_width * h
        mlp = 3 * h * self.ffn_hidden_size
        return attention + mlp + 2 * h

    def embedding_params(self) -> int:
        """Input embedding + output layer (one matrix when tied) + final norm."""
        matrices = 1 if self.tied_embeddings else 2
        return matrices * self.vocab_size * self.hidden_size + self.hidden_size

    def num_params(self) -> int:
        """Total parameters, e.g. Qwen2.5-7B: 28 x 233.0M + 2 x 152064 x 3584 = 7.61B."""
        return self.num_layers * self.layer_params() + self.embedding_params()

    def validate(self) -> list[str]:
        """One message per missing or inconsistent field, naming `model.architecture.<key>`."""
        errors = [f"model.architecture.{key}: {getattr(self, key)!r} must be a positive integer"
                  for key in ("hidden_size", "num_layers", "num_attention_heads", "ffn_hidden_size", "vocab_size")
                  if not isinstance(getattr(self, key), int) or getattr(self, key) < 1]
        if not errors and self.num_attention_heads % self.kv_heads:
            errors.append(f"model.architecture.num_key_value_heads: {self.kv_heads} does not divide "
                          f"num_attention_heads {self.num_attention_heads}")
        return errors

    def parallel_problems(self, tp: int, pp: int) -> list[str]:
        """Tensor parallelism must divide the query heads and the KV groups, pipeline parallelism the
        layers; one message per problem, naming the key and where the shape came from."""
        where = f" ({self.source})"
        problems = [f"model.tensor_model_parallel_size: TP {tp} does not divide num_attention_heads "
                    f"{self.num_attention_heads}{where}"] if self.num_attention_heads % tp else []
        if self.kv_heads % tp:
            problems.append(f"model.tensor_model_parallel_size: TP {tp} does not divide num_key_value_heads (KV groups) "
                            f"{self.kv_heads}{where}")
        if self.num_layers % pp:
            problems.append(f"model.pipeline_model_parallel_size: PP {pp} does not divide num_layers {self.num_layers}"
                            f"{where}")
        return problems

    @classmethod
    def from_hf_config(cls, hf: Mapping[str, Any], source: str = "config.json") -> "ArchitectureConfig":
        """Read a Hugging Face config.json dict (Gemma 3 keeps the text model under `text_config`)."""
        text = hf.get("text_config") or hf
        return cls(hidden_size=int(text["hidden_size"]), num_layers=int(text["num_hidden_layers"]),
                   num_attention_heads=int(text["num_attention_heads"]),
                   num_key_value_heads=int(text.get("num_key_value_heads") or text["num_attention_heads"]),
                   ffn_hidden_size=int(text["intermediate_size"]), vocab_size=int(text["vocab_size"]),
                   tied_embeddings=bool(hf.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
                   head_dim=int(text.get("head_dim") or 0),
                   activation=str(text.get("hidden_act") or text.get("hidden_activation") or "silu"), source=source)


def resolve_architecture(hf_config: Optional[Mapping[str, Any]], preset: Optional[ArchitectureConfig],
                         hf_path: str = "") -> ArchitectureConfig:
    """config.json when the checkpoint is on disk (the truth), else the preset's shape."""
    if hf_config is not None:
        return ArchitectureConfig.from_hf_config(hf_config, source=f"{hf_path}/config.json")
    if preset is not None and not preset.validate():
        return preset
    raise ValueError(f"model.architecture: {hf_path or 'model.hf_path'} has no local config.json and the preset "
                     "carries no architecture; add model.architecture.* to the preset or point model.hf_path "
                     "at a local Hugging Face folder")
