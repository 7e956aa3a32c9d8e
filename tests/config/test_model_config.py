"""ModelConfig.validate: one message per problem, each naming the key."""
from __future__ import annotations

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
    cfg = ModelConfig(hf_path="Qwen/Qwen2.5-7B-Instruct", tensor_model_parallel_size=8, architecture=shape)
    errors = cfg.validate(world_size=8)
    assert any(e.startswith("model.tensor_model_parallel_size: TP 8 does not divide num_attention_heads 28 (preset)")
               for e in errors), errors
    assert ModelConfig(hf_path="Qwen/Qwen2.5-7B-Instruct", tensor_model_parallel_size=2,
                       architecture=shape).validate(world_size=8) == []
