"""Row sources: stream the raw rows of a JSON array, a JSONL file, a Parquet file or a hub dataset.

A row source never raises on a bad row: it yields a `RawRow` whose ``problem`` says what is wrong
(malformed JSON, invalid UTF-8), and the format parser decides what the row's loss means (a 1:1
format rejects the row; the utterance format rejects the whole conversation it belongs to).

Big JSON arrays (WildFeedback's 1.6 GB `sat_dsat_annotation.json`) are parsed item by item with
ijson's C backend, through `_Utf8Guard`, which replaces each invalid UTF-8 byte by
`INVALID_BYTE_MARK` so one bad byte costs one row instead of ending the parse.
"""
from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import ijson

INVALID_BYTE_MARK = "\U0010fffd"
"""Stands in for an invalid UTF-8 byte (a private-use code point real text does not contain)."""

_ERROR_HANDLER = "nemo_drift.mark_invalid_utf8"
codecs.register_error(_ERROR_HANDLER, lambda err: (INVALID_BYTE_MARK * (err.end - err.start), err.end))

LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet")
"""File kinds read from a local path or directory."""

SAMPLE_PREFIX = "sample:"
SAMPLES_DIR = Path(__file__).parent / "samples"


@dataclass
class RawRow:
    """One input row as parsed, or the reason it could not be."""

    source_file: str
    row: int
    """0-based index: array item, JSONL line, or dataset row."""
    value: Any
    """The parsed JSON value (None when ``problem`` is set and nothing could be parsed)."""
    raw_text: str | None = None
    """The raw line when the source has one (JSONL); else the snippet is rebuilt from ``value``."""
    problem: tuple[str, str] | None = None
    """(reason code, detail) when the row is unusable."""
    snippet_chars: int = 300

    @property
    def snippet(self) -> str:
        """The first characters of the raw row, for the rejects file (built only when needed)."""
        if self.raw_text is not None:
            return self.raw_text[: self.snippet_chars]
        if self.value is None:
            return ""
        return json.dumps(self.value, ensure_ascii=False, default=str)[: self.snippet_chars]


class _Utf8Guard:
    """A binary file wrapper that turns invalid UTF-8 bytes into `INVALID_BYTE_MARK` (counted)."""

    def __init__(self, fh: BinaryIO):
        self._fh = fh
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors=_ERROR_HANDLER)
        self.marks = 0

    def read(self, size: int = -1) -> bytes:
        raw = self._fh.read(size)
        text = self._decoder.decode(raw, final=not raw)
        if INVALID_BYTE_MARK in text:
            self.marks += text.count(INVALID_BYTE_MARK)
        return text.encode("utf-8")


def _has_mark(value: Any) -> bool:
    if isinstance(value, str):
        return INVALID_BYTE_MARK in value
    if isinstance(value, dict):
        return any(_has_mark(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_mark(v) for v in value)
    return False


def iter_json_array(path: Path, snippet_chars: int = 300, buf_size: int = 1 << 18) -> Iterator[RawRow]:
    """Stream the items of a top-level JSON array in constant memory.

    A syntax error cannot be resynchronised in a streamed array: it yields one last RawRow with
    problem ``json_syntax_error`` (row = the index the error stopped at) and ends.
    """
    name = str(path)
    index = -1
    with open(path, "rb") as fh:
        guard = _Utf8Guard(fh)
        try:
            for index, value in enumerate(ijson.items(guard, "item", use_float=True, buf_size=buf_size)):
                problem = None
                if guard.marks and _has_mark(value):
                    problem = ("non_utf8", "row contains bytes that are not valid UTF-8")
                yield RawRow(name, index, value, None, problem, snippet_chars)
        except ijson.JSONError as exc:
            detail = f"JSON syntax error after row {index}: {exc}; the rest of the file could not be read"
            yield RawRow(name, index + 1, None, None, ("json_syntax_error", detail))


def iter_jsonl(path: Path, snippet_chars: int = 300) -> Iterator[RawRow]:
    """Stream the lines of a JSONL file; blank lines are skipped (not rows)."""
    name = str(path)
    with open(path, "rb") as fh:
        for index, raw in enumerate(fh):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace")
                yield RawRow(name, index, None, text, ("non_utf8", f"line is not valid UTF-8: {exc.reason}"), snippet_chars)
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RawRow(name, index, None, line, ("malformed_json", f"line is not JSON: {exc}"), snippet_chars)
                continue
            yield RawRow(name, index, value, line, None, snippet_chars)


def iter_parquet(path: Path, snippet_chars: int = 300) -> Iterator[RawRow]:
    """Stream the rows of a Parquet file (e.g. a hub download of ultrafeedback_binarized)."""
    import pyarrow.parquet as pq

    index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for value in batch.to_pylist():
            yield RawRow(str(path), index, value, snippet_chars=snippet_chars)
            index += 1


def iter_hub(name: str, split: str, snippet_chars: int = 300) -> Iterator[RawRow]:
    """Stream a Hugging Face hub dataset (needs the hub to be reachable)."""
    import datasets

    try:
        dataset = datasets.load_dataset(name, split=split, streaming=True)
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one clear message
        raise FileNotFoundError(
            f"data.source: {name!r} is not a local file or directory, and loading it as a Hugging Face "
            f"dataset (split {split!r}, data.hf_split) failed: {type(exc).__name__}: {exc}"
        ) from exc
    for index, value in enumerate(dataset):
        yield RawRow(f"hf:{name}", index, value, snippet_chars=snippet_chars)


def container_kind(path: Path) -> str:
    """"json_array", "jsonl" or "parquet", from the suffix or the first non-blank byte."""
    if path.suffix == ".parquet":
        return "parquet"
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return "json_array"
    if head.startswith(b"{"):
        return "jsonl"
    raise ValueError(f"{path}: neither a JSON array nor JSONL (starts with {head[:20]!r})")


def resolve_source(source: str) -> list[str]:
    """The inputs behind ``data.source``: local files (a directory expands to its JSON/JSONL/Parquet
    files, sorted), or ``hf:<name>`` when it is no local path."""
    if source.startswith(SAMPLE_PREFIX):
        path = SAMPLES_DIR / source[len(SAMPLE_PREFIX):]
        if not path.is_file():
            shipped = sorted(p.name for p in SAMPLES_DIR.iterdir() if p.suffix in LOCAL_SUFFIXES)
            raise FileNotFoundError(f"data.source: no sample {path.name!r}; shipped samples: {', '.join(shipped)}")
        return [str(path)]
    path = Path(source).expanduser()
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix in LOCAL_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"data.source: directory {path} holds no {'/'.join(LOCAL_SUFFIXES)} files")
        return files
    if source.startswith(("/", "./", "../", "~")) or path.suffix in LOCAL_SUFFIXES:
        raise FileNotFoundError(f"data.source: {source} does not exist")
    return [f"hf:{source}"]


def iter_rows(source: str, hf_split: str = "train", snippet_chars: int = 300) -> Iterator[RawRow]:
    """Rows of one resolved input (a local file or ``hf:<name>``)."""
    if source.startswith("hf:"):
        yield from iter_hub(source[3:], hf_split, snippet_chars)
        return
    path = Path(source)
    kind = container_kind(path)
    if kind == "parquet":
        yield from iter_parquet(path, snippet_chars)
    elif kind == "json_array":
        yield from iter_json_array(path, snippet_chars)
    else:
        yield from iter_jsonl(path, snippet_chars)


def first_value(source: str, hf_split: str = "train", probe_rows: int = 20) -> Any:
    """The first parseable row value of an input (for format detection), or None."""
    rows = iter_rows(source, hf_split)
    try:
        for _, row in zip(range(probe_rows), rows):
            if row.problem is None and isinstance(row.value, dict):
                return row.value
    finally:
        rows.close()
    return None


class CountedRows:
    """Counts the raw rows a parser pulls from ``rows``, independently of what the parser reports, so a
    caller can check that rows in = rows used + rows rejected. A JSON array's syntax-error marker is no
    row (it only says the file could not be read further) and is not counted."""

    def __init__(self, rows: Iterator[RawRow]):
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[RawRow]:
        for row in self._rows:
            if row.problem is None or row.problem[0] != "json_syntax_error":
                self.count += 1
            yield row
