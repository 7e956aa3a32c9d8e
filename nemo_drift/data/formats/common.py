"""What format parsers produce, and the small helpers they share.

Every parser turns `RawRow`s into a stream of three kinds of items:
- `Conversation`: messages with per-turn feedback labels (the generic chat-log form); record
  extraction (`extract.py`) decides which turns make DSAT/SAT/seed records.
- `SourcePair`: a context with a known rejected (and maybe chosen) reply, from pair datasets
  (WildFeedback pairs, DRIFT JSONL, UltraFeedback).
- `Reject`: rows that cannot be used, with the reason. ``n_rows`` on every item adds up to the rows read.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Union

from nemo_drift.data.records import Message, Provenance, Reject
from nemo_drift.data.rows import RawRow


@dataclass
class Conversation:
    """A conversation whose user messages may carry ``feedback`` ("sat" | "dsat") on the reply before."""

    id: str
    messages: list[dict[str, str]]
    """``role``, ``content`` and, on user messages, optional ``feedback``."""
    provenance: Provenance
    source_row: RawRow | None
    """The first input row (its snippet goes into a reject)."""
    n_rows: int = 1

    @property
    def snippet(self) -> str:
        return self.source_row.snippet if self.source_row is not None else ""


@dataclass
class SourcePair:
    """A context with the reply to reject and, when the source has one, the reply to prefer."""

    id: str
    context: list[Message]
    rejected: str
    chosen: str | None
    feedback: str
    preference: str | None
    provenance: Provenance
    source_row: RawRow | None
    n_rows: int = 1

    @property
    def snippet(self) -> str:
        return self.source_row.snippet if self.source_row is not None else ""


Item = Union[Conversation, SourcePair, Reject]
Parser = Callable[[Iterable[RawRow]], Iterator[Item]]


class RowError(Exception):
    """Raised inside a row parser; becomes a `Reject` with this reason code and detail."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def content_id(*parts: Any) -> str:
    """A stable 16-hex id from content, for sources without ids (also the duplicate key)."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha1(blob).hexdigest()[:16]


def need(obj: Any, key: str, kind: type | tuple[type, ...], where: str = "row") -> Any:
    """``obj[key]`` if present and of ``kind``, else a RowError naming the field."""
    if not isinstance(obj, dict):
        raise RowError("malformed_row", f"{where} is a {type(obj).__name__}, expected an object")
    if key not in obj or obj[key] is None:
        raise RowError("missing_field", f"{where} has no field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise RowError("bad_field", f"{where} field {key!r} is a {type(value).__name__}, expected {names}")
    return value


def row_reject(row: RawRow, reason: str, detail: str, conversation_id: str | None = None, n_rows: int = 1) -> Reject:
    """A Reject for one raw row (or a group starting at it)."""
    return Reject(row.source_file, row.row, conversation_id, reason, detail, row.snippet, n_rows)


def map_rows(rows: Iterable[RawRow], parse_one: Callable[[RawRow], Item]) -> Iterator[Item]:
    """Apply a one-row-one-item parser; row problems and RowErrors become Rejects."""
    for row in rows:
        if row.problem is not None:
            yield row_reject(row, *row.problem, n_rows=0 if row.problem[0] == "json_syntax_error" else 1)
            continue
        try:
            yield parse_one(row)
        except RowError as err:
            yield row_reject(row, err.reason, err.detail)
