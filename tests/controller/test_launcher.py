"""The local launcher: a failing or hanging stage process gives a clear error with its log tail."""
from __future__ import annotations

import sys

import pytest

from nemo_drift.controller.launcher import DryRunLauncher, LaunchSpec, LocalLauncher, StageFailed


def test_failure_reports_exit_code_and_log_tail(tmp_path):
    log = tmp_path / "stage.log"
    spec = LaunchSpec("train", "json.tool", ["/nonexistent/file.json"], python=sys.executable, log_path=log)
    with pytest.raises(StageFailed) as err:
        LocalLauncher().run(spec)
    message = str(err.value)
    assert "stage train failed (exit 2)" in message
    assert "No such file or directory" in message  # the tail of the process's own output
    assert "No such file or directory" in log.read_text()


def test_timeout_kills_a_hanging_stage(tmp_path):
    spec = LaunchSpec("generate", "http.server", ["0", "--bind", "127.0.0.1"], python=sys.executable,
                      log_path=tmp_path / "g.log",
                      timeout_s=2)
    with pytest.raises(StageFailed, match="timed out after 2s"):
        LocalLauncher().run(spec)


def test_several_ranks_go_through_torchrun_and_dry_run_runs_nothing(tmp_path, capsys):
    spec = LaunchSpec("train", "nemo_drift.megatron.jobs", ["train", "config=c.yaml"], nproc=2,
                      python=sys.executable, log_path=tmp_path / "t.log")
    dry = DryRunLauncher(LocalLauncher())
    dry.run(spec)
    (cmd,) = dry.commands
    assert cmd[1:4] == ["-m", "torch.distributed.run", "--nproc_per_node=2"]
    assert cmd[-3:] == ["nemo_drift.megatron.jobs", "train", "config=c.yaml"]
    assert "[dry-run] train:" in capsys.readouterr().out
    assert not (tmp_path / "t.log").exists()
