"""prepare(): outputs, the accounting proof (every input row is used or rejected), splits, storage."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemo_drift.config.data import DataConfig
from nemo_drift.data.prepare import OUTPUT_FILES, prepare
from nemo_drift.data.records import (SCHEMA_VERSION, DsatExample, HeldOutPrompt, PreferencePair, Reject,
                                     read_jsonl, write_jsonl)
from nemo_drift.data.split import split_of
from nemo_drift.data.summary import PrepareSummary


def _independent_row_count(path: Path) -> int:
    """Rows counted without the package: array items, or non-blank JSONL lines."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    if text.lstrip().startswith("["):
        return len(json.loads(text))
    return sum(1 for line in text.splitlines() if line.strip())


@pytest.mark.parametrize("name", ["wildfeedback_sat_dsat.json", "chat_logs.jsonl", "drift.jsonl",
                                  "wildfeedback_pairs.json", "ultrafeedback_raw.jsonl", "ultrafeedback_binarized.jsonl"])
def test_every_row_is_used_or_rejected(name: str, samples: Path, tmp_path: Path):
    summary = prepare(DataConfig(source=f"sample:{name}"), tmp_path)
    rejects = read_jsonl(tmp_path / "rejects.jsonl", Reject)
    assert summary.rows_in == _independent_row_count(samples / name)
    assert summary.rows_in == summary.rows_used + sum(r.n_rows for r in rejects)
    assert summary.rows_rejected == sum(r.n_rows for r in rejects) > 0
    assert sum(summary.rejects_by_reason.values()) == len(rejects)
    assert json.loads((tmp_path / "summary.json").read_text())["counts_add_up"] is True


def test_check_catches_counts_that_do_not_add_up():
    summary = PrepareSummary(source="x", rows_in=10, rows_used=7, rows_rejected=2, conversations_read=3,
                             conversations_used=2, conversations_rejected=1)
    assert summary.check() == ["rows: 10 read != 7 used + 2 rejected"]
    assert "COUNTS DO NOT ADD UP" in summary.format_table()


def test_main_sample_outputs_and_table(tmp_path: Path):
    summary = prepare(DataConfig(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*OUTPUT_FILES, "summary.json"])
    assert (summary.dsat, summary.sat, summary.seed) == (38, 40, 6)
    assert summary.conversations_read == 80 and summary.conversations_unlabelled == 3
    heldout = read_jsonl(tmp_path / "heldout.jsonl", HeldOutPrompt)
    held_dsat = [d for d in read_jsonl(tmp_path / "dsat.jsonl", DsatExample) if d.split == "heldout"]
    assert len(heldout) == summary.heldout_prompts == summary.dsat_heldout + summary.sat_heldout
    assert {h.id for h in heldout} >= {d.id for d in held_dsat}
    table = summary.format_table()
    assert "DSAT 38" in table and "counts add up" in table and "duplicate_conversation 1" in table
    first_line = json.loads((tmp_path / "dsat.jsonl").read_text().splitlines()[0])
    assert first_line["schema_version"] == SCHEMA_VERSION and first_line["provenance"]["source_format"]


def test_split_is_by_id_hash_and_stable_when_data_is_added(samples: Path, tmp_path: Path):
    ids = [f"conv-{i}" for i in range(20000)]
    share = sum(split_of(i, 0.1) == "heldout" for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert [split_of(i, 0.1) for i in ids[:50]] == [split_of(i, 0.1) for i in ids[:50]]
    assert split_of("conv-1", 0.1, seed=1) is not None  # the salt is a parameter

    before = _splits(samples / "chat_logs.jsonl", tmp_path / "a")
    grown = tmp_path / "grown.jsonl"
    extra = [json.dumps({"id": f"new-{i}", "messages": [{"role": "user", "content": f"q{i}"},
             {"role": "assistant", "content": "r"}, {"role": "user", "content": "no", "feedback": "dsat"}]})
             for i in range(30)]
    grown.write_bytes("\n".join(extra[:15]).encode() + b"\n" + (samples / "chat_logs.jsonl").read_bytes()
                      + "\n".join(extra[15:]).encode() + b"\n")
    after = _splits(grown, tmp_path / "b")
    assert {k: after[k] for k in before} == before
    assert {"train", "heldout"} <= set(after.values())


def _splits(source: Path, out_dir: Path) -> dict[str, str]:
    """DSAT id -> split after preparing ``source`` with half the conversations held out."""
    prepare(DataConfig(source=str(source), heldout_fraction=0.5), out_dir)
    return {d.id: d.split for d in read_jsonl(out_dir / "dsat.jsonl", DsatExample)}


def test_jsonl_roundtrip_is_atomic_and_versioned(tmp_path: Path):
    pairs = [PreferencePair("p1", [{"role": "user", "content": "q"}], "good", "bad", "drift", {"k": 1})]
    path = tmp_path / "pairs.jsonl"
    assert write_jsonl(path, pairs) == 1 and read_jsonl(path, PreferencePair) == pairs

    def failing():
        yield pairs[0]
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, failing())
    assert read_jsonl(path, PreferencePair) == pairs  # the old file survives a crashed write
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.jsonl"]  # no temp file left behind
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 99}) + "\n")
    with pytest.raises(ValueError, match="schema_version 99"):
        read_jsonl(path, PreferencePair)


def test_invalid_config_raises_before_reading(tmp_path: Path):
    with pytest.raises(ValueError, match="data.format: 'foo'"):
        prepare(DataConfig(format="foo"), tmp_path)
