"""`nemo-drift run` end to end on the tiny Qwen2 (real megatron-core on gloo, real vLLM on CPU): the
artifacts a user gets, that training moved the weights, kill-and-resume at two points, and a changed
setting stopping the run with the key to change."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

BASE = ["model=tiny_qwen2", "method.max_examples=8", "method.iterations=2", "method.warm_start_epochs=1",
        "trainer.lr=1e-3", "trainer.wandb_mode=disabled", "run.name=e2e"]


def _cmd(root: Path, extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-m", "nemo_drift.cli", "run", f"run.root={root}", *BASE, *extra]


def _run(root: Path, extra: list[str] = (), check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(_cmd(root, extra), capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    if check and proc.returncode != 0:
        raise AssertionError(f"nemo-drift run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _manifests(run_dir: Path) -> dict[str, float]:
    """stage folder -> started_at of its manifest, for every completed stage."""
    return {str(m.parent.relative_to(run_dir)): json.loads(m.read_text())["started_at"]
            for m in run_dir.glob("**/manifest.json") if ".tmp" not in str(m) and "/samples/" not in str(m)}


def _kill_when(root: Path, marker: Path, timeout: float = 900) -> None:
    """Start the run and SIGKILL its whole process group once `marker` exists (a stage is mid-way)."""
    proc = subprocess.Popen(_cmd(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, f"the run ended (code {proc.returncode}) before {marker} appeared"
        assert time.monotonic() < deadline, f"{marker} never appeared"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_qwen_path, gen_python) -> Path:
    """One run killed during iteration 1's generate, then during its train, then finished: returns the
    run folder with the manifests seen at each kill recorded alongside."""
    root = tmp_path_factory.mktemp("e2e")
    run_dir = root / "e2e"
    _kill_when(root, run_dir / "iter_1" / "generate.tmp" / "settings.json")
    after_kill_1 = _manifests(run_dir)
    assert not (run_dir / "iter_1" / "generate" / "manifest.json").exists()
    _kill_when(root, run_dir / "iter_1" / "train.tmp" / "metrics.jsonl")
    after_kill_2 = _manifests(run_dir)
    assert not (run_dir / "iter_1" / "train" / "manifest.json").exists()
    _run(root)
    (run_dir / "kills.json").write_text(json.dumps({"after_kill_1": after_kill_1, "after_kill_2": after_kill_2}))
    return run_dir


def test_run_writes_what_a_user_needs(finished_run):
    run_dir = finished_run
    for rel in ("config.yaml", "data/dsat.jsonl", "data/rejects.jsonl", "data/summary.json", "metrics.jsonl",
                "report.md", "plots/training_dynamics.png", "iter_0/parity/parity.json",
                "iter_2/export/hf/config.json", "iter_2/export/hf/tokenizer_config.json"):
        assert (run_dir / rel).exists(), rel
    for k in (1, 2):
        for stage in ("generate", "pairs", "reference", "train", "export"):
            manifest = json.loads((run_dir / f"iter_{k}" / stage / "manifest.json").read_text())
            assert manifest["stage"] == stage and manifest["iteration"] == k
        settings = json.loads((run_dir / f"iter_{k}/generate/settings.json").read_text())
        assert settings["generation"]["dtype"] == "float32"  # what the policy trains in on CPU, not vLLM's bf16
        samples = [json.loads(line) for line in (run_dir / f"iter_{k}/generate/samples.jsonl").read_text().splitlines()]
        assert len(samples) == 8
        pairs = (run_dir / f"iter_{k}/pairs/pairs.jsonl").read_text().splitlines()
        assert len(pairs) == 8
        steps = (run_dir / f"iter_{k}/train/metrics.jsonl").read_text().splitlines()
        assert len(steps) == 4  # 8 pairs / global batch 2
        manifest = json.loads((run_dir / f"iter_{k}/train/manifest.json").read_text())
        assert 0 < manifest["counts"]["packing_efficiency"] <= 1  # packed by default on the SDPA path
    parity = json.loads((run_dir / "iter_0/parity/parity.json").read_text())
    assert parity["ok"] and parity["mult_prob_error"] < 1.05
    report = (run_dir / "report.md").read_text()
    assert "| iter |" in report and "training_dynamics.png" in report
    heldout = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "heldout_dsat" in rec:
            heldout[rec["iteration"]] = rec
    assert sorted(heldout) == [0, 1, 2] and all(r["heldout_dsat_n"] >= 8 and r["heldout_sat_n"] >= 8
                                                 for r in heldout.values())
    assert "- iteration 2: DSAT " in report and "heldout_trend.png" in report
    assert (run_dir / "iter_0/train/heldout_start.jsonl").exists() and (run_dir / "iter_2/train/heldout_end.jsonl").exists()
    margins = {rec["iteration"]: rec for rec in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
               if "margin_end_mean" in rec}
    assert sorted(margins) == [0, 1, 2] and margins[2]["margin_pairs"] == 8 and margins[2]["margin_start_mean"] == 0.0
    assert all(r["margin_end_std"] > 0 and r["grad_norm_mean"] > 0 for r in margins.values())
    assert "## Margin health" in report and "margin_histograms.png" in report and (run_dir / "plots/margin_histograms.png").exists()


def test_drift_pairs_reject_the_real_dsat_reply(finished_run):
    dsat = {json.loads(line)["id"]: json.loads(line) for line in
            (finished_run / "data/dsat.jsonl").read_text().splitlines()}
    for line in (finished_run / "iter_1/pairs/pairs.jsonl").read_text().splitlines():
        pair = json.loads(line)
        assert pair["rejected"] == dsat[pair["id"]]["rejected"]
        assert pair["prompt"] == dsat[pair["id"]]["context"]


def test_policy_weights_changed(finished_run, tiny_qwen_path):
    before = load_file(str(tiny_qwen_path / "model.safetensors"))
    after = load_file(str(finished_run / "iter_2/export/hf/model.safetensors"))
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == len(before), f"unchanged tensors: {sorted(set(before) - set(changed))}"


def test_kills_lost_no_completed_stage(finished_run):
    kills = json.loads((finished_run / "kills.json").read_text())
    final = _manifests(finished_run)
    for moment, seen in kills.items():
        assert seen, moment
        for stage, started in seen.items():
            assert final[stage] == started, f"{stage} completed before the kill ({moment}) but was redone"
    assert "iter_0/parity" in kills["after_kill_1"] and "iter_1/generate" in kills["after_kill_2"]


def test_rerun_skips_everything_and_changed_setting_names_the_key(finished_run):
    root = finished_run.parent
    before = _manifests(finished_run)
    again = _run(root)
    assert ": running" not in again.stdout
    assert _manifests(finished_run) == before
    changed = _run(root, ["generation.temperature=0.9"], check=False)
    assert changed.returncode == 1
    assert "generation.temperature: 0.7 -> 0.9" in changed.stderr
    assert "+resume.from_stage=generate +resume.from_iteration=1" in changed.stderr
