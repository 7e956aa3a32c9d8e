"""The offline model assets load from their cache paths (no hub) with a working chat template."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

CHAT = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.mark.parametrize("fixture, arch", [("smollm2_path", "LlamaForCausalLM"), ("tiny_qwen_path", "Qwen2ForCausalLM")])
def test_asset_has_weights_tokenizer_and_chatml_template(request, fixture, arch):
    path = request.getfixturevalue(fixture)
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == [arch]
    tok = AutoTokenizer.from_pretrained(path)
    text = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert tok.eos_token == "<|im_end|>"
    assert tok.convert_tokens_to_ids("<|im_end|>") == config["eos_token_id"]


def test_tiny_qwen2_has_the_shape_vllm_cpu_accepts(tiny_qwen_path):
    config = json.loads((tiny_qwen_path / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"]) == (128, 4, 2)
    assert config["hidden_size"] // config["num_attention_heads"] == 32  # vLLM CPU rejects head_dim 16


def test_smollm2_is_a_real_instruct_model(smollm2_path):
    tok = AutoTokenizer.from_pretrained(smollm2_path)
    model = AutoModelForCausalLM.from_pretrained(smollm2_path, dtype=torch.float32).eval()
    ids = tok.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    reply = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in reply
