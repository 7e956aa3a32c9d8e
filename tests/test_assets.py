"""The offline model assets load from their cache paths (no hub) as the architecture each stands for, with
the shape, RoPE and attention layout it was built to test, and a working chat template."""
from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))  # developer tools are scripts, not an installed package

from make_assets import sha256_of, verify_sha256  # noqa: E402

CHAT = [{"role": "user", "content": "What is the capital of France?"}]
SEQ = 64
"""The length of the tests' sequences: longer than tiny-gemma3's sliding window."""


@functools.lru_cache(maxsize=None)
def _tokenizer(path: Path) -> Any:
    """One load per asset (the Gemma tokenizer, 262,144 tokens, takes about 2 s); tests only read it."""
    return AutoTokenizer.from_pretrained(path)


def _load(path: Path) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True).eval()


@pytest.mark.parametrize("fixture, arch", [
    ("smollm2_path", "LlamaForCausalLM"), ("tiny_qwen_path", "Qwen2ForCausalLM"),
    ("tiny_qwen3_path", "Qwen3ForCausalLM"), ("tiny_llama31_path", "LlamaForCausalLM")])
def test_asset_has_weights_tokenizer_and_chatml_template(request, fixture, arch):
    path = request.getfixturevalue(fixture)
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == [arch]
    tok = _tokenizer(path)
    text = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert tok.eos_token == "<|im_end|>"
    assert tok.convert_tokens_to_ids("<|im_end|>") == config["eos_token_id"]


@pytest.mark.parametrize("fixture, arch, model_type", [
    ("tiny_qwen3_path", "Qwen3ForCausalLM", "qwen3"), ("tiny_llama31_path", "LlamaForCausalLM", "llama"),
    ("tiny_gemma3_path", "Gemma3ForCausalLM", "gemma3_text")])
def test_tiny_asset_loads_offline_as_its_architecture(request, fixture, arch, model_type):
    path = request.getfixturevalue(fixture)
    model = _load(path)
    assert type(model).__name__ == arch and model.config.model_type == model_type
    assert next(model.parameters()).dtype == torch.float32
    ids = torch.randint(0, 1000, (1, SEQ), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, SEQ, model.config.vocab_size) and torch.isfinite(logits).all()
    stop = json.loads((path / "generation_config.json").read_text())["eos_token_id"]
    assert model.config.eos_token_id in (stop if isinstance(stop, list) else [stop])


def test_tiny_qwen2_has_the_shape_vllm_cpu_accepts(tiny_qwen_path):
    config = json.loads((tiny_qwen_path / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"]) == (128, 4, 2)
    assert config["hidden_size"] // config["num_attention_heads"] == 32  # vLLM CPU rejects head_dim 16


def test_tiny_qwen3_has_qk_norm_over_head_dim_32(tiny_qwen3_path):
    config = AutoConfig.from_pretrained(tiny_qwen3_path)
    assert (config.head_dim, config.num_attention_heads, config.num_key_value_heads) == (32, 4, 2)
    model = _load(tiny_qwen3_path)
    attn = model.model.layers[0].self_attn
    assert attn.q_norm.weight.shape == (32,) and attn.k_norm.weight.shape == (32,)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied


def test_tiny_llama31_applies_llama3_rope_scaling(tiny_llama31_path):
    config = AutoConfig.from_pretrained(tiny_llama31_path)
    rope = config.rope_parameters
    assert rope["rope_type"] == "llama3"
    assert (rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]) == (8.0, 1.0, 4.0)
    assert rope["original_max_position_embeddings"] == 256 and config.max_position_embeddings == 2048
    model = _load(tiny_llama31_path)
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()  # untied
    head_dim = config.hidden_size // config.num_attention_heads
    plain = 1.0 / rope["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    scaled = model.model.rotary_emb.inv_freq.double()
    # Wavelength 2*pi/f under 256/4 = 64 tokens is kept; over 256/1 = 256 tokens it is divided by the factor.
    assert torch.allclose(scaled[0], plain[0]) and 2 * math.pi / plain[0] < 64
    assert torch.allclose(scaled[-1], plain[-1] / 8.0) and 2 * math.pi / plain[-1] > 256


def test_tiny_gemma3_has_a_short_sliding_window_in_five_of_six_layers(tiny_gemma3_path):
    config = AutoConfig.from_pretrained(tiny_gemma3_path)
    assert config.sliding_window == 16 < SEQ
    assert config.layer_types == ["sliding_attention"] * 5 + ["full_attention"]
    assert (config.head_dim, config.query_pre_attn_scalar) == (32, 64)
    assert config.rope_parameters["full_attention"]["rope_theta"] == 1e6
    assert config.rope_parameters["sliding_attention"]["rope_theta"] == 1e4
    model = _load(tiny_gemma3_path)
    assert [layer.self_attn.sliding_window for layer in model.model.layers] == [16] * 5 + [None]
    assert model.model.layers[0].self_attn.scaling == pytest.approx(64 ** -0.5)
    # The window really masks: after the first (sliding) layer, position 63 cannot see token 0; position 10 can.
    ids = torch.randint(0, 1000, (1, SEQ), generator=torch.Generator().manual_seed(0))
    other = ids.clone()
    other[0, 0] += 1
    with torch.no_grad():
        first, second = (model(x, output_hidden_states=True).hidden_states[1] for x in (ids, other))
    assert torch.equal(first[0, SEQ - 1], second[0, SEQ - 1])
    assert not torch.equal(first[0, 10], second[0, 10])


def test_gemma3_270m_config_is_google_s(gemma3_270m_path):
    """The converted config matches google/gemma-3-270m's published config.json."""
    config = AutoConfig.from_pretrained(gemma3_270m_path)
    assert config.architectures == ["Gemma3ForCausalLM"] and config.model_type == "gemma3_text"
    published = {"num_hidden_layers": 18, "hidden_size": 640, "intermediate_size": 2048, "num_attention_heads": 4,
                 "num_key_value_heads": 1, "head_dim": 256, "sliding_window": 512, "query_pre_attn_scalar": 256,
                 "vocab_size": 262_144, "max_position_embeddings": 32_768, "hidden_activation": "gelu_pytorch_tanh",
                 "tie_word_embeddings": True, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
                 "final_logit_softcapping": None, "attn_logit_softcapping": None}
    assert {key: getattr(config, key) for key in published} == published
    assert config.rms_norm_eps == pytest.approx(1e-6)
    assert config.layer_types == (["sliding_attention"] * 5 + ["full_attention"]) * 3
    assert config.rope_parameters["full_attention"]["rope_theta"] == 1e6
    assert config.rope_parameters["sliding_attention"]["rope_theta"] == 1e4


@pytest.mark.parametrize("fixture", ["gemma3_270m_path", "tiny_gemma3_path"])
def test_gemma_chat_template_renders_turns_and_stops_at_end_of_turn(request, fixture, repo_root):
    path = request.getfixturevalue(fixture)
    tok = _tokenizer(path)
    assert tok.chat_template == (repo_root / "tools" / "chat_templates" / "gemma3.jinja").read_text()
    text = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert text == "<bos><start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"
    system = [{"role": "system", "content": "Answer in one word."}, *CHAT]
    folded = tok.apply_chat_template(system, tokenize=False, add_generation_prompt=True)
    assert folded.startswith("<bos><start_of_turn>user\nAnswer in one word.\n\nWhat is the capital")
    assert "system" not in folded
    ids = tok(text, add_special_tokens=False)["input_ids"]
    start, end = tok.convert_tokens_to_ids(["<start_of_turn>", "<end_of_turn>"])
    assert (start, end) == (105, 106)
    assert ids[:2] == [tok.bos_token_id, start] and ids.count(end) == 1 and ids.count(tok.bos_token_id) == 1
    generation = json.loads((path / "generation_config.json").read_text())
    assert sorted(generation["eos_token_id"]) == sorted([tok.eos_token_id, end]) == [1, 106]


def test_smollm2_is_a_real_instruct_model(smollm2_path):
    tok = _tokenizer(smollm2_path)
    model = _load(smollm2_path)
    ids = tok.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    reply = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in reply


@pytest.mark.slow  # loads 1.1 GB of fp32 weights: about 10 s on 2 cores
def test_gemma3_270m_is_the_real_model(gemma3_270m_path):
    """A base model, so a few-shot prompt: greedy decoding of the bare "The capital of France is" gives
    " the capital of the country of France." (" Paris" is its third choice)."""
    tok = _tokenizer(gemma3_270m_path)
    model = _load(gemma3_270m_path)
    assert type(model).__name__ == "Gemma3ForCausalLM"
    ids = tok("The capital of Germany is Berlin. The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.parametrize("fixture", ["gemma3_270m_path", "tiny_gemma3_path"])
def test_gemma_tokenizer_splits_words_as_gemma_does(request, fixture):
    """Gemma's own ids for a plain sentence, <bos> first (transformers' GGUF reader gave 10 pieces here,
    "▁c ap it al", and no model was trained on those)."""
    tok = _tokenizer(request.getfixturevalue(fixture))
    assert len(tok) == 262_144
    ids = tok("The capital of France is")["input_ids"]
    assert ids == [2, 818, 5279, 529, 7001, 563]
    assert tok.convert_ids_to_tokens(ids[1:]) == ["The", "▁capital", "▁of", "▁France", "▁is"]
    assert tok.decode([105, 2364, 107, 50429, 106], skip_special_tokens=True) == "user\nParis"


def test_checksum_check_names_a_corrupted_file(tmp_path):
    chunk = tmp_path / "model.gguf"
    chunk.write_bytes(bytes(range(256)) * 64)
    good = sha256_of(chunk)
    verify_sha256(chunk, good, "the test")  # an intact file passes
    data = bytearray(chunk.read_bytes())
    data[1000] ^= 0x01
    chunk.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.gguf: SHA256 [0-9a-f]{64} differs from " + good):
        verify_sha256(chunk, good, "the test")
