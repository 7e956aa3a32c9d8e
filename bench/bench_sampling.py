"""Sampling throughput: the vLLM path (nemo_drift.generation, own process) vs plain HF `generate`.

The peer is what the official DRIFT code uses: transformers `generate`, batch 16, max_new_tokens 512,
temperature 0.7, top_p 0.9. Both sample the same chat-templated prompts from SmolLM2-135M-Instruct
in the same run; tokens = generated tokens up to and including the end-of-turn token.

    .venv/train/bin/python bench/bench_sampling.py --prompts 16 --max-tokens 512

vLLM is timed two ways: end to end (`generate()`: process start, engine start, sampling, merge) and
sampling only (the shard time the sampler logs). Also reports CPU seconds of each side.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nemo_drift.config.generation import GenerationConfig  # noqa: E402
from nemo_drift.generation.client import generate  # noqa: E402
from nemo_drift.generation.records import SampleRequest  # noqa: E402

QUESTIONS = [
    "Explain why the sky is blue.", "Write a short poem about autumn.", "Give three tips for better sleep.",
    "What is a prime number?", "Summarize the plot of Romeo and Juliet.", "How do I boil an egg?",
    "Describe the water cycle.", "What are the benefits of exercise?", "Write a haiku about the sea.",
    "Explain recursion to a child.", "What causes earthquakes?", "How does a bicycle stay upright?",
    "List five fruits and their colors.", "Why do cats purr?", "What is photosynthesis?",
    "Give me a recipe for pancakes.",
]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_hf(model_dir: Path, prompts: list[str], batch: int, max_tokens: int, eos: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    torch.manual_seed(0)
    tokens, cpu0, start = 0, _self_cpu(), time.perf_counter()
    for i in range(0, len(prompts), batch):
        enc = tok(prompts[i:i + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, do_sample=True, temperature=0.7, top_p=0.9, max_new_tokens=max_tokens,
                                 pad_token_id=tok.pad_token_id, eos_token_id=eos)
        for row in out[:, enc.input_ids.shape[1]:].tolist():  # count up to and including the first eos
            tokens += row.index(eos) + 1 if eos in row else len(row)
    seconds = time.perf_counter() - start
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds, "cpu_s": _self_cpu() - cpu0}


def run_vllm(model_dir: Path, requests: list[SampleRequest], max_tokens: int, out: Path, dtype: str) -> dict:
    cfg = GenerationConfig(max_tokens=max_tokens, prompts_per_shard=len(requests), dtype=dtype, n=1)
    cpu0 = _children_cpu()
    result = generate(requests, model_dir, out, cfg)
    log = (out / "logs" / "replica_0.log").read_text()
    shard_s = float(re.findall(r"shard 0: \d+ samples, \d+ tokens in ([\d.]+)s", log)[-1])
    tokens = result.counts.tokens
    return {"tokens": tokens, "seconds_end_to_end": result.seconds, "tokens_per_s_end_to_end": tokens / result.seconds,
            "seconds_sampling": shard_s, "tokens_per_s_sampling": tokens / shard_s, "cpu_s": _children_cpu() - cpu0,
            "truncated": result.counts.truncated, "dtype": dtype}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / ".cache" / "models" / "smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--vllm-dtype", default="float32", help="float32 = HF's numerics; auto = bf16 on CPU")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench_sampling")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(args.model))
    questions = (QUESTIONS * (args.prompts // len(QUESTIONS) + 1))[:args.prompts]
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
               for q in questions]
    requests = [SampleRequest(f"b{i}", p) for i, p in enumerate(prompts)]
    out = args.out / f"vllm_{args.vllm_dtype}_{int(time.time())}"
    vllm = run_vllm(args.model, requests, args.max_tokens, out, args.vllm_dtype)
    hf = run_hf(args.model, prompts, args.batch, args.max_tokens, tok.eos_token_id)
    report = {"prompts": args.prompts, "max_tokens": args.max_tokens, "vllm": vllm, "hf_generate": hf,
              "speedup_sampling": vllm["tokens_per_s_sampling"] / hf["tokens_per_s"],
              "speedup_end_to_end": vllm["tokens_per_s_end_to_end"] / hf["tokens_per_s"],
              "speedup_per_cpu_s": (vllm["tokens"] / vllm["cpu_s"]) / (hf["tokens"] / hf["cpu_s"])}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
