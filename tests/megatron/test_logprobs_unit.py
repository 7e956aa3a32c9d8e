"""token_logprobs against plain log_softmax; chunking changes neither values nor gradients."""
from __future__ import annotations

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
