"""Fixtures for the evaluation tests: a tiny local reward model (random weights, one output, the real
Qwen tokenizer), built once per session: the tests check the mechanism, never the verdict."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def reward_model_path(tmp_path_factory, tiny_qwen_path):
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForSequenceClassification

    path = tmp_path_factory.mktemp("rm")
    tok = AutoTokenizer.from_pretrained(tiny_qwen_path)
    cfg = Qwen2Config(vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, num_labels=1, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    Qwen2ForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path
