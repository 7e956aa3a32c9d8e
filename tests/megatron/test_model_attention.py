"""SdpaAttention is a drop-in for megatron's DotProductAttention; a tiny GPTModel trains on CPU."""
from __future__ import annotations

import torch

from tiny_gpt import VOCAB, tiny_config, tiny_gpt


def _inputs():
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, VOCAB, (2, 24), generator=g)
    return tokens, torch.arange(24).expand(2, 24)


def test_sdpa_matches_dot_product_attention(dist_env):
    torch.manual_seed(0)
    local = tiny_gpt(tiny_config(), sdpa=False)
    sdpa = tiny_gpt(tiny_config(), sdpa=True)
    sdpa.load_state_dict(local.state_dict())
    tokens, pos = _inputs()
    with torch.no_grad():
        a, b = local(tokens, pos, None), sdpa(tokens, pos, None)  # [2, 24, V]
    diff = (a - b).abs().max().item()
    print(f"SDPA vs DotProductAttention logits: max |diff| {diff:.3g}")
    assert diff < 1e-5
    # the check can fail: a non-causal SDPA would see the future
    attention = sdpa.decoder.layers[0].self_attention  # passes its attn_mask_type to core attention
    attention.attn_mask_type = type(attention.attn_mask_type).no_mask
    with torch.no_grad():
        assert (sdpa(tokens, pos, None) - a).abs().max().item() > 1e-3


def test_tiny_gpt_forward_backward_on_cpu(dist_env):
    torch.manual_seed(0)
    model = tiny_gpt(tiny_config())
    tokens, pos = _inputs()
    loss = model(tokens, pos, None, labels=tokens.roll(-1, dims=1)).mean()  # per-token CE [2, 24] -> scalar
    loss.backward()
    assert torch.isfinite(loss) and 4.0 < loss.item() < 6.0  # ~ln(128) = 4.85 at random init
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
