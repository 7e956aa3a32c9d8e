"""`nemo-drift eval`: subcommands read run folders; a missing or malformed file is one line naming it."""
from __future__ import annotations

import json

from nemo_drift.cli import main


def _metrics(run_dir, records) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_heldout_prints_one_line_per_scored_iteration(tmp_path, capsys):
    _metrics(tmp_path / "run", [
        {"iteration": 0, "kind": "iteration", "pairs": 6},
        {"iteration": 0, "kind": "iteration", "heldout_dsat": -0.01, "heldout_dsat_se": 0.002, "heldout_dsat_n": 11,
         "heldout_sat": 0.003, "heldout_sat_se": None, "heldout_sat_n": 1, "heldout_pair_acc": None,
         "heldout_pair_acc_n": 0},
        {"iteration": 1, "kind": "iteration", "pairs": 12},
        {"iteration": 1, "step": 3, "loss": 0.6},
    ])
    assert main(["eval", "heldout", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["- iteration 0: DSAT -0.0100 ± 0.0020 (n=11), SAT +0.0030 (n=1), DSAT->SAT pairs preferred -"]


def test_heldout_errors_name_the_file(tmp_path, capsys):
    assert main(["eval", "heldout", str(tmp_path / "none")]) == 1
    assert f"{tmp_path / 'none' / 'metrics.jsonl'}: no such file" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.jsonl").write_text('{"iteration": 0, "kind": "iteration"}\n{oops\n')
    assert main(["eval", "heldout", str(tmp_path / "bad")]) == 1
    assert f"{tmp_path / 'bad' / 'metrics.jsonl'}:2: not JSON" in capsys.readouterr().err
    _metrics(tmp_path / "empty", [{"iteration": 0, "kind": "iteration", "pairs": 6}])
    assert main(["eval", "heldout", str(tmp_path / "empty")]) == 1


def test_eval_is_listed_and_has_its_own_help(capsys):
    assert main(["--help"]) == 0
    assert "eval" in capsys.readouterr().out
    assert main(["eval", "--help"]) == 0
    assert "heldout" in capsys.readouterr().out
    assert main(["eval", "nonsense"]) == 2 and "invalid choice: 'nonsense'" in capsys.readouterr().err
