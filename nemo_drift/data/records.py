"""Typed records that every stage after `prepare` reads and writes, and their JSONL storage.

Messages are plain ``list[dict]`` with keys ``role`` ("system" | "user" | "assistant") and
``content``; they are handed to ``tokenizer.apply_chat_template`` unchanged. Every record carries a
``Provenance`` (which file, which row, which conversation) so an error or a surprising pair can be
traced back to its input. On disk each line is one record plus ``schema_version``; reading a file
written with another schema version fails loudly instead of guessing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

SCHEMA_VERSION = 1
"""Bump when a record's fields change meaning; `read_jsonl` refuses other versions."""

Message = dict[str, str]


@dataclass
class Provenance:
    """Where a record came from: enough to find the input row again."""

    source_file: str
    """Path (or hub dataset name) of the input."""
    source_format: str
    """Reader that parsed it (one of `nemo_drift.data.formats.FORMATS`)."""
    row: int | None
    """0-based row of the first input row: array item, JSONL line, or dataset row."""
    conversation_id: str
    """Id of the conversation (given by the input, else a hash of its content)."""


@dataclass
class DsatExample:
    """An assistant reply the user was dissatisfied with: the DPO rejected side of DRIFT."""

    id: str
    context: list[Message]
    """All messages before the judged reply (ends with a user message): the DPO prompt."""
    rejected: str
    """The dissatisfying assistant reply."""
    feedback: str
    """The user's message that judged the reply ("" when the source has none, e.g. UltraFeedback)."""
    preference: str | None
    """Extracted preference text when the source provides one, else None."""
    split: str
    """"train" or "heldout" (hash of the conversation id, see `split.py`)."""
    provenance: Provenance


@dataclass
class SatExample:
    """A reply the user was satisfied with: the SAT catalogue the SPIN baseline trains towards."""

    id: str
    context: list[Message]
    reply: str
    split: str
    provenance: Provenance


@dataclass
class SeedPair:
    """DSAT reply -> the assistant's revision -> a SAT user turn: a warm-start DPO pair."""

    id: str
    prompt: list[Message]
    """Context before the DSAT reply."""
    chosen: str
    """The revision the user was satisfied with."""
    rejected: str
    """The DSAT reply."""
    provenance: Provenance


@dataclass
class HeldOutPrompt:
    """A context from a held-out conversation, for evaluation only (never trained on)."""

    id: str
    context: list[Message]
    provenance: Provenance


@dataclass
class PreferencePair:
    """What a method builds and DPO training consumes: prompt messages, chosen and rejected text."""

    id: str
    prompt: list[Message]
    chosen: str
    rejected: str
    origin: str
    """Which method/stage made it, e.g. "drift", "spin", "iterdpo", "seed"."""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reject:
    """An input row (or group of rows) that produced no record, and why."""

    source_file: str
    row: int | None
    """0-based row/line of the first rejected row (None when unknown)."""
    conversation_id: str | None
    reason: str
    """Short code, e.g. "malformed_json", "missing_field", "duplicate_conversation"."""
    detail: str
    """One human sentence naming the field or turn at fault."""
    snippet: str
    """The first characters of the raw input."""
    n_rows: int = 1
    """Input rows this reject accounts for (a rejected conversation covers all its rows)."""


T = TypeVar("T")
_ENCODER = json.JSONEncoder(ensure_ascii=False)

_NESTED: dict[type, dict[str, type]] = {
    DsatExample: {"provenance": Provenance},
    SatExample: {"provenance": Provenance},
    SeedPair: {"provenance": Provenance},
    HeldOutPrompt: {"provenance": Provenance},
}


def to_dict(record: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict, with ``schema_version`` first.

    Shallow on purpose (messages and meta are already plain JSON): `dataclasses.asdict` deep-copies
    every message and was the largest cost of `prepare`.
    """
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        data[f.name] = vars(value) if dataclasses.is_dataclass(value) else value
    return data


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from `to_dict` output; refuses another schema version."""
    data = dict(data)
    version = data.pop("schema_version", None)
    if version != SCHEMA_VERSION:
        raise ValueError(f"{cls.__name__} record has schema_version {version!r}, this code reads {SCHEMA_VERSION}")
    for name, sub in _NESTED.get(cls, {}).items():
        if isinstance(data.get(name), dict):
            data[name] = sub(**data[name])
    return cls(**data)


class JsonlWriter:
    """Streams records to ``path`` through a temp file renamed into place on a clean exit.

    A crash mid-write leaves the previous file (or nothing), never a half-written one.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.count = 0
        self._fh = None
        self._tmp = ""

    def __enter__(self) -> "JsonlWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        return self

    def write(self, record: Any) -> None:
        """Append one record (a dataclass instance)."""
        self._fh.write(_ENCODER.encode(to_dict(record)) + "\n")
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self._fh.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            os.unlink(self._tmp)


def write_jsonl(path: Path | str, records: Iterable[Any]) -> int:
    """Write dataclass records atomically; returns how many were written."""
    with JsonlWriter(path) as writer:
        for record in records:
            writer.write(record)
    return writer.count


def iter_jsonl(path: Path | str, cls: type[T]) -> Iterator[T]:
    """Stream records of type ``cls`` from a file written by `write_jsonl`."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield from_dict(cls, json.loads(line))
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"{path}:{lineno}: not a {cls.__name__} record: {exc}") from exc


def read_jsonl(path: Path | str, cls: type[T]) -> list[T]:
    """All records of type ``cls`` in ``path``."""
    return list(iter_jsonl(path, cls))


def write_json(path: Path | str, data: Any) -> None:
    """Write one JSON document atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)
