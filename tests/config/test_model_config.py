"""ModelConfig.validate: one message per problem, each naming the key."""
from __future__ import annotations

import pytest

from nemo_drift.config.model import ModelConfig


def test_valid_default_for_tiny_qwen(tiny_qwen_path):
    assert ModelConfig(hf_path=str(tiny_qwen_path), seq_length=512).validate(world_size=2) == []


def test_messages_name_the_key(tiny_qwen_path):
    cfg = ModelConfig(hf_path=str(tiny_qwen_path), tensor_model_parallel_size=3, pipeline_model_parallel_size=3,
                      precision="fp16", fp8="e5m2", attention_backend="flash", seq_length=8192)
    errors = cfg.validate(world_size=4)
    assert any(e.startswith("model.tensor_model_parallel_size: TP 3 does not divide num_attention_heads 4 (") for e in errors)
    assert any(e.startswith("model.pipeline_model_parallel_size: PP 3 does not divide num_layers 2 (") for e in errors)
    for key in ("model.precision", "model.fp8", "model.attention_backend", "model.seq_length"):
        assert any(e.startswith(key + ":") for e in errors), (key, errors)
    assert any("does not divide the world size 4" in e for e in errors)


def test_te_only_features_are_checked_against_where_the_stages_run(tiny_qwen_path):
    from nemo_drift.config.capabilities import Capabilities

    cfg = ModelConfig(hf_path=str(tiny_qwen_path), tensor_model_parallel_size=2, sequence_parallel=True,
                      context_parallel_size=2, fp8="hybrid")
    assert cfg.validate() == []  # shape and values are fine; TE is a question for the stage environment
    without = cfg.capability_problems(Capabilities(where="the training image img:1", image="img:1", source="p.json"))
    assert {e.split(":")[0] for e in without} == {"model.sequence_parallel", "model.context_parallel_size", "model.fp8"}
    assert all("the training image img:1 does not have (probe p.json)" in e for e in without), without
    unknown = cfg.capability_problems(Capabilities.unknown("the training image img:1"))
    assert len(unknown) == 3 and all("is not known" in e and "cluster.capabilities" in e for e in unknown)
    assert cfg.capability_problems(Capabilities(where="x", transformer_engine="2.7.0")) == []
    assert ModelConfig(hf_path=str(tiny_qwen_path)).capability_problems(Capabilities.unknown("x")) == []


def test_a_preset_shape_is_checked_without_the_checkpoint():
    from nemo_drift.config.architecture import ArchitectureConfig

    shape = ArchitectureConfig(hidden_size=3584, num_layers=28, num_attention_heads=28, num_key_value_heads=4,
                               ffn_hidden_size=18944, vocab_size=152064)
    cfg = ModelConfig(hf_path="Qwen/Qwen2.5-7B-Instruct", family="qwen2", tensor_model_parallel_size=8,
                      architecture=shape)
    errors = cfg.validate(world_size=8)
    assert any(e.startswith("model.tensor_model_parallel_size: TP 8 does not divide num_attention_heads 28 (preset)")
               for e in errors), errors
    assert ModelConfig(hf_path="Qwen/Qwen2.5-7B-Instruct", family="qwen2", tensor_model_parallel_size=2,
                       architecture=shape).validate(world_size=8) == []


def test_attention_width_is_heads_times_head_dim_not_hidden():
    """Qwen3-32B (published: 32.8B parameters, 31.2B without embeddings): h 5120, 64 heads x head_dim 128 = 8192
    (wider than h), 8 KV heads, f 25600, V 151936 untied, 64 layers. By hand, per layer:
      q 5120 x 8192 = 41,943,040;  k, v 2 x 5120 x 1024 = 10,485,760;  o 8192 x 5120 = 41,943,040
      MLP 3 x 5120 x 25600 = 393,216,000;  two norms 10,240            -> 487,598,080
    64 layers = 31,206,277,120; embeddings 2 x 151936 x 5120 + final norm 5120 = 1,555,829,760
    total 32,762,106,880 (QK-norm weights, 64 x 2 x 128 = 16,384, are left out)."""
    from nemo_drift.config.loader import load_config

    arch = load_config(["model=qwen3_32b"], validate=False).model.architecture
    assert arch.layer_params() == 487_598_080
    assert arch.num_params() == 32_762_106_880
    assert abs(arch.num_params() / 32.8e9 - 1) < 0.005
    assert arch.num_layers * arch.layer_params() == pytest.approx(31.2e9, rel=0.005)
    arch.head_dim = 0  # per-head width from hidden / heads = 80, as if q/o were 5120 x 5120: 30.50B, 7% short
    assert arch.num_params() == 30_497_182_720 and abs(arch.num_params() / 32.8e9 - 1) > 0.05
    for preset, published in (("qwen3_8b", 8.2e9), ("qwen3_14b", 14.8e9)):
        assert load_config([f"model={preset}"], validate=False).model.architecture.num_params() == \
            pytest.approx(published, rel=0.005), preset
