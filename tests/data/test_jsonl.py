"""Record files (nemo_drift.data.jsonl): every record type round-trips, the on-disk layout is the
documented one, bad files are refused naming path:line, and a failed write leaves nothing behind."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional

import pytest

from nemo_drift.data.jsonl import JsonlWriter, iter_jsonl_located, read_jsonl, write_jsonl
from nemo_drift.data.records import DsatExample, Provenance, Reject, TokenizedPair
from nemo_drift.generation.records import Sample, SampleProvenance, SampleRequest

PROVENANCE = Provenance("logs.jsonl", "chat_logs", 3, "conv-7")
DSAT = DsatExample("d1", [{"role": "user", "content": "Write a haiku — about rain."}], "Rain falls.",
                   "That's not 5-7-5.", None, "train", PROVENANCE)
SAMPLE = Sample("d1", 0, "Soft rain", [5, 2], "stop", -1.5, False, False, token_logprobs=[-1.0, -0.5],
                prompt_token_ids=[1, 2], prompt_logprobs=[None, -0.25], provenance=SampleProvenance("m", {"n": 2}))
PAIR = TokenizedPair("d1", [1, 2], [3], [4, 5], prompt_truncated=True, dropped_turns=2)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("record", [DSAT, SAMPLE, SampleRequest("d1", "text"), PAIR,
                                    Reject("logs.jsonl", None, None, "malformed_json", "bad", "{", n_rows=0)],
                         ids=lambda r: type(r).__name__)
def test_round_trip(tmp_path: Path, record) -> None:
    path = tmp_path / "records.jsonl"
    assert write_jsonl(path, [record, record]) == 2
    assert read_jsonl(path, type(record)) == [record, record]


def test_reference_logps_round_trip(tmp_path: Path) -> None:
    from nemo_drift.megatron.reference import RefLogps

    path = tmp_path / "pairs.ref_logps.jsonl"
    values = [RefLogps("a", -1.5, -2.0, 1, 2, "model", 32)]
    write_jsonl(path, values)
    assert read_jsonl(path, RefLogps) == values
    assert list(_lines(path)[0]) == ["schema_version", "id", "ref_chosen_logp", "ref_rejected_logp", "chosen_tokens",
                                     "rejected_tokens", "reference_model", "seq_length"]


def test_layout_on_disk(tmp_path: Path) -> None:
    """schema_version first, then the fields in declaration order; nested records as objects; UTF-8."""
    path = tmp_path / "dsat.jsonl"
    write_jsonl(path, [DSAT])
    row = _lines(path)[0]
    assert list(row) == ["schema_version", "id", "context", "rejected", "feedback", "preference", "split", "provenance"]
    assert row["schema_version"] == DsatExample.SCHEMA_VERSION == 1
    assert row["provenance"] == {"source_file": "logs.jsonl", "source_format": "chat_logs", "row": 3,
                                 "conversation_id": "conv-7"}
    assert "—" in path.read_text(encoding="utf-8")
    tokens = tmp_path / "tokens.jsonl"
    write_jsonl(tokens, [PAIR])
    assert list(_lines(tokens)[0]) == ["schema_version", "id", "prompt_ids", "chosen_ids", "rejected_ids",
                                       "prompt_truncated", "dropped_turns", "chosen_truncated", "rejected_truncated"]


def test_reads_pairs_without_truncation_flags(tmp_path: Path) -> None:
    path = tmp_path / "tokens.jsonl"
    path.write_text(json.dumps({"schema_version": 1, "id": "a", "prompt_ids": [1], "chosen_ids": [2],
                                "rejected_ids": [3]}) + "\n")
    assert read_jsonl(path, TokenizedPair) == [TokenizedPair("a", [1], [2], [3])]


def test_unknown_schema_version_names_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, [SAMPLE])
    path.write_text(path.read_text() + json.dumps({**_lines(path)[0], "schema_version": 99}) + "\n")
    with pytest.raises(ValueError, match=r"samples\.jsonl:2: schema_version 99, expected 1 .*rerun the stage"):
        read_jsonl(path, Sample)


@pytest.mark.parametrize("tail,message", [
    ('{"schema_version": 1, "prompt_id": "d1", "samp', r"tokens\.jsonl:2: not valid JSON"),
    ("[1, 2]", r"tokens\.jsonl:2: expected a JSON object"),
    ('{"schema_version": 1, "id": "x", "prompt_ids": [1], "chosen_ids": [2]}',
     r"tokens\.jsonl:2: missing field 'rejected_ids'"),
    ('{"schema_version": 1, "id": "x", "prompt_ids": [1], "chosen_ids": [2], "rejected_ids": [3], "extra": 1}',
     r"tokens\.jsonl:2: unknown field 'extra'"),
])
def test_garbled_lines_are_refused(tmp_path: Path, tail: str, message: str) -> None:
    path = tmp_path / "tokens.jsonl"
    write_jsonl(path, [PAIR])
    path.write_text(path.read_text() + tail)
    with pytest.raises(ValueError, match=message):
        read_jsonl(path, TokenizedPair)


def test_nested_record_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "dsat.jsonl"
    write_jsonl(path, [DSAT])
    row = _lines(path)[0]
    row["provenance"]["colour"] = "red"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=r"dsat\.jsonl:1: unknown field 'colour' in a Provenance record"):
        read_jsonl(path, DsatExample)


def test_located_iteration_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [SampleRequest("a", "x")])
    path.write_text(path.read_text() + "\n" + path.read_text())
    assert [where.rsplit(":", 1)[1] for where, _ in iter_jsonl_located(path, SampleRequest)] == ["1", "3"]


def _failing(records: list, error: type[BaseException]):
    yield from records
    raise error("killed mid-write")


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failed_write_leaves_no_file(tmp_path: Path, error: type[BaseException]) -> None:
    path = tmp_path / "out" / "tokens.jsonl"
    with pytest.raises(error):
        write_jsonl(path, _failing([PAIR, PAIR], error))
    assert list(path.parent.iterdir()) == []


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.jsonl"
    write_jsonl(path, [PAIR])
    with pytest.raises(RuntimeError):
        write_jsonl(path, _failing([TokenizedPair("new", [1], [2], [3])], RuntimeError))
    assert read_jsonl(path, TokenizedPair) == [PAIR]
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.jsonl"]


def test_streaming_writer_publishes_on_exit(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with JsonlWriter(path) as writer:
        writer.write(SAMPLE)
        assert not path.exists()  # nothing under the final name until the block ends
        writer.write(SAMPLE)
    assert writer.count == 2 and read_jsonl(path, Sample) == [SAMPLE, SAMPLE]


@dataclass
class _Versioned:
    SCHEMA_VERSION: ClassVar[int] = 3

    name: str
    children: list[TokenizedPair]
    parent: Optional[SampleProvenance] = None


def test_version_and_nesting_come_from_the_record_type(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    record = _Versioned("x", [PAIR], SampleProvenance("m", {}))
    write_jsonl(path, [record, _Versioned("y", [])])
    assert _lines(path)[0]["schema_version"] == 3
    assert read_jsonl(path, _Versioned) == [record, _Versioned("y", [])]
    write_jsonl(path, [{"name": "z", "children": []}], schema_version=3)
    assert read_jsonl(path, _Versioned) == [_Versioned("z", [])]
    with pytest.raises(TypeError, match="schema_version"):
        write_jsonl(path, [{"name": "z"}])
