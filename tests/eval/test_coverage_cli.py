"""`nemo-drift eval coverage`: bad input is one line naming the setting, before any model loads (the
pipeline itself runs through vLLM in test_coverage_run_vllm.py)."""
from __future__ import annotations

import json

from nemo_drift.cli import main


def _hf_folder(path, **config):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config or {"model_type": "qwen2"}))
    return path


def test_errors_name_the_setting(tmp_path, capsys):
    a, b = _hf_folder(tmp_path / "a"), _hf_folder(tmp_path / "b")
    rm = _hf_folder(tmp_path / "rm", architectures=["X"], num_labels=1)
    out = tmp_path / "out"
    assert main(["eval", "coverage", str(a), "--reward-model", str(rm), "--out", str(out),
                 "--prompts", "nemo_drift/eval/samples/alpaca_eval.json", "--benchmark", "alpaca_eval"]) == 1
    assert "coverage needs at least 2 methods" in capsys.readouterr().err
    assert main(["eval", "coverage", str(a), str(b), "--reward-model", str(rm), "--out", str(out),
                 "--prompts", "nemo_drift/eval/samples/alpaca_eval.json", "--benchmark", "alpaca_eval"]) == 1
    assert "--reward-model" in capsys.readouterr().err
    rm2 = _hf_folder(tmp_path / "rm2", architectures=["XForSequenceClassification"], num_labels=2)
    assert main(["eval", "coverage", str(a), str(b), "--reward-model", str(rm2), "--out", str(out),
                 "--prompts", "nemo_drift/eval/samples/alpaca_eval.json", "--benchmark", "alpaca_eval"]) == 1
    assert "has 2 outputs; a reward model has exactly one" in capsys.readouterr().err
    rm1 = _hf_folder(tmp_path / "rm1", architectures=["XForSequenceClassification"], num_labels=1)
    assert main(["eval", "coverage", str(a), str(b), "--reward-model", str(rm1), "--out", str(out),
                 "--embedding-model", str(tmp_path / "none"),
                 "--prompts", "nemo_drift/eval/samples/alpaca_eval.json", "--benchmark", "alpaca_eval"]) == 1
    assert "--embedding-model" in capsys.readouterr().err
    assert main(["eval", "coverage", str(a), str(b), "--reward-model", str(rm1), "--out", str(out),
                 "--run", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "--run" in err and "not a run folder" in err
    assert not out.exists()
