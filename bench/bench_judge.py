"""Pairwise judge throughput: the vLLM path (nemo_drift.generation, own process) vs HF transformers `generate`.

A pair is one prompt judged in both orders (two greedy judge queries of `max_tokens` new tokens each, built
by nemo_drift.eval.pairwise_judge from the shipped AlpacaEval prompts and synthetic replies). Both sides
render the same chat-templated judge prompts of SmolLM2-135M-Instruct in the same run:

    .venv/train/bin/python bench/bench_judge.py --pairs 20 --max-tokens 4

Start-up is reported apart from steady state. vLLM: end to end (`generate()`: interpreter and engine start,
judging, merge), engine start as the sampler logs it, and judging only (the shard time it logs). HF: model
load plus a one-query warm-up, then batched greedy `generate` in this process. Also reports how often the two
engines' parsed verdicts agree. Writes nothing into the repository (a temporary folder unless --out).
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nemo_drift.config.generation import GenerationConfig  # noqa: E402
from nemo_drift.data.fit import render_prompt  # noqa: E402
from nemo_drift.eval.benchmarks import SAMPLES, read_prompts  # noqa: E402
from nemo_drift.eval.pairwise_judge import judge_messages, judge_queries, parse_verdict  # noqa: E402
from nemo_drift.generation.client import generate  # noqa: E402
from nemo_drift.generation.records import SampleRequest  # noqa: E402

SHORT = "Yes, that works. {i}"
LONG = ("Here is a fuller answer ({i}): first the main point, then a short example, and finally a note on "
        "when it does not apply, so that the reader can check it against their own case.")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def judge_texts(tok, pairs: int) -> list[str]:
    """Chat-templated judge prompts, two per pair (candidate as A, then as B)."""
    prompts = read_prompts("alpaca_eval", SAMPLES / "alpaca_eval.json")
    chosen = [prompts[i % len(prompts)] for i in range(pairs)]
    queries = judge_queries(chosen, [LONG.format(i=i) for i in range(pairs)], [SHORT.format(i=i) for i in range(pairs)])
    return [render_prompt(tok, judge_messages(q)) for q in queries]


def run_vllm(model_dir: Path, texts: list[str], max_tokens: int, out: Path, dtype: str) -> dict:
    cfg = GenerationConfig(n=1, temperature=0.0, top_p=1.0, max_tokens=max_tokens, prompts_per_shard=len(texts),
                           dtype=dtype)
    requests = [SampleRequest(f"q{i:05d}", t) for i, t in enumerate(texts)]
    cpu0 = _cpu(resource.RUSAGE_CHILDREN)
    result = generate(requests, model_dir, out, cfg)
    log = (out / "logs" / "replica_0.log").read_text()
    engine_s = float(re.findall(r"engine ready in ([\d.]+)s", log)[-1])
    shard_s = float(re.findall(r"shard 0: \d+ samples, \d+ tokens in ([\d.]+)s", log)[-1])
    pairs = len(texts) / 2
    return {"seconds_end_to_end": result.seconds, "seconds_engine_start": engine_s, "seconds_judging": shard_s,
            "seconds_other_start_up": result.seconds - engine_s - shard_s,
            "pairs_per_s_judging": pairs / shard_s, "pairs_per_s_end_to_end": pairs / result.seconds,
            "cpu_s": _cpu(resource.RUSAGE_CHILDREN) - cpu0, "dtype": dtype,
            "answers": [s.text for s in result.samples]}


def run_hf(model_dir: Path, texts: list[str], batch: int, max_tokens: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start, cpu0 = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    tok = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()

    def answer(chunk: list[str]) -> list[str]:
        enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, do_sample=False, max_new_tokens=max_tokens, pad_token_id=tok.pad_token_id)
        return tok.batch_decode(out[:, enc.input_ids.shape[1]:], skip_special_tokens=True)

    answer(texts[:1])
    start_up = time.perf_counter() - start
    steady, answers = time.perf_counter(), []
    for i in range(0, len(texts), batch):
        answers += answer(texts[i:i + batch])
    seconds = time.perf_counter() - steady
    return {"seconds_start_up": start_up, "seconds_judging": seconds, "pairs_per_s_judging": len(texts) / 2 / seconds,
            "cpu_s": _cpu(resource.RUSAGE_SELF) - cpu0, "batch": batch, "answers": answers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / ".cache" / "models" / "smollm2-135m-instruct")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16, help="HF generate batch (queries)")
    parser.add_argument("--vllm-dtype", default="float32", help="float32 = HF's numerics")
    parser.add_argument("--out", type=Path, help="vLLM's generation folder (default: a temporary one)")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(args.model))
    texts = judge_texts(tok, args.pairs)
    prompt_tokens = sum(len(tok(t, add_special_tokens=False).input_ids) for t in texts) / len(texts)
    with tempfile.TemporaryDirectory() as tmp:
        vllm = run_vllm(args.model, texts, args.max_tokens, args.out or Path(tmp) / "vllm", args.vllm_dtype)
    hf = run_hf(args.model, texts, args.batch, args.max_tokens)
    verdicts = [(parse_verdict(a), parse_verdict(b)) for a, b in zip(vllm.pop("answers"), hf.pop("answers"))]
    report = {"pairs": args.pairs, "queries": len(texts), "max_tokens": args.max_tokens,
              "mean_prompt_tokens": round(prompt_tokens, 1), "vllm": vllm, "hf_generate": hf,
              "verdict_agreement": sum(a == b for a, b in verdicts) / len(verdicts),
              "undecided_vllm": sum(a is None for a, _ in verdicts), "undecided_hf": sum(b is None for _, b in verdicts),
              "speedup_judging": vllm["pairs_per_s_judging"] / hf["pairs_per_s_judging"]}
    rows = [("vLLM, judging only (shard time)", vllm["seconds_judging"], vllm["pairs_per_s_judging"]),
            ("vLLM, end to end (start-up + judging + merge)", vllm["seconds_end_to_end"], vllm["pairs_per_s_end_to_end"]),
            ("HF generate, judging only", hf["seconds_judging"], hf["pairs_per_s_judging"])]
    print("| path | seconds | pairs/s |\n|---|---:|---:|")
    print("\n".join(f"| {name} | {s:.1f} | {rate:.2f} |" for name, s, rate in rows))
    print(f"start-up: vLLM engine {vllm['seconds_engine_start']:.1f} s + {vllm['seconds_other_start_up']:.1f} s "
          f"interpreter/merge; HF load + warm-up {hf['seconds_start_up']:.1f} s\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
