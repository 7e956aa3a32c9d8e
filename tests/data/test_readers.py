"""Each reader on its shipped sample, format detection, and the bad-input paths of the row sources."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemo_drift.config.data import DataConfig
from nemo_drift.data.formats import detect_format
from nemo_drift.data.prepare import prepare
from nemo_drift.data.records import DsatExample, Reject, SatExample, SeedPair, read_jsonl
from nemo_drift.data.rows import first_value

# sample file -> (format, DSAT, SAT, seed pairs, reject reasons)
EXPECTED = {
    "wildfeedback_sat_dsat.json": ("sat_dsat_annotation", 38, 40, 6, {
        "conflicting_labels", "dsat_on_first_turn", "duplicate_conversation", "empty_reply", "missing_field",
        "non_utf8", "utterance_gap"}),
    "chat_logs.jsonl": ("chat_logs", 7, 3, 1, {
        "dsat_on_first_turn", "duplicate_conversation", "empty_reply", "feedback_on_non_user_message",
        "malformed_json", "missing_field", "non_utf8"}),
    "drift.jsonl": ("drift_jsonl", 10, 0, 0, {"malformed_json", "missing_field", "non_utf8"}),
    "wildfeedback_pairs.json": ("wildfeedback_pairs", 10, 10, 0, {
        "context_not_ending_with_user", "duplicate_conversation", "empty_reply", "missing_field"}),
    "ultrafeedback_raw.jsonl": ("ultrafeedback_raw", 8, 8, 0, {"missing_field", "no_score_gap", "too_few_completions"}),
    "ultrafeedback_binarized.jsonl": ("ultrafeedback_binarized", 8, 8, 0, {
        "bad_field", "duplicate_conversation", "missing_field"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reader_on_its_sample(name: str, samples: Path, tmp_path: Path):
    fmt, n_dsat, n_sat, n_seed, reasons = EXPECTED[name]
    assert detect_format(first_value(str(samples / name)), name) == fmt
    summary = prepare(DataConfig(source=f"sample:{name}"), tmp_path)
    assert summary.formats == {str(samples / name): fmt}
    assert (summary.dsat, summary.sat, summary.seed) == (n_dsat, n_sat, n_seed)
    assert set(summary.rejects_by_reason) == reasons
    assert summary.check() == []
    dsat = read_jsonl(tmp_path / "dsat.jsonl", DsatExample)
    assert len(dsat) == n_dsat and len(read_jsonl(tmp_path / "sat.jsonl", SatExample)) == n_sat
    assert len(read_jsonl(tmp_path / "seed_pairs.jsonl", SeedPair)) == n_seed
    for ex in dsat:
        assert ex.context[-1]["role"] == "user" and ex.rejected.strip()
        assert ex.provenance.source_format == fmt and ex.provenance.row is not None
    for rej in read_jsonl(tmp_path / "rejects.jsonl", Reject):
        assert rej.source_file.endswith(name) and rej.reason and rej.detail


def _first_line(path: str) -> dict:
    return json.loads(Path(path).read_bytes().decode("utf-8", errors="replace").splitlines()[0])


def test_field_mapping_of_pair_formats(tmp_path: Path):
    prepare(DataConfig(source="sample:drift.jsonl"), tmp_path / "drift")
    first = read_jsonl(tmp_path / "drift" / "dsat.jsonl", DsatExample)[0]
    raw = _first_line(first.provenance.source_file)
    assert first.context == raw["prompt"] and first.rejected == raw["rejected"][0]["content"]
    assert first.feedback == raw["user_preference"]["content"]

    prepare(DataConfig(source="sample:ultrafeedback_raw.jsonl"), tmp_path / "uf")
    sat = read_jsonl(tmp_path / "uf" / "sat.jsonl", SatExample)[0]
    dsat = read_jsonl(tmp_path / "uf" / "dsat.jsonl", DsatExample)[0]
    raw = _first_line(sat.provenance.source_file)
    by_score = sorted(raw["completions"], key=lambda c: c["overall_score"])
    assert sat.reply == by_score[-1]["response"] and dsat.rejected == by_score[0]["response"]
    assert dsat.context == [{"role": "user", "content": raw["instruction"]}] and dsat.feedback == ""


def test_unknown_format_names_the_formats_we_read(tmp_path: Path):
    path = tmp_path / "mystery.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(ValueError, match="unknown data format") as err:
        prepare(DataConfig(source=str(path)), tmp_path / "out")
    for name in ("sat_dsat_annotation", "chat_logs", "drift_jsonl", "ultrafeedback_raw"):
        assert name in str(err.value)
    assert not (tmp_path / "out" / "dsat.jsonl").exists()


def test_wrong_explicit_format_rejects_rows_without_crashing(tmp_path: Path):
    summary = prepare(DataConfig(source="sample:drift.jsonl", format="chat_logs"), tmp_path)
    assert summary.dsat == 0 and summary.rows_rejected == summary.rows_in > 0 and summary.check() == []


def test_directory_source_reads_every_file(samples: Path, tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("chat_logs.jsonl", "ultrafeedback_binarized.jsonl"):
        (folder / name).write_bytes((samples / name).read_bytes())
    summary = prepare(DataConfig(source=str(folder)), tmp_path / "out")
    assert sorted(summary.formats.values()) == ["chat_logs", "ultrafeedback_binarized"]
    assert summary.dsat == 7 + 8 and summary.check() == []


def test_missing_path_and_unreachable_hub_fail_clearly(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare(DataConfig(source=str(tmp_path / "nope.jsonl")), tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="Hugging Face dataset"):  # tests run with the hub offline
        prepare(DataConfig(source="nobody/no-such-dataset-xyz", format="chat_logs"), tmp_path / "out")


def test_json_syntax_error_ends_the_file_but_is_accounted(samples: Path, tmp_path: Path):
    text = (samples / "wildfeedback_sat_dsat.json").read_bytes()
    cut = text.index(b'"UtterranceId": 0', len(text) // 2)
    broken = tmp_path / "broken.json"
    broken.write_bytes(text[:cut] + b'"UtterranceId": 0, "Role": oops}' + text[cut:])
    summary = prepare(DataConfig(source=str(broken)), tmp_path / "out")
    assert summary.unreadable_tails == 1 and summary.rejects_by_reason["json_syntax_error"] == 2
    assert 0 < summary.dsat + summary.sat < 38 + 40 and summary.check() == []  # the rows after the error are lost


def test_parquet_input(samples: Path, tmp_path: Path):
    """Hub downloads of UltraFeedback are Parquet: the same rows read through pyarrow give the same records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = (samples / "ultrafeedback_binarized.jsonl").read_text().splitlines()[:8]
    path = tmp_path / "train_prefs.parquet"
    pq.write_table(pa.Table.from_pylist([json.loads(line) for line in lines]), path)
    summary = prepare(DataConfig(source=str(path)), tmp_path / "out")
    assert summary.formats == {str(path): "ultrafeedback_binarized"}
    assert (summary.rows_in, summary.dsat, summary.sat) == (8, 8, 8) and summary.check() == []
