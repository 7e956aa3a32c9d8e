"""The command line as a user meets it: every subcommand's --help, --cfg job, and user errors as one
line without a traceback (in-process through `nemo_drift.cli.main`)."""
from __future__ import annotations

import pytest

from nemo_drift.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_explains_itself_and_its_settings(name, flag, capsys):
    assert main([name, flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: nemo-drift {name}")
    for group in COMMANDS[name].groups:
        assert f"\n{group}: " in out  # the group's header, then its keys with docstrings and defaults
    assert ("  trainer.lr = 5e-07  (float)" in out) == ("trainer" in COMMANDS[name].groups)


def test_cfg_job_prints_the_resolved_config(capsys):
    assert main(["run", "method=spin", "trainer.beta=0.3", "--cfg", "job"]) == 0
    out = capsys.readouterr().out
    assert "name: spin" in out and "beta: 0.3" in out and "lr: 5.0e-07" in out


@pytest.mark.parametrize("argv, message, code", [
    (["run", "trainer.lrr=1"], "trainer.lrr: no such setting", 2),
    (["run", "data=chat_logs"], "data.source: empty", 2),
    (["run", "method=spin", "method.guided=false"], "method.guided: False has no effect on method 'spin'", 2),
    (["run", "method=iterdpo", "method.guided=false"], "set method.reward_model to a local reward model folder", 2),
    (["prepare", "data.source=no/such/file.jsonl", "data.format=chat_logs"], "no/such/file.jsonl", 1),
])
def test_user_errors_are_one_line_without_traceback(argv, message, code, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_debug_lets_the_traceback_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="trainer.lrr"):
        main(["run", "trainer.lrr=1", "--debug"])


def test_unknown_command(capsys):
    assert main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err
