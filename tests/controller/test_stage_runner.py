"""Stage bookkeeping: completed stages are skipped, a changed setting is reported with the key and the
resume command, a killed stage is never taken as complete, resume.from_stage redoes from there on."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nemo_drift.config.loader import load_config
from nemo_drift.controller.context import RunContext
from nemo_drift.controller.launcher import LocalLauncher
from nemo_drift.controller.pipeline import apply_resume, stage_plan
from nemo_drift.controller.stage_dir import is_complete
from nemo_drift.controller.stage_runner import StageInvalidated, run_stage


def _ctx(tmp_path: Path, overrides=()) -> RunContext:
    cfg = load_config(list(overrides))
    return RunContext(cfg=cfg, run_dir=tmp_path, launcher=LocalLauncher(), config_path=tmp_path / "config.yaml")


def test_completed_stage_is_skipped_and_reruns_when_an_input_changes(tmp_path):
    ctx, calls = _ctx(tmp_path), []

    def body(tmp: Path) -> dict:
        calls.append(tmp)
        (tmp / "out.txt").write_text("x")
        return {"n": 1}

    upstream = tmp_path / "input.txt"
    upstream.write_text("v1")
    folder = run_stage(ctx, 1, "train", {"trainer.lr": 1e-6}, {"in": upstream}, body)
    assert is_complete(folder) and (folder / "out.txt").read_text() == "x"
    run_stage(ctx, 1, "train", {"trainer.lr": 1e-6}, {"in": upstream}, body)
    assert len(calls) == 1  # skipped
    upstream.write_text("v2")  # an upstream stage was redone
    run_stage(ctx, 1, "train", {"trainer.lr": 1e-6}, {"in": upstream}, body)
    assert len(calls) == 2


def test_changed_setting_is_reported_with_key_and_resume_command(tmp_path):
    ctx = _ctx(tmp_path)
    run_stage(ctx, 1, "generate", {"generation.temperature": 0.7}, {}, lambda tmp: {})
    with pytest.raises(StageInvalidated) as err:
        run_stage(ctx, 1, "generate", {"generation.temperature": 0.9}, {}, lambda tmp: {})
    message = str(err.value)
    assert "generation.temperature: 0.7 -> 0.9" in message
    assert "+resume.from_stage=generate +resume.from_iteration=1" in message


def test_failing_body_leaves_no_complete_stage(tmp_path):
    ctx = _ctx(tmp_path)

    def body(tmp: Path) -> dict:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_stage(ctx, 1, "pairs", {}, {}, body)
    assert not ctx.stage_dir(1, "pairs").exists()
    assert not is_complete(ctx.stage_dir(1, "pairs"))


def test_sigkill_mid_stage_leaves_only_a_tmp_folder_that_is_redone(tmp_path):
    """A real process killed with SIGKILL inside a stage body: the stage is not complete afterwards."""
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from pathlib import Path
        from nemo_drift.config.loader import load_config
        from nemo_drift.controller.context import RunContext
        from nemo_drift.controller.launcher import LocalLauncher
        from nemo_drift.controller.stage_runner import run_stage
        run = Path({str(tmp_path / 'run')!r})
        ctx = RunContext(load_config([]), run, LocalLauncher(), run / "config.yaml")
        def body(tmp):
            (tmp / "started").write_text("1")
            time.sleep(60)
            return {{}}
        run_stage(ctx, 1, "train", {{}}, {{}}, body)
    """))
    proc = subprocess.Popen([sys.executable, str(script)])
    started = tmp_path / "run" / "iter_1" / "train.tmp" / "started"
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.exists(), "the stage body never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ctx = _ctx(tmp_path / "run")
    assert not is_complete(ctx.stage_dir(1, "train"))
    ran = []
    run_stage(ctx, 1, "train", {}, {}, lambda tmp: ran.append(1) or {})
    assert ran == [1] and is_complete(ctx.stage_dir(1, "train"))
    assert not (tmp_path / "run" / "iter_1" / "train.tmp").exists()


def test_resume_from_stage_discards_it_and_everything_after(tmp_path):
    ctx = _ctx(tmp_path, ["resume.from_stage=train", "resume.from_iteration=1"])
    for k, stage in stage_plan(ctx):
        if stage != "prepare":
            run_stage(ctx, k, stage, {}, {}, lambda tmp: {})
    apply_resume(ctx)
    done = [(k, s) for k, s in stage_plan(ctx) if s != "prepare" and is_complete(ctx.stage_dir(k, s))]
    plan = [(k, s) for k, s in stage_plan(ctx) if s != "prepare"]
    cut = plan.index((1, "train"))
    assert done == plan[:cut]


def test_stage_plan_reads_like_algorithm_1(tmp_path):
    plan = stage_plan(_ctx(tmp_path, ["method.iterations=1"]))
    assert plan == [(0, "prepare"), (0, "import"), (0, "pairs"), (0, "reference"), (0, "train"), (0, "export"),
                    (0, "parity"), (1, "generate"), (1, "pairs"), (1, "reference"), (1, "train"), (1, "export")]
    no_warm = stage_plan(_ctx(tmp_path, ["method.iterations=1", "method.warm_start=false"]))
    assert (0, "train") not in no_warm and (1, "train") in no_warm
