"""build_model: CPU-safe provider flags, the SDPA spec, clear errors for TE-only settings."""
from __future__ import annotations

import pytest
import torch

from nemo_drift.config.model import ModelConfig
from nemo_drift.megatron.attention import SdpaAttention
from nemo_drift.megatron.model import build_model


def test_tiny_qwen_build_on_cpu(dist_env, tiny_qwen_path):
    built = build_model(tiny_qwen_path, ModelConfig(hf_path=str(tiny_qwen_path), seq_length=64), for_training=True)
    provider = built.provider
    assert provider.params_dtype == torch.float32 and not provider.bf16
    for flag in ("persist_layer_norm", "apply_rope_fusion", "gradient_accumulation_fusion", "masked_softmax_fusion",
                 "bias_activation_fusion", "bias_dropout_fusion"):
        assert getattr(provider, flag) is False, flag
    (chunk,) = built.chunks
    assert isinstance(chunk.decoder.layers[0].self_attention.core_attention, SdpaAttention)
    assert chunk.training and all(p.requires_grad for p in chunk.parameters())
    assert built.tokenizer_path == tiny_qwen_path and next(chunk.parameters()).device.type == "cpu"


@pytest.mark.parametrize("overrides, key", [
    ({"fp8": "hybrid"}, "model.fp8"),
    ({"sequence_parallel": True}, "model.sequence_parallel"),
    ({"attention_backend": "te"}, "model.attention_backend"),
])
def test_te_only_settings_fail_clearly(dist_env, tiny_qwen_path, overrides, key):
    with pytest.raises(ValueError, match=key):
        build_model(tiny_qwen_path, ModelConfig(hf_path=str(tiny_qwen_path), **overrides))


def test_layout_must_match_parallel_state(dist_env, tiny_qwen_path):
    with pytest.raises(ValueError, match="tensor_model_parallel_size"):
        build_model(tiny_qwen_path, ModelConfig(hf_path=str(tiny_qwen_path), tensor_model_parallel_size=2))


@pytest.mark.slow
def test_ddp_wrap_and_full_recompute_on_cpu(dist_env, tiny_qwen_path):
    """megatron DDP (needed by megatron's optimizer) and full activation recompute (CPU RNG patch) work,
    and recompute changes no gradient."""
    from megatron.core.distributed import DistributedDataParallel
    from megatron.core.pipeline_parallel import get_forward_backward_func
    from transformers import AutoTokenizer

    from common import text_pairs
    from nemo_drift.megatron.batch import collate_pairs
    from nemo_drift.megatron.logprobs import make_forward_step, sum_by_sequence

    tok = AutoTokenizer.from_pretrained(tiny_qwen_path)
    batch = collate_pairs(text_pairs(tok), tok.pad_token_id, 64)

    def loss_fn(token_logps, b):
        sums, _ = sum_by_sequence(token_logps, b["loss_mask"])
        return -sums.sum(), {"loss": -sums.sum().detach()}

    grads = []
    for recompute in (None, "full"):
        cfg = ModelConfig(hf_path=str(tiny_qwen_path), seq_length=64, recompute=recompute)
        built = build_model(tiny_qwen_path, cfg, wrap_with_ddp=True)
        assert isinstance(built.chunks[0], DistributedDataParallel)
        get_forward_backward_func()(forward_step_func=make_forward_step(loss_fn), data_iterator=iter([batch]),
                                    model=built.chunks, num_microbatches=1, seq_length=batch["tokens"].shape[1],
                                    micro_batch_size=batch["tokens"].shape[0], forward_only=False)
        grads.append(torch.cat([p.main_grad.flatten() for p in built.chunks[0].parameters()]))
    assert grads[0].abs().sum() > 0
    assert (grads[0] - grads[1]).abs().max().item() < 1e-6
