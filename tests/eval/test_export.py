"""`nemo-drift eval export` through the real sampler (vLLM on CPU, SmolLM2): the shipped five-prompt WildBench
set (the benchmark whose evaluator checks order) becomes the file its evaluator reads, in benchmark order,
with what was sampled. AlpacaEval's writer goes through the same path (its schema: test_benchmarks.py)."""
from __future__ import annotations

import json

import pytest

from nemo_drift.config.loader import load_config
from nemo_drift.eval.benchmarks import SAMPLES, check_outputs, read_prompts
from nemo_drift.eval.export import benchmark_decoding, export_benchmark


@pytest.mark.slow
def test_export_keeps_benchmark_order_and_records_its_decoding(tmp_path, smollm2_path, gen_python):
    cfg = load_config([f"generation.python={gen_python}"], groups=("model", "generation", "cluster"))
    for benchmark, prompts_file in (("wildbench_v2", "wildbench_v2.jsonl"),):
        prompts = read_prompts(benchmark, SAMPLES / prompts_file)
        out = tmp_path / f"{benchmark}.json"
        path = export_benchmark(cfg, benchmark, smollm2_path, str(SAMPLES / prompts_file), out, "smollm2",
                                tmp_path / f"{benchmark}_samples", max_tokens=8)
        rows = json.loads(path.read_text())
        assert check_outputs(benchmark, path, prompts) == []
        assert len(rows) == len(prompts) == 5 and all(r["generator"] == "smollm2" for r in rows)
        replies = [r["output"][0] if benchmark == "wildbench_v2" else r["output"] for r in rows]
        assert all(isinstance(text, str) and text.strip() for text in replies)
        if benchmark == "wildbench_v2":
            assert [r["session_id"] for r in rows] == [p.key for p in prompts]
            assert rows[0]["configs"] == {"engine": "vllm", "repetition_penalty": 1.0, "temperature": 0.0,
                                          "top_p": 1.0, "max_tokens": 8}
        else:
            assert [r["instruction"] for r in rows] == [p.key for p in prompts]
    settings = json.loads((tmp_path / "wildbench_v2_samples" / "settings.json").read_text())["generation"]
    assert (settings["temperature"], settings["max_tokens"], settings["dtype"]) == (0.0, 8, "float32")


def test_bad_prompts_fail_before_any_model_loads(tmp_path):
    bad = tmp_path / "prompts.json"
    bad.write_text(json.dumps([{"instruction": "Say hi."}, {"dataset": "x"}]))
    cfg = load_config([], groups=("model", "generation", "cluster"))
    with pytest.raises(ValueError, match=r"prompts.json row 2: field 'instruction' missing"):
        export_benchmark(cfg, "alpaca_eval", tmp_path / "no_model", str(bad), tmp_path / "out.json", "m", tmp_path / "w")
    good = SAMPLES / "alpaca_eval.json"
    with pytest.raises(FileNotFoundError, match="no_model: not a Hugging Face model folder"):
        export_benchmark(cfg, "alpaca_eval", tmp_path / "no_model", str(good), tmp_path / "out.json", "m", tmp_path / "w")
    assert benchmark_decoding("wildbench_v2").max_tokens == 4096 and benchmark_decoding("wildbench_v2", 8).max_tokens == 8
