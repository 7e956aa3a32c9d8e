"""SPIN and IterDPO through the same pipeline as DRIFT (tiny Qwen2, one iteration, no warm start): the pairs
have the sides each method promises. IterDPO reuses SPIN's iteration 0 (prepare, import, export, parity)
by redoing the run from iteration 1's generate, as a user switching methods on one run folder would."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BASE = ["model=tiny_qwen2", "method.warm_start=false", "method.iterations=1", "method.max_examples=4",
        "trainer.wandb_mode=disabled", "run.name=baselines"]


def _run(root: Path, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "nemo_drift.cli", "run", f"run.root={root}", *BASE, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, f"{' '.join(extra)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"


def _snapshot(run_dir: Path) -> dict:
    read = lambda rel: [json.loads(line) for line in (run_dir / rel).read_text().splitlines()]  # noqa: E731
    return {"pairs": read("iter_1/pairs/pairs.jsonl"), "samples": read("iter_1/generate/samples.jsonl"),
            "iter0_started": {m.parent.name: json.loads(m.read_text())["started_at"]
                              for m in (run_dir / "iter_0").glob("*/manifest.json")},
            "exported": (run_dir / "iter_1/export/hf/model.safetensors").exists()}


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory, tiny_qwen_path, gen_python) -> dict:
    root = tmp_path_factory.mktemp("baselines")
    run_dir = root / "baselines"
    _run(root, ["method=spin"])
    spin = _snapshot(run_dir)
    _run(root, ["method=iterdpo", "+resume.from_stage=generate", "+resume.from_iteration=1"])
    data = {name: {json.loads(line)["id"]: json.loads(line) for line in (run_dir / f"data/{name}.jsonl").read_text().splitlines()}
            for name in ("dsat", "sat")}
    return {"spin": spin, "iterdpo": _snapshot(run_dir), **data}


def test_spin_chosen_is_the_real_sat_reply(baseline_runs):
    spin = baseline_runs["spin"]
    assert len(spin["pairs"]) == 4 and all(p["origin"] == "spin" for p in spin["pairs"])
    assert all(p["chosen"] == baseline_runs["sat"][p["id"]]["reply"] for p in spin["pairs"])
    assert spin["exported"]


def test_iterdpo_samples_both_sides(baseline_runs):
    iterdpo = baseline_runs["iterdpo"]
    assert len(iterdpo["pairs"]) == 4 and all(p["origin"] == "iterdpo" for p in iterdpo["pairs"])
    assert all(p["rejected"] != baseline_runs["dsat"][p["id"]]["rejected"] for p in iterdpo["pairs"])
    kinds = sorted(s["prompt_id"].rsplit(":", 1)[1] for s in iterdpo["samples"])
    assert kinds == ["guided"] * 4 + ["unguided"] * 4
    assert iterdpo["exported"]


def test_switching_method_redoes_only_the_iterations(baseline_runs):
    spin, iterdpo = baseline_runs["spin"], baseline_runs["iterdpo"]
    assert set(spin["iter0_started"]) >= {"import", "export", "parity"}
    assert iterdpo["iter0_started"] == spin["iter0_started"]  # iteration 0 reused, not redone
