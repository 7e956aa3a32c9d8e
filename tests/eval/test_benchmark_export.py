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
    prompts = read_prompts("wildbench_v2", SAMPLES / "wildbench_v2.jsonl")
    path = export_benchmark(cfg, "wildbench_v2", smollm2_path, str(SAMPLES / "wildbench_v2.jsonl"),
                            tmp_path / "wildbench.json", "smollm2", tmp_path / "samples", max_tokens=8)
    rows = json.loads(path.read_text())
    assert check_outputs("wildbench_v2", path, prompts) == []
    assert [r["session_id"] for r in rows] == [p.key for p in prompts] and len(rows) == 5
    assert all(r["generator"] == "smollm2" and r["output"][0].strip() for r in rows)
    assert rows[0]["configs"] == {"engine": "vllm", "repetition_penalty": 1.0, "temperature": 0.0, "top_p": 1.0,
                                  "max_tokens": 8}
    settings = json.loads((tmp_path / "samples" / "settings.json").read_text())["generation"]
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
