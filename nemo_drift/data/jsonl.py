"""Record files: one JSON object per line, each ``{"schema_version": N, **record}``.

Every file that stages hand to each other (prepared data, sample requests and samples, tokenized
pairs, reference log-probs) goes through this module, so they share one behaviour:

- Writing is atomic: lines go to a temporary file in the target's folder, which is fsynced and
  renamed over the target only when every record was written. A writer killed or failing midway
  leaves the previous file (or none), never a half file under the final name.
- The layout version lives with the record type, as its ``SCHEMA_VERSION`` class attribute; a
  reader refuses any other version, and bad JSON, unknown fields and missing fields, naming
  ``path:line``.
- Records are dataclasses. Nested dataclass fields (``Provenance``, ``Optional[SampleProvenance]``,
  ``list[SomeRecord]``) are rebuilt from the field's type hints; everything else (messages, ids,
  settings dicts) is stored as plain JSON. Writing is shallow: no ``dataclasses.asdict`` deep copy
  (the largest cost of `prepare` on big inputs); the encoder converts nested dataclasses as it meets
  them.

Plain Python 3.11+ (stdlib only): the training and the generation interpreters both import it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import types
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, TextIO, TypeVar, Union

T = TypeVar("T")
_Convert = Callable[[Any, str], Any]


def schema_version_of(cls: type) -> int:
    """The ``SCHEMA_VERSION`` class attribute of a record type (a TypeError when it has none)."""
    version = getattr(cls, "SCHEMA_VERSION", None)
    if not isinstance(version, int):
        raise TypeError(f"{cls.__name__} has no SCHEMA_VERSION class attribute; it is not a record type")
    return version


# --- writing -----------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_text(path: Path | str) -> Iterator[TextIO]:
    """A UTF-8 text handle whose content appears at ``path`` only if the block exits cleanly.

    The temporary file (``.<name>.<random>.tmp`` in the same folder, so the rename stays on one
    filesystem) is fsynced then renamed over ``path``; on any exception it is deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it owner-only)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> dict[str, Any]:
    """The encoder's hook for nested dataclasses: their fields in declaration order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: getattr(value, name) for name in _field_names(type(value))}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_plain)


def encode_record(record: Any, schema_version: Optional[int] = None) -> str:
    """One line (without the newline): ``schema_version`` first, then the record's fields in order.

    ``record`` is a dataclass instance (its type's ``SCHEMA_VERSION`` applies unless
    ``schema_version`` is given) or a dict (``schema_version`` required).
    """
    if isinstance(record, dict):
        if schema_version is None:
            raise TypeError("a dict record needs an explicit schema_version")
        return _ENCODER.encode({"schema_version": schema_version, **record})
    cls = type(record)
    row: dict[str, Any] = {"schema_version": schema_version_of(cls) if schema_version is None else schema_version}
    for name in _field_names(cls):
        row[name] = getattr(record, name)
    return _ENCODER.encode(row)


class JsonlWriter:
    """Streams records into ``path`` atomically (see `atomic_text`); ``count`` says how many so far.

    For writers that produce records over a long pass (`prepare` fills five files at once while
    streaming its input); `write_jsonl` covers the common case of an iterable.
    """

    def __init__(self, path: Path | str, schema_version: Optional[int] = None):
        self.path = Path(path)
        self.schema_version = schema_version
        self.count = 0
        self._context: Any = None
        self._handle: Optional[TextIO] = None

    def __enter__(self) -> "JsonlWriter":
        self._context = atomic_text(self.path)
        self._handle = self._context.__enter__()
        return self

    def write(self, record: Any) -> None:
        """Append one record (a dataclass instance, or a dict with the writer's schema_version)."""
        assert self._handle is not None, "JsonlWriter.write outside its with-block"
        self._handle.write(encode_record(record, self.schema_version) + "\n")
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        context, self._context, self._handle = self._context, None, None
        return bool(context.__exit__(exc_type, exc, tb))


def write_jsonl(path: Path | str, records: Iterable[Any], schema_version: Optional[int] = None) -> int:
    """Write ``records`` to ``path`` atomically, one per line; returns how many were written."""
    with JsonlWriter(path, schema_version) as writer:
        for record in records:
            writer.write(record)
    return writer.count


# --- reading -----------------------------------------------------------------------------------


def _build(cls: type[T], row: dict[str, Any], where: str) -> T:
    """``cls(**row)`` after checking the field names and rebuilding nested dataclasses."""
    names, required, nested = _spec(cls)
    for key in row:
        if key not in names:
            raise ValueError(f"{where}: unknown field {key!r} in a {cls.__name__} record (written by a different "
                             "nemo-drift version? rerun the stage that produced it)")
    for name in required:
        if name not in row:
            raise ValueError(f"{where}: missing field {name!r} of a {cls.__name__} record")
    for name, convert in nested.items():
        if name in row:
            row[name] = convert(row[name], where)
    return cls(**row)


def _converter(hint: Any) -> Optional[_Convert]:
    """How to rebuild a value of type ``hint`` from JSON, or None when the JSON value is already it."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        def build(value: Any, where: str) -> Any:
            if not isinstance(value, dict):
                raise ValueError(f"{where}: expected a {hint.__name__} object, got {type(value).__name__}")
            return _build(hint, value, where)
        return build
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        inner = [_converter(a) for a in args if a is not type(None)]
        if len(inner) == 1 and inner[0] is not None:
            convert = inner[0]
            return lambda value, where: None if value is None else convert(value, where)
        return None
    if origin is list and args:
        item = _converter(args[0])
        if item is not None:
            return lambda value, where: [item(v, where) for v in value]
    return None


@functools.lru_cache(maxsize=None)
def _spec(cls: type) -> tuple[frozenset[str], tuple[str, ...], dict[str, _Convert]]:
    """(field names, required field names, converters of nested-dataclass fields) of ``cls``."""
    hints = typing.get_type_hints(cls)
    names, required, nested = set(), [], {}
    for f in dataclasses.fields(cls):
        names.add(f.name)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        convert = _converter(hints.get(f.name))
        if convert is not None:
            nested[f.name] = convert
    return frozenset(names), tuple(required), nested


def decode_record(line: str, cls: type[T], where: str) -> T:
    """One line as a ``cls`` record; ValueError naming ``where`` (``path:line``) when it is not one."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err.msg}, column {err.colno}); the file is truncated or "
                         "corrupt: rerun the stage that produced it") from None
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object per line, got {type(row).__name__}")
    expected = schema_version_of(cls)
    found = row.pop("schema_version", None)
    if found != expected:
        raise ValueError(f"{where}: schema_version {found!r}, expected {expected} for a {cls.__name__} record "
                         "(written by a different nemo-drift version; rerun the stage that produced it)")
    return _build(cls, row, where)


def iter_jsonl_located(path: Path | str, cls: type[T]) -> Iterator[tuple[str, T]]:
    """``("path:line", record)`` for each non-blank line, for checks that must name the line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                where = f"{path}:{number}"
                yield where, decode_record(line, cls, where)


def iter_jsonl(path: Path | str, cls: type[T]) -> Iterator[T]:
    """Stream the ``cls`` records of a file written by `write_jsonl`."""
    for _, record in iter_jsonl_located(path, cls):
        yield record


def read_jsonl(path: Path | str, cls: type[T]) -> list[T]:
    """All ``cls`` records of ``path``."""
    return list(iter_jsonl(path, cls))


__all__ = ["JsonlWriter", "atomic_text", "decode_record", "encode_record", "iter_jsonl", "iter_jsonl_located",
           "read_jsonl", "schema_version_of", "write_jsonl"]
