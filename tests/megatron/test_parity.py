"""Parity check: vLLM's log-probs vs Megatron's on the same tokens; passes on the exported SmolLM2,
fails on a deliberately mismatched model (same weights, wrong RoPE base: a classic export bug) and on
a samples file whose log-probs were altered; the Megatron job scores a samples file without ever
touching the sampler."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_drift.config.model import ModelConfig
from nemo_drift.megatron.parity import parity_metrics
from tests.generation.smollm2_export import smollm2_roundtrip


def test_metrics_hand_worked():
    report = parity_metrics([[0.0, -1.0]], [[0.0, -1.1]])  # diffs 0.0, 0.1
    assert report.max_abs == pytest.approx(0.1) and report.mean_abs == pytest.approx(0.05)
    assert report.mult_prob_error == pytest.approx((1 + math.exp(0.1)) / 2)  # 1.0526
    assert not report.ok  # > 1.05
    assert parity_metrics([[-2.0, -3.0]], [[-2.0, -3.0]]).ok
    with pytest.raises(RuntimeError, match="parity check failed"):
        report.raise_if_off()


def test_vllm_dtype_follows_megatron_precision():
    """The controller decides vLLM's dtype from the config alone (no torch): "auto" is fp32 on CPU."""
    assert ModelConfig(precision="auto").vllm_dtype(on_gpu=False) == "float32"
    assert ModelConfig(precision="auto").vllm_dtype(on_gpu=True) == "bfloat16"
    assert ModelConfig(precision="fp32").vllm_dtype(on_gpu=True) == "float32"
    assert ModelConfig(precision="bf16").vllm_dtype(on_gpu=False) == "bfloat16"


@pytest.fixture(scope="module")
def parity_setup(tmp_path_factory, smollm2_path, gen_python, dist_env):
    """The exported SmolLM2, a mismatched copy of it, and one work folder shared by both checks (the
    second check reuses the vLLM samples of the first: generation is resumable)."""
    from nemo_drift.config.generation import GenerationConfig
    from nemo_drift.config.model import ModelConfig

    roundtrip = smollm2_roundtrip(tmp_path_factory.getbasetemp(), smollm2_path)
    exported = roundtrip["hf"]
    wrong = tmp_path_factory.mktemp("mismatched") / "smollm2_wrong_rope"
    wrong.mkdir()
    for file in exported.iterdir():
        if file.name != "config.json":
            (wrong / file.name).symlink_to(file)
    config = json.loads((exported / "config.json").read_text())
    config["rope_parameters"] = {**config["rope_parameters"], "rope_theta": 10000.0}
    (wrong / "config.json").write_text(json.dumps(config))
    return {"exported": exported, "wrong": wrong, "ckpt": roundtrip["ckpt"], "ckpt_perturbed": roundtrip["ckpt_perturbed"], "work": tmp_path_factory.mktemp("parity"),
            "model_cfg": ModelConfig(hf_path=str(exported), precision="fp32"),
            "gen_cfg": GenerationConfig(python=str(gen_python))}


@pytest.mark.slow
def test_parity_passes_on_exported_smollm2(parity_setup):
    from nemo_drift.megatron.parity import check_parity

    s = parity_setup
    report = check_parity(s["exported"], s["work"], s["model_cfg"], s["gen_cfg"])
    print(f"vLLM vs Megatron on SmolLM2: {report}")
    assert report.ok and report.tokens > 50
    assert report.max_abs < 1e-3 and report.mult_prob_error < 1.001
    assert json.loads((Path(s["work"]) / "parity.json").read_text())["ok"] is True


@pytest.mark.slow
def test_parity_fails_on_mismatched_model(parity_setup):
    from nemo_drift.megatron.parity import check_parity

    s = parity_setup
    report = check_parity(s["exported"], s["work"], s["model_cfg"], s["gen_cfg"], score_model_dir=s["wrong"])
    print(f"vLLM (SmolLM2) vs Megatron (rope_theta 1e4 instead of 1e5): {report}")
    assert not report.ok and report.mult_prob_error > 1.05
    with pytest.raises(RuntimeError, match="parity check failed"):
        report.raise_if_off()


@pytest.mark.slow
def test_parity_from_megatron_checkpoint(parity_setup, smollm2_path):
    """The iteration-0 path: Megatron loads the dist checkpoint the export came from (passes), or a
    different checkpoint (weights x 0.9: fails)."""
    from nemo_drift.megatron.parity import check_parity

    s = parity_setup
    good = check_parity(s["exported"], s["work"], s["model_cfg"], s["gen_cfg"], score_model_dir=smollm2_path,
                        checkpoint_dir=s["ckpt"])
    bad = check_parity(s["exported"], s["work"], s["model_cfg"], s["gen_cfg"], score_model_dir=smollm2_path,
                       checkpoint_dir=s["ckpt_perturbed"])
    print(f"from checkpoint: {good}\nfrom the perturbed checkpoint: {bad}")
    assert good.ok and good.max_abs < 1e-3
    assert not bad.ok


@pytest.fixture(scope="module")
def parity_samples(parity_setup) -> Path:
    """vLLM's samples of the exported SmolLM2, drawn by the controller-side half alone (the same folder
    and settings as check_parity's: a module that ran check_parity first reuses its shards)."""
    from nemo_drift.megatron.parity import sample_for_parity

    s = parity_setup
    return sample_for_parity(s["exported"], Path(s["work"]) / "samples", s["model_cfg"], s["gen_cfg"], on_gpu=False)


def _shifted(samples_path: Path, out: Path, delta: float) -> Path:
    """A copy of a samples file with every vLLM log-prob (prompt and completion) moved by `delta`."""
    from nemo_drift.generation.records import read_samples, write_jsonl_atomic

    shifted = [dataclasses.replace(
        sample, token_logprobs=[v + delta for v in sample.token_logprobs],
        prompt_logprobs=[None if v is None else v + delta for v in sample.prompt_logprobs])
        for sample in read_samples(samples_path)]
    write_jsonl_atomic(out, shifted)
    return out


@pytest.mark.slow
def test_score_parity_fails_on_altered_logprobs(parity_setup, parity_samples, tmp_path):
    """The Megatron half alone: the true samples pass, the same samples with every log-prob moved by
    0.1 fail with mult error e^0.1 = 1.105 (the model is scored from the samples' own folder)."""
    from nemo_drift.megatron.parity import score_parity

    s = parity_setup
    good = score_parity(parity_samples, tmp_path / "good", s["model_cfg"])
    bad = score_parity(_shifted(parity_samples, tmp_path / "shifted.jsonl", -0.1), tmp_path / "bad", s["model_cfg"])
    print(f"true samples: {good}\nlog-probs - 0.1: {bad}")
    assert good.ok and good.max_abs < 1e-3
    assert not bad.ok and bad.mult_prob_error == pytest.approx(math.exp(0.1), abs=2e-3)
    assert json.loads((tmp_path / "bad" / "parity.json").read_text())["ok"] is False


_NO_SAMPLER = """
import sys
from nemo_drift.megatron.jobs import main
code = main(sys.argv[1:])
touched = sorted(m for m in sys.modules if m.split(".")[0] == "vllm" or m.startswith("nemo_drift.generation.client"))
print("SAMPLER_MODULES", touched, flush=True)
sys.exit(code or (3 if touched else 0))
"""


@pytest.mark.slow
def test_parity_job_scores_without_the_sampler(parity_setup, parity_samples, smollm2_path, tmp_path):
    """The iteration-0 Megatron job (`jobs parity samples=...`) as the controller launches it, with
    `generation.python` pointing nowhere (the training image has no generation interpreter): it scores
    the samples file from the checkpoint and never imports the generation client or vLLM."""
    from nemo_drift.config.loader import load_config, to_yaml

    s = parity_setup
    cfg = load_config([f"model.hf_path={smollm2_path}", "model.precision=fp32",
                       "generation.python=/nonexistent/gen/bin/python"], validate=False)
    (tmp_path / "config.yaml").write_text(to_yaml(cfg))
    out = tmp_path / "parity"
    args = ["parity", f"config={tmp_path / 'config.yaml'}", f"out={out}", f"samples={parity_samples}",
            f"checkpoint={s['ckpt']}"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    proc = subprocess.run([sys.executable, "-c", _NO_SAMPLER, *args], capture_output=True, text=True, timeout=600,
                          env={**env, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert "SAMPLER_MODULES []" in proc.stdout
    report = json.loads((out / "parity.json").read_text())
    assert report["ok"] and report["max_abs"] < 1e-3
    assert report["samples"] == str(parity_samples) and report["score_model_dir"] == str(smollm2_path)
    assert not (out / "samples").exists()
