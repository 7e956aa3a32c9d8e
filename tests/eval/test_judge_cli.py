"""`nemo-drift eval judge`: bad input is one line naming the file or setting, before any model loads (the
judge itself runs through vLLM in test_pairwise_judge_vllm.py)."""
from __future__ import annotations

import json

from nemo_drift.cli import main
from nemo_drift.eval.benchmarks import SAMPLES, read_prompts, write_outputs
from nemo_drift.eval.cli import _split_overrides

PROMPTS = str(SAMPLES / "alpaca_eval.json")


def _files(tmp_path):
    prompts = read_prompts("alpaca_eval", PROMPTS)
    return [write_outputs("alpaca_eval", prompts, [f"{name} {i}" for i in range(5)], name, tmp_path / f"{name}.json")
            for name in ("base", "mine")]


def test_errors_name_the_file_or_setting(tmp_path, capsys):
    base, mine = _files(tmp_path)
    judge = tmp_path / "judge_model"
    judge.mkdir()
    args = ["eval", "judge", "alpaca_eval", str(mine), "--prompts", PROMPTS, "--baseline", str(base),
            "--judge-model", str(judge), "--work-dir", str(tmp_path / "work")]
    assert main(args) == 1
    assert f"--judge-model {judge}: not a Hugging Face model folder" in capsys.readouterr().err
    assert main([*args[:3], str(base), *args[4:]]) == 1
    assert "no outputs to judge besides the baseline" in capsys.readouterr().err
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([{"instruction": "x", "output": "y"}]))
    assert main([*args[:3], str(wrong), *args[4:]]) == 1
    assert f"{wrong}: not the alpaca_eval outputs of these prompts" in capsys.readouterr().err
    assert main([*args, "--run", str(tmp_path)]) == 1
    assert "not a run folder" in capsys.readouterr().err
    assert main([*args, "generation.top_p=7"]) == 2
    assert "generation.top_p" in capsys.readouterr().err
    assert main([*args, "stray"]) == 2
    assert "unrecognized arguments: stray" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_trailing_settings_are_told_from_files_and_methods():
    items, overrides = _split_overrides(["runs/drift", "base=/m/base", "generation.n=2", "+cluster.gpus_per_node=8",
                                         "model=qwen2_5_7b"], ["data.seed=1"])
    assert items == ["runs/drift", "base=/m/base"]
    assert overrides == ["generation.n=2", "+cluster.gpus_per_node=8", "model=qwen2_5_7b", "data.seed=1"]
