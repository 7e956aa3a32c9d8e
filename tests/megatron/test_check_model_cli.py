"""`nemo-drift check-model` as a user runs it: one line with the verdict, exit 0 on a family it builds
exactly, and a refusal naming the key for a checkpoint outside the registry."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # builds a model in a fresh process (~20 s)


def _check_model(path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nemo_drift.cli", "check-model", str(path), "--length", "80", *extra],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "2"})


def test_check_model_passes_on_a_registered_family(tiny_qwen3_path):
    proc = _check_model(tiny_qwen3_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "matches Hugging Face: max |dlogp|" in proc.stdout


def test_check_model_refuses_an_unregistered_architecture(tiny_qwen3_path, tmp_path):
    other = tmp_path / "mistral"
    shutil.copytree(tiny_qwen3_path, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "architectures": ["MistralForCausalLM"],
                                                   "model_type": "mistral"}))
    proc = _check_model(other)
    assert proc.returncode != 0
    assert "model.hf_path:" in proc.stderr and "no supported family" in proc.stderr
