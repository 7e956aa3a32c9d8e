"""`nemo-drift eval export`: a policy's replies to a benchmark's prompts, in the file its evaluator reads.

The prompts are read and checked first (nemo_drift/eval/benchmarks.py), so a bad file fails before any
model loads. Each conversation is rendered through the policy's own chat template and sampled by the
run's sampler (vLLM in the generation environment, `generation.*` settings, resumable shards) with the
benchmark's decoding settings; the replies are written in benchmark order and read back the way the
evaluator reads them.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from nemo_drift.config.schema import DriftConfig
from nemo_drift.eval.benchmarks import Decoding, benchmark_spec, check_outputs, read_prompts, write_outputs


def benchmark_decoding(benchmark: str, max_tokens: Optional[int] = None) -> Decoding:
    """The benchmark's own decoding settings, with `max_tokens` replaced when given (a quick look on CPU);
    the output file records what was used."""
    decoding = benchmark_spec(benchmark).decoding
    return decoding if max_tokens is None else dataclasses.replace(decoding, max_tokens=max_tokens)


def export_benchmark(cfg: DriftConfig, benchmark: str, model_dir: Path, prompts_path: str, out: Path,
                     generator: str, work_dir: Path, max_tokens: Optional[int] = None) -> Path:
    """Sample one reply per prompt of `prompts_path` from the Hugging Face folder `model_dir` and write the
    evaluator's file to `out`; raises ValueError when the written file would trip the evaluator."""
    from transformers import AutoTokenizer

    from nemo_drift.data.fit import render_prompt
    from nemo_drift.generation.client import generate
    from nemo_drift.generation.records import SampleRequest

    decoding = benchmark_decoding(benchmark, max_tokens)
    prompts = read_prompts(benchmark, prompts_path)
    if decoding.repetition_penalty != 1.0:
        raise ValueError(f"{benchmark}: repetition_penalty {decoding.repetition_penalty} is not supported by the sampler")
    if not (Path(model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: not a Hugging Face model folder (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    requests = [SampleRequest(f"{benchmark}-{i:05d}", render_prompt(tokenizer, p.messages)) for i, p in enumerate(prompts)]
    gen = cfg.generation
    sampling = dataclasses.replace(
        gen, n=1, temperature=decoding.temperature, top_p=decoding.top_p, max_tokens=decoding.max_tokens,
        dtype=gen.dtype if gen.dtype != "auto" else cfg.model.vllm_dtype(cfg.cluster.on_gpu))
    result = generate(requests, Path(model_dir), work_dir, sampling)
    replies = {s.prompt_id: s.text for s in result.samples}
    path = write_outputs(benchmark, prompts, [replies[r.prompt_id] for r in requests], generator, out, decoding)
    problems = check_outputs(benchmark, path, prompts)
    if problems:
        raise ValueError(f"{path}: the evaluator would refuse it: " + "; ".join(problems[:3]))
    return path
