"""`nemo-drift eval margins RUN_DIR`: margin health from a run folder's score files, thresholds overridable."""
from __future__ import annotations

import json

from nemo_drift.cli import main
from nemo_drift.config.loader import load_config, to_yaml
from nemo_drift.data.jsonl import write_jsonl
from nemo_drift.data.records import RefLogps
from nemo_drift.eval.margins import PAIR_SCORES_END


def _run_folder(root, end_margins: dict[int, list[float]]):
    """Iterations whose pairs end with the given sums h(chosen) - h(rejected) (beta 0.1 -> margin / 10)."""
    run = root / "run"
    run.mkdir()
    (run / "config.yaml").write_text(to_yaml(load_config([])))
    for it, diffs in end_margins.items():
        (run / f"iter_{it}" / "reference").mkdir(parents=True)
        (run / f"iter_{it}" / "train").mkdir(parents=True)
        ids = [f"p{i}" for i in range(len(diffs))]
        write_jsonl(run / f"iter_{it}" / "reference" / "ref_logps.jsonl", [RefLogps(i, -5.0, -5.0, 3, 3) for i in ids])
        write_jsonl(run / f"iter_{it}" / "train" / PAIR_SCORES_END,
                    [RefLogps(i, -5.0 + d, -5.0, 3, 3) for i, d in zip(ids, diffs)])
        (run / f"iter_{it}" / "train" / "metrics.jsonl").write_text(json.dumps({"step": 1, "grad_norm": 0.5}) + "\n")
    return run


def test_margins_table_collapse_and_histograms(tmp_path, capsys):
    run = _run_folder(tmp_path, {0: [1.0, 2.0], 1: [4.0, 8.0, 2.0], 2: [0.2, 0.3, 0.1]})
    assert main(["eval", "margins", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| 1 | 3 | 0 ± 0 | 0.4667 ± 0.3055 |" in out and "| 0.5 |" in out
    assert "warning: margin collapse: by iteration 2" in out
    from PIL import Image

    with Image.open(run / "plots" / "margin_histograms.png") as png:  # one row of three panels, 4 x 3.2 in at 110 dpi
        assert png.size == (1320, 352)
    assert main(["eval", "margins", str(run), "eval.collapse_margin_mean=0.001"]) == 0
    assert "no margin collapse" in capsys.readouterr().out


def test_bad_arguments_name_the_setting(tmp_path, capsys):
    run = _run_folder(tmp_path, {1: [1.0, 2.0]})
    assert main(["eval", "margins", str(run), "trainer.beta=0.5"]) == 2
    assert "trainer.beta=0.5: only eval.key=value settings apply" in capsys.readouterr().err
    assert main(["eval", "margins", str(run), "eval.margin_tau=1.5"]) == 2
    assert "eval.margin_tau: 1.5 must be in (0, 1)" in capsys.readouterr().err
    assert main(["eval", "margins", str(tmp_path / "nowhere")]) == 1
    assert "config.yaml: no such file" in capsys.readouterr().err
