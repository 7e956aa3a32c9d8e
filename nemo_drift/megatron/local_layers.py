"""Torch stand-ins for the Transformer Engine modules a family-specific layer spec names.

A provider with its own spec (Megatron-Bridge's Gemma 3: `gemma3_layer_spec`) builds its layers from
TE's fused modules. Without TE, `nemo_drift/megatron/layer_spec.py` swaps each of them for the module
here with the same constructor, forward contract and parameter names, so the bridge's weight mapping
(`linear_qkv.layer_norm_weight`, `linear_proj.post_layernorm.weight`, ...) loads and exports unchanged:

- `LocalRMSNorm` for `TENorm`: RMSNorm in fp32, with the zero-centred gamma Gemma uses, x * (1 + w)
  (megatron's torch norm refuses `layernorm_zero_centered_gamma`).
- `LocalLayerNormColumnParallelLinear` for `TELayerNormColumnParallelLinear`: norm, then the column-
  parallel linear.
- `LocalRowParallelLinearLayerNorm` for the bridge's `TERowParallelLinearLayerNorm`: the row-parallel
  linear, then a norm of its (TP-reduced) output: Gemma's post-attention and post-MLP norms.
"""
from __future__ import annotations

from typing import Any

import torch
from megatron.core.tensor_parallel import ColumnParallelLinear, RowParallelLinear
from megatron.core.transformer.transformer_config import TransformerConfig
from torch import Tensor


def _norm_problems(config: TransformerConfig) -> list[str]:
    problems = []
    if config.normalization != "RMSNorm":
        problems.append(f"normalization {config.normalization!r} (only RMSNorm has a local stand-in here)")
    if config.sequence_parallel:
        problems.append("sequence parallelism")
    return problems


class LocalRMSNorm(torch.nn.Module):
    """RMSNorm over the last dimension computed in fp32, as Hugging Face's Gemma3RMSNorm and
    LlamaRMSNorm do; the gain is `1 + weight` when `config.layernorm_zero_centered_gamma`."""

    def __init__(self, config: TransformerConfig, hidden_size: int, eps: float = 1e-5, **unused: Any) -> None:
        super().__init__()
        problems = _norm_problems(config)
        if problems:
            raise ValueError(f"LocalRMSNorm does not support {', '.join(problems)}: install Transformer Engine "
                             "(model.attention_backend=te)")
        self.zero_centered = bool(config.layernorm_zero_centered_gamma)
        self.eps = eps
        init = torch.zeros if self.zero_centered else torch.ones
        self.weight = torch.nn.Parameter(init(hidden_size, dtype=config.params_dtype))

    def forward(self, x: Tensor) -> Tensor:
        """x [..., hidden] -> same shape and dtype."""
        return rms_norm(x, self.weight, self.eps, self.zero_centered)


def rms_norm(x: Tensor, weight: Tensor, eps: float, zero_centered: bool) -> Tensor:
    """x / rms(x) * gain in fp32, cast back to x's dtype; gain = 1 + weight when zero-centred."""
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    gain = weight.float() + 1.0 if zero_centered else weight.float()
    return (normed * gain).to(x.dtype)


class LocalLayerNormColumnParallelLinear(ColumnParallelLinear):
    """RMSNorm of the input (weight `layer_norm_weight`, replicated over TP) followed by the
    column-parallel linear: TE's LayerNormColumnParallelLinear without TE."""

    def __init__(self, input_size: int, output_size: int, *, config: TransformerConfig, **kwargs: Any) -> None:
        super().__init__(input_size, output_size, config=config, **kwargs)
        problems = _norm_problems(config)
        if problems:
            raise ValueError(f"LocalLayerNormColumnParallelLinear does not support {', '.join(problems)}: "
                             "install Transformer Engine (model.attention_backend=te)")
        self.zero_centered = bool(config.layernorm_zero_centered_gamma)
        self.eps = config.layernorm_epsilon
        init = torch.zeros if self.zero_centered else torch.ones
        self.layer_norm_weight = torch.nn.Parameter(init(input_size, dtype=config.params_dtype))

    def forward(self, input_: Tensor, **kwargs: Any) -> tuple[Tensor, Tensor | None]:
        """input [s, b, input_size] -> (output [s, b, output_size / TP], bias or None)."""
        return super().forward(rms_norm(input_, self.layer_norm_weight, self.eps, self.zero_centered), **kwargs)


class LocalRowParallelLinearLayerNorm(RowParallelLinear):
    """The row-parallel linear followed by RMSNorm of its full output (`post_layernorm`): the bridge's
    TERowParallelLinearLayerNorm without TE. Bias-free only, as the TE module: a norm applied before
    a deferred bias add would be wrong."""

    def __init__(self, input_size: int, output_size: int, *, config: TransformerConfig, **kwargs: Any) -> None:
        super().__init__(input_size, output_size, config=config, **kwargs)
        if self.bias is not None:
            raise ValueError("LocalRowParallelLinearLayerNorm needs add_bias_linear=False: the post-norm would run "
                             "before the deferred bias add")
        self.post_layernorm = LocalRMSNorm(config, output_size, eps=config.layernorm_epsilon)

    def forward(self, input_: Tensor) -> tuple[Tensor, Tensor | None]:
        """input [s, b, input_size / TP] -> (norm(output) [s, b, output_size], None)."""
        output, bias = super().forward(input_)
        return self.post_layernorm(output), bias
