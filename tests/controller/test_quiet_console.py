"""The console of a local stage shows its results and progress bars, not third-party warnings; the
stage's log keeps everything, and a failing stage still reports the tail of that log."""
from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest

from nemo_drift.controller.launcher import LaunchSpec, LocalLauncher, StageFailed
from nemo_drift.controller.console import Console, Log, StreamSplitter

NOISY_STAGE = textwrap.dedent('''
    """A stage that prints like the real ones: a result, a tqdm bar, a warning, a library's log record."""
    import logging
    import sys
    import time
    import warnings

    from tqdm import tqdm

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.warn("torch_dtype is deprecated", FutureWarning)
    logging.getLogger("megatron.core.models.gpt").warning("GPTModel IS DEPRECATED")
    print(" > number of parameters on (tensor, pipeline) model parallel rank (0, 0): 134515008", flush=True)
    for _ in tqdm(range(3), desc="train", unit="step", mininterval=0):
        time.sleep(0.05)
    print("exported model in 1.0s", flush=True)
    if sys.argv[1:] == ["fail"]:
        raise RuntimeError("boom: the checkpoint is missing")
''')

NOISE = ("torch_dtype is deprecated", "GPTModel IS DEPRECATED", "number of parameters")


def _spec(tmp_path: Path, *args: str) -> LaunchSpec:
    (tmp_path / "noisy_stage.py").write_text(NOISY_STAGE)
    return LaunchSpec("train", "noisy_stage", list(args), python=sys.executable, env={"PYTHONPATH": str(tmp_path)},
                      log_path=tmp_path / "train.log")


def test_console_shows_results_and_bars_and_the_log_keeps_everything(tmp_path, capfd):
    spec = _spec(tmp_path)
    LocalLauncher().run(spec)
    out, err = capfd.readouterr()
    assert "exported model in 1.0s\n" in out
    assert "\rtrain: 100%" in out
    assert not any(noise in out + err for noise in NOISE)
    log = spec.log_path.read_text()
    assert all(noise in log for noise in NOISE)
    assert "exported model in 1.0s" in log
    assert log.count("train: 100%") == 1 and "train:   0%" not in log  # the bar's last frame, not each redraw
    assert "\r" not in log


def test_a_failing_stage_still_reports_its_error_with_the_log_tail(tmp_path, capfd):
    spec = _spec(tmp_path, "fail")
    with pytest.raises(StageFailed) as err:
        LocalLauncher().run(spec)
    message = str(err.value)
    assert "stage train failed (exit 1)" in message
    assert "RuntimeError: boom: the checkpoint is missing" in message
    assert "GPTModel IS DEPRECATED" in message  # the tail holds everything, warnings included
    assert "RuntimeError: boom" in spec.log_path.read_text()
    assert "exported model in 1.0s" in capfd.readouterr().out


def test_a_warning_written_while_a_bar_is_open_stays_off_the_console(tmp_path):
    console_text = io.StringIO()
    log = Log(tmp_path / "stage.log")
    stderr = StreamSplitter(Console(console_text), log, lines_to_console=False)
    writes = (b"\rtrain:  67%|##   | 2/3", b"\rtrain: 100%|#####| 3/3", b"WARNING megatron: async save is deprecated\n",
              b"\rtrain: 100%|#####| 3/3 [done]", b"\n")
    for write in writes:  # as tqdm and logging write them: one pipe read each
        stderr.feed(write)
    stderr.close()
    log.close()
    assert console_text.getvalue() == ("\rtrain:  67%|##   | 2/3\rtrain: 100%|#####| 3/3"
                                       "\rtrain: 100%|#####| 3/3 [done]\n")
    assert (tmp_path / "stage.log").read_text().splitlines() == [
        "train: 100%|#####| 3/3", "WARNING megatron: async save is deprecated", "train: 100%|#####| 3/3 [done]"]
