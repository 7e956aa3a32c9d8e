"""Where the warm start's seed pairs come from: every split of the conversations (the paper trains on all
491), or a seed-pairs file given as `data.seed_source`, accounted row by row like any input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemo_drift.config.data import DataConfig
from nemo_drift.data.prepare import prepare
from nemo_drift.data.records import Reject, SeedPair, read_jsonl
from nemo_drift.methods.seed import warm_start_pairs

USER = {"role": "user", "content": "Name the capital of Australia."}


def test_held_out_conversations_give_seed_pairs_too_and_the_warm_start_can_leave_them_out(tmp_path: Path):
    summary = prepare(DataConfig(heldout_fraction=0.5), tmp_path)
    seeds = read_jsonl(tmp_path / "seed_pairs.jsonl", SeedPair)
    heldout = [s for s in seeds if s.split == "heldout"]
    assert len(seeds) == summary.seed == 6 and len(heldout) == summary.seed_heldout > 0
    assert len(warm_start_pairs(seeds)) == len(seeds)
    assert {p.id for p in warm_start_pairs(seeds, "train")} == {s.id for s in seeds if s.split == "train"}
    assert f"seed pairs     6 from the conversations ({len(heldout)} of them from held-out" in summary.format_table()


def _seed_file(path: Path) -> Path:
    rows = [
        {"prompt": [USER], "chosen": [{"role": "assistant", "content": "Canberra."}],
         "rejected": [{"role": "assistant", "content": "Sydney."}]},
        {"chosen": [USER, {"role": "assistant", "content": "It is Canberra."}],
         "rejected": [USER, {"role": "assistant", "content": "Melbourne."}]},
        {"prompt": "Capital of Peru?", "chosen": "Lima.", "rejected": "Cusco."},
        {"prompt": [USER], "chosen": "Canberra.", "rejected": "Canberra."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    return path


def test_a_seed_file_replaces_the_conversations_seed_pairs_and_every_row_is_accounted(tmp_path: Path):
    seed_file = _seed_file(tmp_path / "seeds.jsonl")
    summary = prepare(DataConfig(seed_source=str(seed_file)), tmp_path / "out")
    seeds = read_jsonl(tmp_path / "out" / "seed_pairs.jsonl", SeedPair)
    assert [(s.chosen, s.rejected) for s in seeds] == [("Canberra.", "Sydney."), ("It is Canberra.", "Melbourne."),
                                                        ("Lima.", "Cusco.")]
    assert all(s.provenance.source_file == str(seed_file) for s in seeds)
    seed_rejects = [r for r in read_jsonl(tmp_path / "out" / "rejects.jsonl", Reject) if r.source_file == str(seed_file)]
    assert sorted(r.reason for r in seed_rejects) == ["chosen_equals_rejected", "malformed_json"]
    assert (summary.seed, summary.seed_rows_in, summary.seed_rows_rejected) == (3, 5, 2)
    assert summary.check() == [] and summary.rows_in == summary.rows_used + summary.rows_rejected
    assert summary.rejects_by_reason["seed_source:chosen_equals_rejected"] == 1
    assert f"seed pairs     3 from data.seed_source {seed_file} (5 rows, 2 rejected)" in summary.format_table()


def test_seed_accounting_that_does_not_add_up_is_reported(tmp_path: Path):
    summary = prepare(DataConfig(seed_source=str(_seed_file(tmp_path / "seeds.jsonl"))), tmp_path / "out")
    summary.seed_rows_in += 1
    assert summary.check() == [f"seed rows: 6 read from {tmp_path / 'seeds.jsonl'} != 3 seed pairs + 2 rejected"]


def test_a_missing_seed_file_fails_before_anything_is_written(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no/such/seeds.jsonl"):
        prepare(DataConfig(seed_source=str(tmp_path / "no/such/seeds.jsonl")), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_data_without_feedback_or_real_sat_turns_says_so(tmp_path: Path):
    pairs = prepare(DataConfig(source="sample:wildfeedback_pairs.json"), tmp_path / "pairs")
    assert pairs.dsat_without_feedback == pairs.dsat > 0 and pairs.sat_from_chosen == pairs.sat > 0
    unguided, constructed = pairs.data_notes()
    assert unguided.startswith(f"{pairs.dsat} of {pairs.dsat} DSAT records have no user feedback turn "
                               "(wildfeedback_pairs): DRIFT samples their chosen reply from the context alone")
    assert "not a turn a user was satisfied with" in constructed
    assert f"note           {unguided}" in pairs.format_table()
    assert json.loads((tmp_path / "pairs" / "summary.json").read_text())["notes"] == [unguided, constructed]
    annotation = prepare(DataConfig(), tmp_path / "annotation")  # real feedback turns and real SAT turns
    assert annotation.data_notes() == [] and annotation.dsat_without_feedback == 0
