"""Packed-row attention kernels (nemo_drift/megatron/packed_attention.py) against per-sequence causal SDPA."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from nemo_drift.megatron.packed_attention import (block_causal_mask, causal_window_mask, choose_kernel,
                                                  packed_attention, varlen_arguments)

LENGTHS = [5, 11, 3, 4]  # three sequences and a tail-padding segment


def _qkv(heads: int, groups: int, dim: int = 8):
    g = torch.Generator().manual_seed(0)
    t = sum(LENGTHS)
    make = lambda h: torch.randn(t, h, dim, generator=g, dtype=torch.float64, requires_grad=True)  # noqa: E731
    return make(heads), make(groups), make(groups)


def _params():
    cu = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()], dtype=torch.int32)
    return SimpleNamespace(qkv_format="thd", cu_seqlens_q=cu, cu_seqlens_kv=cu, cu_seqlens_q_padded=None,
                           cu_seqlens_kv_padded=None, max_seqlen_q=max(LENGTHS), max_seqlen_kv=max(LENGTHS))


def _per_sequence(q, k, v, gqa: bool, window: int | None = None):
    """Reference: each sequence alone; with a window, the mask written out from Hugging Face's rule for
    `sliding_window` W = window + 1 (key j visible from query i when i - W < j <= i)."""
    outs = []
    for qs, ks, vs in zip(q.split(LENGTHS), k.split(LENGTHS), v.split(LENGTHS)):
        n = qs.shape[0]
        mask = None if window is None else torch.tensor([[i - (window + 1) < j <= i for j in range(n)] for i in range(n)])
        o = F.scaled_dot_product_attention(qs.permute(1, 0, 2)[None], ks.permute(1, 0, 2)[None], vs.permute(1, 0, 2)[None],
                                           is_causal=window is None, attn_mask=mask, scale=0.3, enable_gqa=gqa)
        outs.append(o[0].permute(1, 0, 2))
    return torch.cat(outs).reshape(sum(LENGTHS), -1)


@pytest.mark.parametrize("heads,groups", [(4, 4), (4, 2)], ids=["mha", "gqa"])
@pytest.mark.parametrize("kernel", ["dense_mask", "segments"])
def test_kernels_equal_per_sequence_attention_with_gradients(kernel, heads, groups):
    q, k, v = _qkv(heads, groups)
    expected = _per_sequence(q, k, v, heads != groups)
    grads_expected = torch.autograd.grad(expected.square().sum(), (q, k, v))
    out = packed_attention(q, k, v, _params(), causal=True, scale=0.3, enable_gqa=heads != groups, kernel=kernel)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    assert torch.allclose(out, expected, atol=1e-10)
    for a, b in zip(grads, grads_expected):
        assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("kernel", ["dense_mask", "segments"])
def test_sliding_window_kernels_equal_the_hf_window_rule(kernel):
    """Window 3 (HF sliding_window 4) is shorter than two of the sequences, so it bites; a window longer
    than every sequence is plain causal attention."""
    q, k, v = _qkv(4, 2)
    expected = _per_sequence(q, k, v, True, window=3)
    grads_expected = torch.autograd.grad(expected.square().sum(), (q, k, v))
    out = packed_attention(q, k, v, _params(), causal=True, scale=0.3, enable_gqa=True, kernel=kernel, window=3)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    assert torch.allclose(out, expected, atol=1e-10)
    for a, b in zip(grads, grads_expected):
        assert torch.allclose(a, b, atol=1e-10)
    assert (out - _per_sequence(q, k, v, True)).abs().max().item() > 1e-2  # the window changes the result
    wide = packed_attention(q, k, v, _params(), causal=True, scale=0.3, enable_gqa=True, kernel=kernel, window=50)
    assert torch.allclose(wide, _per_sequence(q, k, v, True), atol=1e-10)


def test_window_mask_and_refusals():
    assert causal_window_mask(4, 1, torch.device("cpu")).tolist() == [
        [True, False, False, False], [True, True, False, False], [False, True, True, False], [False, False, True, True]]
    with pytest.raises(ValueError, match="needs causal attention"):
        packed_attention(*_qkv(4, 4), _params(), causal=False, scale=0.3, enable_gqa=False, window=3)
    args = varlen_arguments(torch.zeros(23, 4, 8), _params(), causal=True, scale=0.3, enable_gqa=False, window=511)
    assert args["window_size"] == (511, 0)


def test_a_causal_mask_over_the_whole_row_leaks_across_sequences():
    q, k, v = _qkv(4, 4)
    whole = F.scaled_dot_product_attention(q.permute(1, 0, 2)[None], k.permute(1, 0, 2)[None], v.permute(1, 0, 2)[None],
                                           is_causal=True, scale=0.3)[0].permute(1, 0, 2).reshape(sum(LENGTHS), -1)
    assert (whole - _per_sequence(q, k, v, False)).abs().max().item() > 1e-2
    mask = block_causal_mask(_params().cu_seqlens_q, sum(LENGTHS))
    assert not mask[5, 4] and mask[5, 5] and mask[6, 5] and not mask[5, 6]  # sequence 2 starts at 5


def test_kernel_choice_and_varlen_arguments():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert choose_kernel(cpu, torch.bfloat16, 64) == "segments"
    assert choose_kernel(cuda, torch.bfloat16, 128, capability=(9, 0)) == "varlen"
    assert choose_kernel(cuda, torch.float32, 128, capability=(9, 0)) == "segments"  # FA2 needs fp16/bf16
    assert choose_kernel(cuda, torch.bfloat16, 128, capability=(7, 5)) == "segments"
    assert choose_kernel(cuda, torch.bfloat16, 128, capability=(9, 0), varlen_available=False) == "segments"
    args = varlen_arguments(torch.zeros(23, 4, 8), _params(), causal=True, scale=0.3, enable_gqa=True)
    assert args["cu_seq_q"].dtype == torch.int32 and args["cu_seq_q"].tolist() == [0, 5, 16, 19, 23]
    assert (args["max_q"], args["max_k"], args["window_size"], args["enable_gqa"]) == (11, 11, (-1, 0), True)
