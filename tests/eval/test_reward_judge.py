"""Reward-model judging of benchmark files: the figures on a hand-made reward, then the command with a tiny
local reward model (the mechanism, not the verdict)."""
from __future__ import annotations

import json

import pytest

from nemo_drift.cli import main
from nemo_drift.eval.benchmarks import SAMPLES, read_prompts, write_outputs
from nemo_drift.eval.reward_judge import format_rows, read_replies, reward_rows

PROMPTS = read_prompts("alpaca_eval", SAMPLES / "alpaca_eval.json")


def _length_reward(prompt, replies):  # longer is better: a reward whose verdicts are known
    return [float(len(r)) for r in replies]


def test_win_rate_and_mean_reward_against_the_baseline():
    base = ["a" * 10] * 5
    policy = ["a" * 20, "a" * 20, "a" * 20, "a" * 10, "a" * 5]  # 3 wins, 1 tie, 1 loss -> 3.5 / 5
    rows = {r.name: r for r in reward_rows(_length_reward, PROMPTS, {"base": base, "drift": policy}, "base")}
    assert rows["drift"].win_rate.mean == pytest.approx(0.7) and rows["drift"].reward.mean == pytest.approx(15.0)
    assert rows["base"].win_rate.mean == pytest.approx(0.5) and rows["base"].win_rate.se == pytest.approx(0.0)
    low, high = rows["drift"].interval()
    assert low < 0.7 < high and 0.0 <= low and high <= 1.0
    table = format_rows(list(rows.values()), "base")
    assert "| drift | 15.0000 ± 3.1623 | 0.700 |" in table  # stdev of 20,20,20,10,5 = sqrt(50), over sqrt(5)
    with pytest.raises(ValueError, match="baseline 'sft' is not among"):
        reward_rows(_length_reward, PROMPTS, {"base": base}, "sft")


def test_a_file_for_other_prompts_is_refused(tmp_path):
    path = write_outputs("alpaca_eval", PROMPTS, ["x"] * 5, "m", tmp_path / "out.json")
    assert read_replies("alpaca_eval", path, PROMPTS) == ["x"] * 5
    with pytest.raises(ValueError, match="not the alpaca_eval outputs of these prompts"):
        read_replies("alpaca_eval", path, PROMPTS[::-1])


@pytest.mark.slow
def test_reward_command_with_a_local_reward_model(tmp_path, capsys, reward_model_path):
    base = write_outputs("alpaca_eval", PROMPTS, ["I do not know."] * 5, "base", tmp_path / "base.json")
    policy = write_outputs("alpaca_eval", PROMPTS, [f"A careful answer number {i}." for i in range(5)], "drift",
                           tmp_path / "drift.json")
    argv = ["eval", "reward", "alpaca_eval", str(policy), "--prompts", str(SAMPLES / "alpaca_eval.json"),
            "--reward-model", str(reward_model_path), "--baseline", str(base)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| outputs | mean reward | win rate over") and len(lines) == 4
    assert lines[2].startswith(f"| {base} |") and "| 0.500 |" in lines[2] and lines[3].startswith(f"| {policy} |")
    bad = json.loads((tmp_path / "drift.json").read_text())[:2]
    (tmp_path / "short.json").write_text(json.dumps(bad))
    assert main([*argv[:3], str(tmp_path / "short.json"), *argv[4:]]) == 1
    assert "short.json: not the alpaca_eval outputs of these prompts" in capsys.readouterr().err
    assert main([*argv[:7], str(tmp_path / "nowhere"), *argv[8:]]) == 1
    assert "--reward-model:" in capsys.readouterr().err
