"""Sampler entry point: run by the generation interpreter, never imported by the training process.

    <generation.python> -m nemo_drift.generation.sampler --root GEN_DIR --shards 0,2,4 --replica 0

Loads one vLLM offline engine (`vllm.LLM`) for the model in GEN_DIR/settings.json, then for each listed
shard that is not finished yet: reads its requests, samples n completions per prompt, and writes the
samples file atomically (temp file + rename), so a killed process leaves only whole shards behind.
This is the only module in the package that imports vLLM, and only inside `main`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

from nemo_drift.generation.records import (Sample, SampleProvenance, SampleRequest, flag_sample, read_requests,
                                           write_jsonl_atomic)
from nemo_drift.generation.shards import ShardLayout

END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")
"""Chat templates' end-of-turn markers; those present in the vocabulary (and the eos ids) stop a reply."""


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def configure_cpu_env(cache_root: str, kv_cache_gib: int) -> None:
    """vLLM-on-CPU settings measured in docs/vllm-cpu.md: a bounded KV cache (unset, vLLM
    took 20.6 GiB and was OOM-killed), the engine in this process (start 6 s instead of 34-44 s), and a
    cache folder that is not ~/.cache/vllm. Must run before `import vllm`."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CACHE_ROOT", cache_root)


def end_of_turn_ids(tokenizer: Any, model_dir: Path) -> list[int]:
    """Token ids that end a reply: the tokenizer's eos, generation_config.json's eos ids, and the
    template's end-of-turn marker when the vocabulary has one."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen_cfg = model_dir / "generation_config.json"
    if gen_cfg.exists():
        eos = json.loads(gen_cfg.read_text()).get("eos_token_id")
        ids.update(int(i) for i in (eos if isinstance(eos, list) else [eos]) if i is not None)
    vocab = tokenizer.get_vocab()
    template = getattr(tokenizer, "chat_template", None) or ""
    ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab and t in template)
    return sorted(ids)


def _token_logprob(entry: Optional[dict[int, Any]], token: int) -> Optional[float]:
    if entry is None or token not in entry:
        return None
    return float(entry[token].logprob)


def to_samples(request: SampleRequest, output: Any, provenance: SampleProvenance, keep_prompt: bool) -> list[Sample]:
    """Samples from one vLLM RequestOutput (one per completion, in sample order)."""
    prompt_ids = list(output.prompt_token_ids) if keep_prompt else None
    prompt_lps = None
    if keep_prompt and output.prompt_logprobs is not None:
        prompt_lps = [_token_logprob(entry, tok) for entry, tok in zip(output.prompt_logprobs, output.prompt_token_ids)]
    samples = []
    for completion in sorted(output.outputs, key=lambda c: c.index):
        token_ids = list(completion.token_ids)
        token_lps = None
        if completion.logprobs is not None:
            token_lps = [_token_logprob(entry, tok) for entry, tok in zip(completion.logprobs, token_ids)]
        finish = completion.finish_reason or "unknown"
        empty, truncated = flag_sample(completion.text, finish)
        samples.append(Sample(prompt_id=request.prompt_id, sample_index=completion.index, text=completion.text,
                              token_ids=token_ids, finish_reason=finish,
                              cumulative_logprob=completion.cumulative_logprob, empty=empty, truncated=truncated,
                              token_logprobs=token_lps, prompt_token_ids=prompt_ids, prompt_logprobs=prompt_lps,
                              provenance=provenance))
    return samples


def _build_engine(settings: dict[str, Any], on_gpu: bool) -> Any:
    from vllm import LLM

    gen = settings["generation"]
    eager = gen["enforce_eager"] if gen["enforce_eager"] != "auto" else not on_gpu
    kwargs: dict[str, Any] = dict(model=settings["model_path"], tokenizer=settings["model_path"],
                                  tensor_parallel_size=gen["tensor_parallel_size"], seed=gen["seed"],
                                  enforce_eager=bool(eager), dtype=gen["dtype"], trust_remote_code=False)
    if on_gpu:
        kwargs["gpu_memory_utilization"] = gen["gpu_memory_utilization"]
    if settings.get("max_model_len"):
        kwargs["max_model_len"] = settings["max_model_len"]
    return LLM(**kwargs)


def _sampling_params(settings: dict[str, Any], stop_ids: list[int], seed: int) -> Any:
    from vllm import SamplingParams

    gen = settings["generation"]
    # logprobs=0: only the sampled token's raw log-prob (cheap); it also makes cumulative_logprob exist.
    return SamplingParams(n=gen["n"], temperature=gen["temperature"], top_p=gen["top_p"],
                          max_tokens=gen["max_tokens"], seed=seed, stop_token_ids=stop_ids, logprobs=0,
                          prompt_logprobs=0 if settings.get("prompt_logprobs") else None)


def request_seed(base: int, prompt_id: str) -> int:
    """Per-prompt seed: a prompt's samples do not depend on which shard or batch it landed in."""
    import zlib

    return (base * 1_000_003 + zlib.crc32(prompt_id.encode())) % (2**31 - 1)


def run_shards(root: Path, shards: list[int], replica: int) -> None:
    """Sample every unfinished shard in `shards` with one engine."""
    layout = ShardLayout(root)
    settings = json.loads(layout.settings_path.read_text())
    on_gpu = _on_gpu()
    if not on_gpu:
        configure_cpu_env(settings["cache_root"], settings["generation"]["cpu_kv_cache_gib"])
    todo = [s for s in shards if not layout.finished(s)]
    print(f"[sampler r{replica}] {len(todo)}/{len(shards)} shards to sample on {'gpu' if on_gpu else 'cpu'}", flush=True)
    if not todo:
        return
    from vllm.inputs import TokensPrompt

    start = time.monotonic()
    llm = _build_engine(settings, on_gpu)
    tokenizer = llm.get_tokenizer()
    stop_ids = end_of_turn_ids(tokenizer, Path(settings["model_path"]))
    provenance = SampleProvenance(model_path=settings["model_path"],
                                  settings={**settings["generation"], "stop_token_ids": stop_ids})
    print(f"[sampler r{replica}] engine ready in {time.monotonic() - start:.1f}s; stop ids {stop_ids}", flush=True)
    keep_prompt = bool(settings.get("prompt_logprobs"))
    for shard in todo:
        t0 = time.monotonic()
        requests = read_requests(layout.requests_path(shard))
        prompts = [TokensPrompt(prompt_token_ids=r.prompt_token_ids or tokenizer.encode(r.prompt, add_special_tokens=False))
                   for r in requests]
        params = [_sampling_params(settings, stop_ids, request_seed(settings["generation"]["seed"], r.prompt_id))
                  for r in requests]
        outputs = llm.generate(prompts, params, use_tqdm=False)
        samples = [s for r, o in zip(requests, outputs) for s in to_samples(r, o, provenance, keep_prompt)]
        write_jsonl_atomic(layout.samples_path(shard), samples)
        tokens = sum(len(s.token_ids) for s in samples)
        print(f"[sampler r{replica}] shard {shard}: {len(samples)} samples, {tokens} tokens in "
              f"{time.monotonic() - t0:.1f}s", flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    """Command-line entry (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="generation folder (holds settings.json)")
    parser.add_argument("--shards", required=True, help="comma-separated shard indices for this replica")
    parser.add_argument("--replica", type=int, default=0)
    args = parser.parse_args(argv)
    shards = [int(s) for s in args.shards.split(",") if s.strip()]
    run_shards(args.root, shards, args.replica)
    return 0


if __name__ == "__main__":  # vLLM starts processes: the guard is required (docs/vllm-cpu.md)
    sys.exit(main())
