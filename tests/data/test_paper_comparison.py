"""The prepare summary compares its counts with the DRIFT paper's WildFeedback figures when (and only when)
every input is the sat_dsat_annotation format. Checked on tools/synthetic_annotation.py files: the logic
(rows, differences, absence), not the paper's numbers."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from nemo_drift.config.data import DataConfig
from nemo_drift.data import summary as summary_module
from nemo_drift.data.prepare import prepare
from nemo_drift.data.summary import PAPER_COUNTS, PrepareSummary

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))  # developer tools are scripts, not an installed package

from synthetic_annotation import write_annotation_file  # noqa: E402

CONVERSATIONS = 12
"""Each synthetic conversation has one DSAT turn, one SAT turn and one seed pair."""


@pytest.fixture
def annotation_file(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "annotations.json"
    path.parent.mkdir()
    write_annotation_file(path, utterances=5 * CONVERSATIONS)
    return path


def _prepare(source: Path, out: Path) -> PrepareSummary:
    return prepare(DataConfig(source=str(source), heldout_fraction=0.0), out)


def test_annotation_input_gets_one_row_per_paper_count_with_its_difference(annotation_file: Path, tmp_path: Path):
    summary = _prepare(annotation_file, tmp_path / "out")
    assert (summary.dsat, summary.sat, summary.seed) == (CONVERSATIONS,) * 3
    comparison = summary.paper_comparison()
    assert list(comparison) == list(PAPER_COUNTS) == ["dsat", "sat", "seed"]
    for key, row in comparison.items():
        assert row == {"ours": getattr(summary, key), "paper": PAPER_COUNTS[key][1],
                       "difference": getattr(summary, key) - PAPER_COUNTS[key][1]}
    table = summary.format_table()
    for key, row in comparison.items():
        label = PAPER_COUNTS[key][0]
        assert f"  {label:<12} ours {row['ours']:,}  paper {row['paper']:,}  difference {row['difference']:+,}" in table
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["paper_comparison"] == comparison


def test_difference_is_ours_minus_paper(annotation_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """With the paper's figures set to known values, the differences are hand-computable."""
    monkeypatch.setattr(summary_module, "PAPER_COUNTS",
                        {"dsat": ("DSAT", 10), "sat": ("SAT", CONVERSATIONS), "seed": ("seed pairs", 20)})
    summary = _prepare(annotation_file, tmp_path / "out")
    assert {k: row["difference"] for k, row in summary.paper_comparison().items()} == {"dsat": 2, "sat": 0, "seed": -8}
    table = summary.format_table()
    assert "DSAT         ours 12  paper 10  difference +2 (+20.0%)" in table
    assert "SAT          ours 12  paper 12  difference +0 (+0.0%)" in table
    assert "seed pairs   ours 12  paper 20  difference -8 (-40.0%)" in table


@pytest.mark.parametrize("name", ["chat_logs.jsonl", "wildfeedback_pairs.json", "drift.jsonl", "annotation"])
def test_other_formats_and_the_shipped_excerpt_get_no_comparison(name: str, samples: Path, tmp_path: Path):
    if name == "annotation":  # the format the paper counts, but a 50-conversation excerpt of it
        shutil.copy(samples / "wildfeedback_sat_dsat.json", tmp_path / "excerpt.json")
        assert prepare(DataConfig(source=str(tmp_path / "excerpt.json")), tmp_path / "copy").paper_comparison()
        name = "wildfeedback_sat_dsat.json"
    summary = prepare(DataConfig(source=f"sample:{name}"), tmp_path)
    assert summary.paper_comparison() == {}
    assert "paper " not in summary.format_table()
    assert json.loads((tmp_path / "summary.json").read_text())["paper_comparison"] == {}


def test_a_mix_of_annotation_and_other_formats_gets_no_comparison(annotation_file: Path, samples: Path,
                                                                   tmp_path: Path):
    """The paper's figures describe the annotation file alone: another input in the folder voids them."""
    shutil.copy(samples / "chat_logs.jsonl", annotation_file.parent / "chat_logs.jsonl")
    summary = _prepare(annotation_file.parent, tmp_path / "out")
    assert sorted(summary.formats.values()) == ["chat_logs", "sat_dsat_annotation"]
    assert summary.paper_comparison() == {} and "paper " not in summary.format_table()


def test_the_format_decides_not_the_file_name(annotation_file: Path, tmp_path: Path):
    renamed = annotation_file.with_name("export_2024.json")
    annotation_file.rename(renamed)
    assert _prepare(renamed, tmp_path / "a").paper_comparison()
    assert PrepareSummary(source="sat_dsat_annotation.json", formats={"sat_dsat_annotation.json": "chat_logs"}
                          ).paper_comparison() == {}
