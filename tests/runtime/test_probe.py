"""The capability probe, run for real in this environment through `nemo-drift probe`, and read back by
the config (one writer, one reader): the planner and the validator use its answer."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_drift.config.capabilities import Capabilities
from nemo_drift.config.paths import venv_python


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nemo_drift.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd="/")


@pytest.fixture(scope="module")
def probe_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("probe")
    proc = _cli("probe", f"run.root={root}", "run.name=p")
    assert proc.returncode == 0, proc.stderr[-2000:]
    path = root / "p" / "capabilities.json"
    assert f"cluster.capabilities={path}" in proc.stdout
    return path


def test_probe_record_describes_this_environment(probe_file):
    import torch

    record = json.loads(probe_file.read_text())
    assert record["torch"] == torch.__version__ and record["gpus_visible"] == torch.cuda.device_count()
    assert record["python"].split(" -> ")[0] == str(venv_python("train"))  # cluster.train_python, not the CLI's
    caps = Capabilities.load(probe_file)
    assert caps.known and caps.source == str(probe_file) and caps.image is None
    assert caps.has_transformer_engine == Capabilities.of_this_machine().has_transformer_engine


def test_plan_checks_transformer_engine_only_with_a_probe(probe_file):
    without = _cli("plan", "model=qwen2_5_72b", "cluster=slurm_h100")
    assert without.returncode == 0 and "Transformer Engine needed (model.sequence_parallel: true): not checked" \
        in without.stdout
    with_probe = _cli("plan", "model=qwen2_5_72b", "cluster=slurm_h100", f"cluster.capabilities={probe_file}")
    if Capabilities.load(probe_file).has_transformer_engine:
        assert with_probe.returncode == 0, with_probe.stdout
    else:
        assert with_probe.returncode == 1 and "model.sequence_parallel: true needs Transformer Engine, which the " \
            "training environment on the nodes does not have" in with_probe.stdout


def test_a_file_that_is_not_a_probe_is_refused(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"torch": "2"}))
    with pytest.raises(ValueError, match="is not a probe record of schema 1"):
        Capabilities.load(bad)
    proc = _cli("plan", "model=qwen2_5_72b", "cluster=slurm_h100", f"cluster.capabilities={bad}")
    assert proc.returncode == 1 and "cluster.capabilities:" in proc.stdout
