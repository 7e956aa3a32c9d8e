"""Parity check: vLLM's log-probs vs Megatron's on the same tokens; passes on the exported SmolLM2,
fails on a deliberately mismatched model (same weights, wrong RoPE base: a classic export bug)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

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
