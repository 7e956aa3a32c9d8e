"""token_logprobs against plain log_softmax; chunking changes neither values nor gradients."""
from __future__ import annotations

import pytest
import torch

from nemo_drift.megatron.logprobs import sum_by_sequence, token_logprobs


def _reference(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # [B, S]


def test_token_logprobs_match_log_softmax_and_keep_input(dist_env):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 10, 50, generator=g) * 5  # [B, S, V]
    labels = torch.randint(0, 50, (4, 10), generator=g)
    before = logits.clone()
    got = token_logprobs(logits, labels, chunk_elements=4 * 3 * 50)  # 3 positions per chunk
    assert (got - _reference(logits, labels)).abs().max().item() < 1e-5
    assert torch.equal(logits, before), "vocab_parallel_cross_entropy must not modify the caller's logits"
    # the check can fail: wrong labels give different values
    assert (got - _reference(logits, labels.roll(1, dims=1))).abs().max().item() > 1e-2


def test_chunked_gradients_equal_unchunked(dist_env):
    g = torch.Generator().manual_seed(1)
    base = torch.randn(2, 12, 40, generator=g)
    labels = torch.randint(0, 40, (2, 12), generator=g)
    mask = (torch.rand(2, 12, generator=g) > 0.3).float()
    grads = []
    for chunk in (2 * 12 * 40, 2 * 5 * 40):  # one chunk vs 5-position chunks (recomputed in backward)
        logits = base.clone().requires_grad_(True)
        sums, _ = sum_by_sequence(token_logprobs(logits, labels, chunk_elements=chunk), mask)
        sums.sum().backward()
        grads.append(logits.grad)
    ref = base.clone().requires_grad_(True)
    (_reference(ref, labels) * mask).sum().backward()
    assert (grads[0] - grads[1]).abs().max().item() < 1e-6
    assert (grads[1] - ref.grad).abs().max().item() < 1e-6


def test_bf16_logits_give_fp32_logps(dist_env):
    logits = torch.randn(1, 4, 16).to(torch.bfloat16)
    labels = torch.zeros(1, 4, dtype=torch.long)
    out = token_logprobs(logits, labels)
    assert out.dtype == torch.float32
    assert (out - _reference(logits, labels)).abs().max().item() < 1e-5


@pytest.mark.slow
def test_hand_written_backward_passes_gradcheck(dist_env):
    """fp64 finite differences agree with the chunked Function's backward (chunks of 2 rows)."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 5, 7, generator=g, dtype=torch.float64).requires_grad_(True)  # [S, B, V]
    labels = torch.randint(0, 7, (3, 5), generator=g)
    assert torch.autograd.gradcheck(lambda x: token_logprobs(x, labels, chunk_elements=2 * 7), (logits,))
    # the check can fail: a backward that drops the label term is caught
    grad = torch.autograd.grad(token_logprobs(logits, labels).sum(), logits)[0]
    softmax_only = -torch.softmax(logits.detach(), -1)
    assert (grad - softmax_only).abs().max().item() > 0.5


def test_layout_free_and_bf16_gradient_dtype(dist_env):
    """[S, B, V] with labels [S, B] gives the transpose of the [B, S, V] result; grads keep the logits' dtype."""
    g = torch.Generator().manual_seed(3)
    bsv = torch.randn(2, 6, 30, generator=g)
    labels = torch.randint(0, 30, (2, 6), generator=g)
    sbv = bsv.transpose(0, 1).contiguous().to(torch.bfloat16).requires_grad_(True)
    out = token_logprobs(sbv, labels.t(), chunk_elements=30 * 4)
    assert (out.t() - _reference(bsv.to(torch.bfloat16), labels)).abs().max().item() < 1e-5
    out.sum().backward()
    assert sbv.grad.dtype == torch.bfloat16 and sbv.grad.shape == sbv.shape
