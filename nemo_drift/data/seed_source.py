"""A user-supplied file (or folder) of DSAT->SAT seed preference pairs, for the DPO warm start.

Each input row becomes exactly one `SeedPair` or one `Reject`; a bad row never raises. Two row
shapes are accepted, detected per row:

- Separate prompt (TRL standard/conversational; the official DRIFT ``data/seed-data/*.jsonl``, our
  own ``seed_pairs.jsonl`` and ``pairs.jsonl``): ``prompt`` is a list of role/content messages
  ending with a user turn, or a string (one user turn); ``chosen`` and ``rejected`` are each a
  string, or a list of messages whose last item is the assistant reply. Other fields are ignored.
- Implicit prompt (Alignment Handbook / TRL): no ``prompt``; ``chosen`` and ``rejected`` are whole
  conversations ending with the assistant reply, and the prompt is ``chosen[:-1]``, which must equal
  ``rejected[:-1]``.

The id is the row's ``id`` (string or integer) when it has one, else a hash of its content.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from nemo_drift.data.extract import check_turns, plain_messages
from nemo_drift.data.formats.chat_logs import parse_messages
from nemo_drift.data.formats.common import RowError, content_id, map_rows, need
from nemo_drift.data.records import Message, Provenance, Reject, SeedPair
from nemo_drift.data.rows import CountedRows, RawRow, container_kind, iter_rows, resolve_source

SEED_FORMAT = "seed_pairs"


def _reply(row: dict, side: str) -> tuple[str, list[Message] | None]:
    """(reply text, whole conversation when the side is a message list) of ``chosen``/``rejected``."""
    value = need(row, side, (str, list))
    if isinstance(value, str):
        return value, None
    if not value:
        raise RowError("missing_field", f"field {side!r} is an empty list")
    messages = parse_messages(value, side)
    if messages[-1]["role"] != "assistant":
        raise RowError("bad_field", f"{side}[{len(messages) - 1}] is a {messages[-1]['role']!r} message, "
                                    "expected the assistant reply last")
    return messages[-1]["content"], plain_messages(messages)


def _prompt(row: dict, chosen_turns: list[Message] | None, rejected_turns: list[Message] | None) -> list[Message]:
    """The prompt messages: the ``prompt`` field, or the shared head of two whole conversations."""
    if row.get("prompt") is not None:
        prompt = need(row, "prompt", (str, list))
        if isinstance(prompt, str):
            return [{"role": "user", "content": prompt}]
        return plain_messages(parse_messages(prompt, "prompt"))
    if chosen_turns is None or rejected_turns is None:
        raise RowError("missing_field", "row has no field 'prompt' and 'chosen'/'rejected' are not whole conversations")
    if chosen_turns[:-1] != rejected_turns[:-1]:
        raise RowError("prompt_mismatch", "'chosen' and 'rejected' differ before their last message (no shared prompt)")
    return chosen_turns[:-1]


def _row_id(row: dict, prompt: list[Message], chosen: str, rejected: str) -> str:
    given = row.get("id")
    if given is None:
        return content_id(prompt, chosen, rejected)
    if isinstance(given, bool) or not isinstance(given, (str, int)) or not str(given).strip():
        raise RowError("bad_field", f"field 'id' is {given!r}, expected a non-empty string or an integer")
    return str(given)


class SeedPairStream:
    """The items of `read_seed_pairs`; ``rows_in`` counts the raw input rows of every file read to its end.

    After the stream is exhausted, ``rows_in == pairs + sum(reject.n_rows for rejects)``. A JSON
    array's syntax-error marker (a `Reject` with ``n_rows`` 0, after which the file cannot be read
    further) is not a row and is not counted.
    """

    def __init__(self, source: str, snippet_chars: int = 300):
        self.inputs = resolve_source(source)
        for path in self.inputs:  # an unreadable container is a config error: raise before any output
            if not path.startswith("hf:"):
                container_kind(Path(path))
        self.snippet_chars = snippet_chars
        self.rows_in = 0
        self._first_by_id: dict[str, tuple[str, int]] = {}
        self._first_by_content: dict[str, tuple[str, int]] = {}
        self._items = self._generate()

    def __iter__(self) -> "SeedPairStream":
        return self

    def __next__(self) -> SeedPair | Reject:
        return next(self._items)

    def _generate(self) -> Iterator[SeedPair | Reject]:
        for path in self.inputs:
            rows = CountedRows(iter_rows(path, snippet_chars=self.snippet_chars))
            yield from map_rows(rows, self._parse)
            self.rows_in += rows.count

    def _parse(self, raw: RawRow) -> SeedPair:
        """One row to a SeedPair, or a RowError (which `map_rows` turns into a Reject)."""
        row: Any = raw.value
        chosen, chosen_turns = _reply(row, "chosen")
        rejected, rejected_turns = _reply(row, "rejected")
        prompt = _prompt(row, chosen_turns, rejected_turns)
        check_turns(prompt)
        if not prompt or prompt[-1]["role"] != "user":
            raise RowError("context_not_ending_with_user", "field 'prompt' must end with a user message")
        for side, text in (("chosen", chosen), ("rejected", rejected)):
            if not text.strip():
                raise RowError("empty_reply", f"the {side} reply is empty")
        if chosen.strip() == rejected.strip():
            raise RowError("chosen_equals_rejected", "'chosen' and 'rejected' are the same text: no preference")
        pair_id = _row_id(row, prompt, chosen, rejected)
        self._check_new(raw, pair_id, content_id(prompt, chosen, rejected))
        return SeedPair(pair_id, prompt, chosen, rejected, Provenance(raw.source_file, SEED_FORMAT, raw.row, pair_id))

    def _check_new(self, raw: RawRow, pair_id: str, content_key: str) -> None:
        """RowError if an earlier accepted row had this id or this content; else remember both."""
        for what, index, key in (("id", self._first_by_id, pair_id), ("content", self._first_by_content, content_key)):
            if key in index:
                first_file, first_row = index[key]
                where = f"row {first_row}" + ("" if first_file == raw.source_file else f" of {first_file}")
                raise RowError("duplicate_seed_pair", f"same {what} as the seed pair at {where}")
        self._first_by_id[pair_id] = self._first_by_content[content_key] = (raw.source_file, raw.row)


def read_seed_pairs(source: str, snippet_chars: int = 300) -> SeedPairStream:
    """The seed pairs of ``source`` (a file, a folder of JSON/JSONL/Parquet files, ``sample:<name>``
    or a hub dataset name, resolved as ``data.source`` is), one `SeedPair` or `Reject` per row.

    Returns a `SeedPairStream` (an ``Iterator[SeedPair | Reject]``): iterate it, then read its
    ``rows_in`` to check the accounting.
    A missing path or a file that is neither JSON nor JSONL raises here, before any item is read.
    """
    return SeedPairStream(source, snippet_chars)
