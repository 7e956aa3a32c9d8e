"""Megatron log-probs of a bridge-converted model equal the HF model's own log-probs (fp32, real text)."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from common import text_pairs
from nemo_drift.config.model import ModelConfig
from nemo_drift.megatron.batch import collate_pairs
from nemo_drift.megatron.logprobs import sequence_logprobs, token_logprobs
from nemo_drift.megatron.model import build_model


def _hf_token_logps(hf_path, batch) -> torch.Tensor:
    model = AutoModelForCausalLM.from_pretrained(hf_path, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(batch["tokens"], position_ids=batch["position_ids"]).logits  # [2B, S, V]
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, batch["labels"].unsqueeze(-1)).squeeze(-1)  # [2B, S]


@pytest.mark.slow
@pytest.mark.parametrize("asset", ["tiny_qwen_path", "smollm2_path"])
def test_megatron_logprobs_match_hf(asset, request, dist_env):
    hf_path = request.getfixturevalue(asset)
    tok = AutoTokenizer.from_pretrained(hf_path)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    batch = collate_pairs(text_pairs(tok), pad_id=pad, seq_length=64)
    built = build_model(hf_path, ModelConfig(hf_path=str(hf_path), seq_length=64), for_training=False)

    with torch.no_grad():
        logits = built.chunks[0](batch["tokens"], batch["position_ids"], None)  # [2B, S, V]
        megatron_tokens = token_logprobs(logits, batch["labels"])  # [2B, S]
    sums, counts = sequence_logprobs(built.chunks, batch)
    hf_tokens = _hf_token_logps(hf_path, batch)
    mask = batch["loss_mask"]

    token_diff = ((megatron_tokens - hf_tokens) * mask).abs().max().item()
    seq_diff = (sums - (hf_tokens * mask).sum(1)).abs().max().item()
    mean_diff = ((sums - (hf_tokens * mask).sum(1)) / counts).abs().max().item()
    print(f"{asset}: max |token logp diff| {token_diff:.3g}, |sequence sum diff| {seq_diff:.3g}, "
          f"|sequence mean diff| {mean_diff:.3g}")
    # per token 1e-4; a sum of n tokens accumulates n roundings, so sums are compared per token too
    assert token_diff < 1e-4 and mean_diff < 1e-4
    assert torch.equal(counts, mask.sum(1))
    # the check can fail: labels off by one position are far from the HF values
    wrong = _hf_token_logps(hf_path, {**batch, "labels": batch["tokens"]})
    assert ((megatron_tokens - wrong) * mask).abs().max().item() > 1e-1
