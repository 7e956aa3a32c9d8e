"""Attention over a packed (THD) row: several sequences concatenated, attention confined to each.

megatron-core 0.19.2 `SelfAttention.forward` (transformer/attention.py) squeezes q/k/v to
[t, heads, head_dim] when `packed_seq_params.qkv_format == "thd"` (the micro-batch is one row), applies
RoPE per sequence from `cu_seqlens` (rope_utils.py `_apply_rotary_pos_emb_thd`), calls the core
attention with the PackedSeqParams and reshapes its output to [t, 1, heads * head_dim]. The functions
here are that core attention's kernels, one per device class (`choose_kernel`):

- "varlen": `torch.nn.attention.varlen.varlen_attn` (FlashAttention-2 inside torch) on CUDA in
  fp16/bf16, sm80+, head_dim <= 256: no [t, t] tensor, GQA native, backward registered.
- "segments": one causal SDPA call per sequence (split at cu_seqlens, one host sync): the CPU path
  (varlen_attn raises NotImplementedError on CPU) and the exact CUDA fallback where varlen cannot run
  (fp32, older GPUs, a torch without varlen_attn). On a 2-core CPU, forward + backward over a
  1,200-token row of 12 sequences took 65 ms against 210 ms for "dense_mask" (docs/packing.md).
- "dense_mask": SDPA with a block-causal boolean [t, t] mask built on the device from cu_seqlens
  (no host sync): exact with backward, kept as the reference the other kernels are tested against.

Every kernel takes `window`: for a sliding-window layer (Gemma 3's local layers), how many earlier
tokens of its own sequence a query may see (None: all of them). It is the left half of FlashAttention's
and Transformer Engine's `window_size=(left, 0)`; Hugging Face's `sliding_window` W is window W - 1.
"""
from __future__ import annotations

import importlib.util
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

_HALF = (torch.float16, torch.bfloat16)
_VARLEN_MAX_HEAD_DIM = 256
_VARLEN_MIN_CAPABILITY = (8, 0)
KERNELS = ("varlen", "segments", "dense_mask")


def layout_cu_seqlens(params: Any) -> tuple[Tensor, Tensor]:
    """(cu_seqlens_q, cu_seqlens_kv) that lay out the row: the `_padded` ones when given.

    SelfAttention.forward applies RoPE over the padded offsets when they are set, so the attention
    uses the same segments; under causal attention a segment's trailing padding is never seen by its
    real tokens, so this is exact for them.
    """
    cu_q = params.cu_seqlens_q_padded if params.cu_seqlens_q_padded is not None else params.cu_seqlens_q
    cu_kv = params.cu_seqlens_kv_padded if params.cu_seqlens_kv_padded is not None else params.cu_seqlens_kv
    return cu_q, cu_kv


def have_varlen_attn() -> bool:
    """True when this torch ships `torch.nn.attention.varlen` (2.9+)."""
    return importlib.util.find_spec("torch.nn.attention.varlen") is not None


def choose_kernel(device: torch.device, dtype: torch.dtype, head_dim: int,
                  capability: Optional[tuple[int, int]] = None, varlen_available: bool = True) -> str:
    """The kernel for packed attention on `device` (pure: every input is an argument, testable on CPU).

    capability: the CUDA compute capability (ignored off CUDA). FlashAttention-2 inside torch needs
    fp16/bf16, sm80+ and head_dim <= 256; elsewhere on CUDA the per-sequence loop stays exact without
    a [t, t] mask. Every non-CUDA device takes the per-sequence loop too: CPU SDPA skips the masked half
    of a causal sequence but computes every entry of a masked [t, t] product.
    """
    if device.type != "cuda":
        return "segments"
    fits_flash = (dtype in _HALF and head_dim <= _VARLEN_MAX_HEAD_DIM
                  and capability is not None and tuple(capability) >= _VARLEN_MIN_CAPABILITY)
    return "varlen" if varlen_available and fits_flash else "segments"


def kernel_for(query: Tensor) -> str:
    """choose_kernel for a live query tensor [t, np, hn] (reads the CUDA capability on CUDA only)."""
    capability = torch.cuda.get_device_capability(query.device) if query.is_cuda else None
    return choose_kernel(query.device, query.dtype, query.shape[-1], capability, have_varlen_attn())


def segment_ids(cu_seqlens: Tensor, total: int) -> Tensor:
    """cu_seqlens [n + 1] -> the segment index of each of `total` tokens [total] (long, on cu's device).

    Tokens at or beyond cu_seqlens[-1] (if any) get index n: they form one more segment.
    """
    positions = torch.arange(total, device=cu_seqlens.device, dtype=cu_seqlens.dtype)
    return torch.searchsorted(cu_seqlens[1:].contiguous(), positions, right=True)


def causal_window_mask(length: int, window: int, device: torch.device) -> Tensor:
    """[length, length] bool, True where query i may attend key j: 0 <= i - j <= window."""
    distance = torch.arange(length, device=device).unsqueeze(1) - torch.arange(length, device=device).unsqueeze(0)
    return (distance >= 0) & (distance <= window)


def block_causal_mask(cu_seqlens: Tensor, total: int, causal: bool = True, window: Optional[int] = None) -> Tensor:
    """[total, total] bool, True where query i may attend key j: same segment (and j <= i if causal,
    and i - j <= window if a window is given).

    Segments are contiguous and in order, so "causal within a segment" is the global j <= i.
    """
    seg = segment_ids(cu_seqlens, total)  # [t]
    allowed = seg.unsqueeze(1) == seg.unsqueeze(0)  # [t, t]
    if window is not None:
        allowed &= causal_window_mask(total, window, seg.device)
    elif causal:
        allowed &= torch.ones(total, total, dtype=torch.bool, device=seg.device).tril_()
    return allowed


def _check_window(causal: bool, window: Optional[int]) -> None:
    if window is not None and (not causal or window < 0):
        raise ValueError(f"a sliding window ({window}) needs causal attention and a window >= 0")


def _to_heads_first(x: Tensor) -> Tensor:
    return x.permute(1, 0, 2).unsqueeze(0)  # [t, h, hn] -> [1, h, t, hn]


def _from_heads_first(x: Tensor) -> Tensor:
    return x.squeeze(0).permute(1, 0, 2)  # [1, h, t, hn] -> [t, h, hn]


def dense_mask_attention(query: Tensor, key: Tensor, value: Tensor, cu_seqlens: Tensor, causal: bool,
                         scale: float, enable_gqa: bool, window: Optional[int] = None) -> Tensor:
    """query [t, np, hn], key/value [t, ng, hn] -> [t, np, hn]: one SDPA call, block-causal mask."""
    _check_window(causal, window)
    mask = block_causal_mask(cu_seqlens.to(query.device), query.shape[0], causal, window)  # [t, t]
    out = F.scaled_dot_product_attention(_to_heads_first(query), _to_heads_first(key), _to_heads_first(value),
                                         attn_mask=mask, scale=scale, enable_gqa=enable_gqa)  # [1, np, t, hn]
    return _from_heads_first(out)


def sequence_attention(query: Tensor, key: Tensor, value: Tensor, causal: bool, scale: float, enable_gqa: bool,
                       window: Optional[int] = None) -> Tensor:
    """One sequence: query [b, np, s, hn], key/value [b, ng, s, hn] -> [b, np, s, hn] through SDPA;
    a window longer than the sequence is plain causal attention (SDPA's faster causal kernel)."""
    _check_window(causal, window)
    length = query.shape[-2]
    if window is None or window >= length - 1:
        return F.scaled_dot_product_attention(query, key, value, is_causal=causal, scale=scale, enable_gqa=enable_gqa)
    mask = causal_window_mask(length, window, query.device)  # [s, s]
    return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scale, enable_gqa=enable_gqa)


def segment_attention(query: Tensor, key: Tensor, value: Tensor, cu_seqlens: Tensor, causal: bool,
                      scale: float, enable_gqa: bool, window: Optional[int] = None) -> Tensor:
    """query [t, np, hn], key/value [t, ng, hn] -> [t, np, hn]: SDPA per segment, concatenated.

    Tokens past cu_seqlens[-1] (if any) are one more segment, as in block_causal_mask.
    """
    bounds = cu_seqlens.tolist()  # one host sync
    if bounds[-1] < query.shape[0]:
        bounds.append(query.shape[0])
    lengths = [b - a for a, b in zip(bounds[:-1], bounds[1:])]
    outs = [
        _from_heads_first(sequence_attention(_to_heads_first(q), _to_heads_first(k), _to_heads_first(v), causal,
                                             scale, enable_gqa, window))  # [L, np, hn]
        for q, k, v in zip(query.split(lengths), key.split(lengths), value.split(lengths))
    ]
    return torch.cat(outs, dim=0)


def varlen_arguments(query: Tensor, params: Any, causal: bool, scale: float, enable_gqa: bool,
                     window: Optional[int] = None) -> dict[str, Any]:
    """Keyword arguments of `varlen_attn(q, k, v, **kwargs)` for a packed row (built on any device).

    cu_seq_q/k: int32 on the query's device (FlashAttention's varlen API requires int32); max_q/k:
    Python ints (the kernel sizes its grid from them: they must be >= every segment); causal is
    `window_size=(-1, 0)` (torch 2.14 has no is_causal argument), a sliding window `(window, 0)`.
    """
    _check_window(causal, window)
    cu_q, cu_kv = layout_cu_seqlens(params)
    return {
        "cu_seq_q": cu_q.to(device=query.device, dtype=torch.int32),
        "cu_seq_k": cu_kv.to(device=query.device, dtype=torch.int32),
        "max_q": int(params.max_seqlen_q),
        "max_k": int(params.max_seqlen_kv),
        "scale": scale,
        "window_size": (-1 if window is None else window, 0) if causal else (-1, -1),
        "enable_gqa": enable_gqa,
    }


def _last_dim_contiguous(x: Tensor) -> Tensor:
    return x if x.stride(-1) == 1 else x.contiguous()


def varlen_attention(query: Tensor, key: Tensor, value: Tensor, params: Any, causal: bool, scale: float,
                     enable_gqa: bool, window: Optional[int] = None) -> Tensor:
    """query [t, np, hn], key/value [t, ng, hn] (CUDA, fp16/bf16) -> [t, np, hn] through varlen_attn."""
    from torch.nn.attention.varlen import varlen_attn

    kwargs = varlen_arguments(query, params, causal, scale, enable_gqa, window)
    return varlen_attn(_last_dim_contiguous(query), _last_dim_contiguous(key), _last_dim_contiguous(value), **kwargs)


def packed_attention(query: Tensor, key: Tensor, value: Tensor, params: Any, causal: bool, scale: float,
                     enable_gqa: bool, kernel: Optional[str] = None, window: Optional[int] = None) -> Tensor:
    """query [t, np, hn], key/value [t, ng, hn] -> context [t, np * hn] on the kernel for the device.

    `kernel` overrides the automatic choice (one of KERNELS); q and kv share one layout (self-attention).
    """
    kernel = kernel or kernel_for(query)
    if kernel == "varlen":
        out = varlen_attention(query, key, value, params, causal, scale, enable_gqa, window)
    elif kernel in ("segments", "dense_mask"):
        cu_q, _ = layout_cu_seqlens(params)
        fn = segment_attention if kernel == "segments" else dense_mask_attention
        out = fn(query, key, value, cu_q, causal, scale, enable_gqa, window)
    else:
        raise ValueError(f"packed attention kernel {kernel!r}: expected one of {KERNELS}")
    return out.reshape(out.shape[0], -1)  # [t, np, hn] -> [t, np * hn]
