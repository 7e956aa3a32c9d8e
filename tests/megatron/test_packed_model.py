"""A packed row through the real model (tiny Qwen2; tiny Gemma 3, whose 16-token sliding windows the
sequences here exceed; SDPA path, fp32) gives the per-sequence log-probs and
gradients of the same sequences in a padded batch: positions restart, RoPE restarts, attention stays in
its sequence. (RoPE scores depend on position differences only, so inside a confined sequence even
row-global RoPE offsets would give the same attention; the confinement is what the second test shows.)"""
from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from nemo_drift.megatron.batch import collate_packed, collate_pairs, packed_seq_params, sequence_sums
from nemo_drift.megatron.logprobs import logprob_output_processor


@dataclasses.dataclass
class P:
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]


def _pairs() -> list[P]:
    rng = random.Random(5)
    ids = lambda k: [rng.randrange(10, 5000) for _ in range(k)]  # noqa: E731
    return [P(ids(9), ids(70), ids(4)), P(ids(3), ids(12), ids(20)), P(ids(15), ids(6), ids(33))]


@pytest.fixture(scope="module", params=["tiny_qwen_path", "tiny_gemma3_path"], ids=["qwen2", "gemma3"])
def model(dist_env, request):
    from nemo_drift.config.model import ModelConfig
    from nemo_drift.megatron.model import build_model

    path = request.getfixturevalue(request.param)
    torch.manual_seed(0)
    return build_model(path, ModelConfig(hf_path=str(path), seq_length=128, precision="fp32"),
                       for_training=True).chunks[0]


def _sums(model, batch: dict, params=None) -> torch.Tensor:
    logps = model(batch["tokens"], batch["position_ids"], None, labels=batch["labels"], packed_seq_params=params,
                  output_processor=logprob_output_processor)
    return sequence_sums(logps, batch)[0]


def _grads(model, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_packed_row_equals_padded_batch_with_gradients(model):
    pairs = _pairs()
    padded = collate_pairs(pairs, pad_id=0, seq_length=128)
    packed = collate_packed(pairs, pad_id=0, seq_length=128)
    assert packed["tokens"].shape[0] == 1 and packed["cu_seqlens"].numel() > 6  # 6 sequences + tail padding
    weights = torch.linspace(0.5, 1.5, 6)  # a loss that weights every sequence differently
    a = _sums(model, padded)
    grads_a = _grads(model, (a * weights).sum())
    b = _sums(model, packed, packed_seq_params(packed))
    grads_b = _grads(model, (b * weights).sum())
    per_token = ((a - b).abs() / padded["loss_mask"].sum(1)).max().item()
    print(f"packed vs padded: max |sum logp diff| {(a - b).abs().max().item():.3g}, per token {per_token:.3g}")
    assert per_token < 1e-5  # fp32 rounding (the failing layouts below are off by more than 1e-3)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    for name, g in grads_a.items():
        assert torch.allclose(grads_b[name], g, atol=1e-5, rtol=1e-4), name


def test_the_check_can_fail_without_confined_attention(model):
    pairs = _pairs()
    packed = collate_packed(pairs, pad_id=0, seq_length=128)
    reference = _sums(model, packed, packed_seq_params(packed)).detach()
    # one causal sequence over the whole row: later sequences attend to earlier ones
    leaky = _sums(model, packed).detach()
    assert (leaky - reference).abs().max().item() > 1e-3
