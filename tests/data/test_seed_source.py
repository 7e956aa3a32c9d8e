"""The seed-pair reader: each accepted row shape, every reject reason, and the row accounting."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemo_drift.data.formats.common import content_id
from nemo_drift.data.records import Provenance, Reject, SeedPair, write_jsonl
from nemo_drift.data.seed_source import SEED_FORMAT, read_seed_pairs

USER = {"role": "user", "content": "Write a haiku about rain."}
SYSTEM = {"role": "system", "content": "Be brief."}
GOOD, BAD = "Soft rain on the roof", "Rain is water."


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _write(path: Path, lines: list) -> str:
    """One JSONL line per item: dicts are dumped, strings are written as they are (broken JSON)."""
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


def _read(source: str) -> tuple[list[SeedPair], list[Reject], int]:
    stream = read_seed_pairs(source)
    items = list(stream)
    pairs = [i for i in items if isinstance(i, SeedPair)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert len(pairs) + len(rejects) == len(items)
    return pairs, rejects, stream.rows_in


@pytest.mark.parametrize("row, prompt", [
    ({"prompt": [SYSTEM, USER], "chosen": [_assistant(GOOD)], "rejected": [_assistant(BAD)]}, [SYSTEM, USER]),
    ({"prompt": USER["content"], "chosen": GOOD, "rejected": BAD}, [USER]),
    ({"prompt": [USER], "chosen": [USER, _assistant(GOOD)], "rejected": [USER, _assistant(BAD)]}, [USER]),
    ({"chosen": [SYSTEM, USER, _assistant(GOOD)], "rejected": [SYSTEM, USER, _assistant(BAD)]}, [SYSTEM, USER]),
], ids=["messages", "strings", "full_conversations_with_prompt", "implicit_prompt"])
def test_each_shape_parses(tmp_path: Path, row: dict, prompt: list):
    pairs, rejects, rows_in = _read(_write(tmp_path / "seed.jsonl", [row]))
    assert rejects == [] and rows_in == 1
    (pair,) = pairs
    assert (pair.prompt, pair.chosen, pair.rejected) == (prompt, GOOD, BAD)
    assert pair.id == content_id(prompt, GOOD, BAD)
    assert pair.provenance == Provenance(str(tmp_path / "seed.jsonl"), SEED_FORMAT, 0, pair.id)


def test_row_id_is_kept_and_feedback_keys_dropped(tmp_path: Path):
    prompt = [USER, _assistant("hi"), dict(USER, feedback="dsat")]
    rows = [{"id": 7, "prompt": prompt, "chosen": GOOD, "rejected": BAD, "origin": "x", "meta": {}}]
    (pair,), _, _ = _read(_write(tmp_path / "seed.jsonl", rows))
    assert pair.id == "7" and pair.prompt == [USER, _assistant("hi"), USER]


def test_our_own_seed_pairs_file_round_trips(tmp_path: Path):
    written = [SeedPair("conv-1/seed/1", [SYSTEM, USER], GOOD, BAD, Provenance("logs.jsonl", "chat_logs", 4, "conv-1")),
               SeedPair("conv-2/seed/3", [USER, _assistant("a"), USER], "better", "worse",
                        Provenance("logs.jsonl", "chat_logs", 9, "conv-2"))]
    path = tmp_path / "seed_pairs.jsonl"
    write_jsonl(path, written)
    pairs, rejects, rows_in = _read(str(path))
    assert rejects == [] and rows_in == 2
    assert [(p.id, p.prompt, p.chosen, p.rejected) for p in pairs] == [
        (w.id, w.prompt, w.chosen, w.rejected) for w in written]
    assert [p.provenance.row for p in pairs] == [0, 1]


def test_folder_reads_every_file_and_finds_duplicates_across_files(tmp_path: Path):
    row = {"prompt": [USER], "chosen": GOOD, "rejected": BAD}
    _write(tmp_path / "a.jsonl", [row])
    _write(tmp_path / "b.jsonl", [dict(row, id="other-id")])
    pairs, rejects, rows_in = _read(str(tmp_path))
    assert rows_in == 2 and [p.provenance.source_file for p in pairs] == [str(tmp_path / "a.jsonl")]
    assert rejects[0].reason == "duplicate_seed_pair" and str(tmp_path / "a.jsonl") in rejects[0].detail


# (row, reason, a word the detail must contain)
BAD_ROWS = [
    ({"prompt": [USER], "rejected": BAD}, "missing_field", "chosen"),
    ({"chosen": GOOD, "rejected": BAD}, "missing_field", "prompt"),
    ({"prompt": [USER], "chosen": [], "rejected": BAD}, "missing_field", "chosen"),
    ({"prompt": [USER], "chosen": GOOD, "rejected": 3}, "bad_field", "rejected"),
    ({"prompt": [USER], "chosen": [USER], "rejected": BAD}, "bad_field", "chosen"),
    ({"prompt": [{"role": "robot", "content": "x"}], "chosen": GOOD, "rejected": BAD}, "bad_field", "prompt[0]"),
    ({"id": ["x"], "prompt": [USER], "chosen": GOOD, "rejected": BAD}, "bad_field", "id"),
    ({"prompt": [USER], "chosen": "  \n", "rejected": BAD}, "empty_reply", "chosen"),
    ({"prompt": [USER], "chosen": GOOD, "rejected": [_assistant("")]}, "empty_reply", "rejected"),
    ({"prompt": [USER, _assistant("x")], "chosen": GOOD, "rejected": BAD}, "context_not_ending_with_user", "prompt"),
    ({"prompt": [], "chosen": GOOD, "rejected": BAD}, "context_not_ending_with_user", "prompt"),
    ({"prompt": [_assistant("x"), USER], "chosen": GOOD, "rejected": BAD}, "roles_not_alternating", "turn 0"),
    ({"prompt": " ", "chosen": GOOD, "rejected": BAD}, "empty_message", "turn 0"),
    ({"prompt": [USER], "chosen": GOOD, "rejected": f" {GOOD}\n"}, "chosen_equals_rejected", "chosen"),
    ({"chosen": [USER, _assistant(GOOD)], "rejected": [SYSTEM, USER, _assistant(BAD)]}, "prompt_mismatch", "rejected"),
    ([1, 2], "malformed_row", "list"),
]


@pytest.mark.parametrize("row, reason, word", BAD_ROWS, ids=[f"{r}-{i}" for i, (_, r, _) in enumerate(BAD_ROWS)])
def test_bad_row_becomes_a_reject(tmp_path: Path, row, reason: str, word: str):
    good = {"prompt": [USER], "chosen": "fine", "rejected": "meh"}
    pairs, rejects, rows_in = _read(_write(tmp_path / "seed.jsonl", [good, row]))
    assert len(pairs) == 1 and rows_in == 2
    (rej,) = rejects
    assert (rej.reason, rej.row, rej.n_rows) == (reason, 1, 1)
    assert word in rej.detail and rej.snippet.rstrip("\n") == json.dumps(row)


def test_mixed_file_accounting_and_row_numbers(tmp_path: Path):
    seed = {"prompt": [USER], "chosen": GOOD, "rejected": BAD}
    lines = [
        dict(seed, id="s1"),                                   # 0 ok
        '{"prompt": [ broken',                                 # 1 malformed_json
        dict(seed, id="s1", chosen="another good reply"),      # 2 duplicate id of row 0
        "",                                                    # 3 blank: no row
        dict(seed, id="s2"),                                   # 4 duplicate content of row 0
        {"prompt": [USER], "chosen": "x", "rejected": "x"},    # 5 chosen_equals_rejected
        {"chosen": [USER, _assistant("a")], "rejected": [USER, _assistant("b")]},  # 6 ok (implicit prompt)
    ]
    pairs, rejects, rows_in = _read(_write(tmp_path / "mixed.jsonl", lines))
    assert [p.id for p in pairs] == ["s1", content_id([USER], "a", "b")]
    assert [p.provenance.row for p in pairs] == [0, 6]
    assert [(r.reason, r.row) for r in rejects] == [
        ("malformed_json", 1), ("duplicate_seed_pair", 2), ("duplicate_seed_pair", 4), ("chosen_equals_rejected", 5)]
    assert "same id" in rejects[1].detail and "row 0" in rejects[1].detail
    assert "same content" in rejects[2].detail and "row 0" in rejects[2].detail
    assert rows_in == 6 == len(pairs) + sum(r.n_rows for r in rejects)


def test_json_array_syntax_error_marker_is_no_row(tmp_path: Path):
    seed = {"prompt": [USER], "chosen": GOOD, "rejected": BAD}
    path = tmp_path / "seed.json"
    path.write_text("[" + json.dumps(seed) + ", {\"prompt\": oops}]")
    pairs, rejects, rows_in = _read(str(path))
    assert len(pairs) == 1 and [(r.reason, r.row, r.n_rows) for r in rejects] == [("json_syntax_error", 1, 0)]
    assert rows_in == 1 == len(pairs) + sum(r.n_rows for r in rejects)


def test_missing_path_raises_before_reading(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_seed_pairs(str(tmp_path / "nope.jsonl"))
    with pytest.raises(FileNotFoundError, match="holds no"):
        read_seed_pairs(str(tmp_path))
    (tmp_path / "junk.jsonl").write_text("not json at all\n")
    with pytest.raises(ValueError, match="neither a JSON array nor JSONL"):
        read_seed_pairs(str(tmp_path / "junk.jsonl"))
