"""Describe the config schema for `nemo-drift <command> --help`: every key, its type, default, docstring.

The dataclasses in this package are the one home of every setting and its documentation, so the help
text is read from them instead of being written twice. Names, types, defaults and metadata come from
`dataclasses.fields()` (however a field is declared: plain default, `field(...)` or a helper returning
one); only the attribute docstrings (the string literal right after a field) need the source, read
with `ast`. A field without a docstring gets "" here; tests/config/test_describe.py demands one.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from nemo_drift.config.schema import DriftConfig

REQUIRED = dataclasses.MISSING
"""The `FieldDoc.default` of a field that has no default (printed as `<required>`)."""


@dataclass(frozen=True)
class FieldDoc:
    """One leaf setting as a user sees it: `key=value` on the command line, with what it means."""

    key: str
    """Dotted override key, e.g. "trainer.lr" or "model.architecture.hidden_size"."""
    type: str
    """The annotation as a user reads it: "int", "Optional[str]", "list[str]", "bool | str"."""
    default: Any
    """The default value (a default_factory is called); `REQUIRED` when the field has none."""
    doc: str
    """The field's docstring as one whitespace-normalised paragraph ("" when it has none)."""
    invalidates: Optional[tuple[str, ...]]
    """Stages a change of this field forces to redo (metadata "invalidates"); None when not declared."""


@functools.lru_cache(maxsize=None)
def _source_docs(cls: type) -> tuple[str, dict[str, str]]:
    """(class docstring, {field name: attribute docstring}) of one class body, from its source.

    Returns empty results when the source cannot be read (e.g. a class built in a REPL)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return "", {}
    node = next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__), None)
    if node is None:
        return "", {}
    docs: dict[str, str] = {}
    for stmt, after in zip(node.body, node.body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[stmt.target.id] = " ".join(after.value.value.split())
    return ast.get_docstring(node) or "", docs


def _field_doc(cls: type, name: str) -> str:
    """Docstring of field `name`, looked up through the base classes that declare fields too."""
    for klass in cls.__mro__:
        if dataclasses.is_dataclass(klass) and name in _source_docs(klass)[1]:
            return _source_docs(klass)[1][name]
    return ""


def type_name(tp: Any) -> str:
    """A resolved annotation as written in Python 3.10+ style, `Optional[X]` kept for readability."""
    if tp is type(None):
        return "None"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if len(others) == 1 and len(args) == 2:
            return f"Optional[{type_name(others[0])}]"
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is not None:
        base = getattr(origin, "__name__", str(origin).replace("typing.", ""))
        return f"{base}[{', '.join(type_name(a) for a in args)}]" if args else base
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _nested_dataclass(tp: Any) -> Optional[type]:
    """The dataclass a field holds (directly or as Optional[...]), or None for a leaf."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return _nested_dataclass(inner[0])
    return None


def field_docs(cls: type, prefix: str = "") -> list[FieldDoc]:
    """Every leaf field of dataclass `cls`, depth first in declaration order, keys prefixed by `prefix`.

    A field holding a dataclass (also Optional[...]) is recursed into as `prefix + name + "."`."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an unresolvable forward reference: show the annotation as written
        hints = {}
    docs: list[FieldDoc] = []
    for f in dataclasses.fields(cls):
        tp = hints.get(f.name, f.type)
        nested = _nested_dataclass(tp)
        if nested is not None:
            docs.extend(field_docs(nested, f"{prefix}{f.name}."))
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = REQUIRED
        stages = f.metadata.get("invalidates")
        docs.append(FieldDoc(key=prefix + f.name, type=type_name(tp), default=default, doc=_field_doc(cls, f.name),
                             invalidates=None if stages is None else tuple(stages)))
    return docs


def format_value(value: Any) -> str:
    """A default as typed on the command line: null, true, "text", [..]; repr for anything else."""
    if value is REQUIRED:
        return "<required>"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def format_groups(groups: Sequence[str] | None = None, width: int = 100) -> str:
    """Help text for the named DriftConfig groups (None: all): a header per group from its class
    docstring, then per key `  key = default  (type)`, its docstring and what a change redoes."""
    top = {f.name: f for f in dataclasses.fields(DriftConfig)}
    hints = typing.get_type_hints(DriftConfig)
    names = list(top) if groups is None else list(groups)
    unknown = [g for g in names if g not in top]
    if unknown:
        raise ValueError(f"unknown config group(s) {', '.join(unknown)}; known: {', '.join(top)}")
    wrap = functools.partial(textwrap.wrap, width=width, break_long_words=False, break_on_hyphens=False)
    lines: list[str] = []
    for group in names:
        cls = _nested_dataclass(hints[group])
        summary = _source_docs(cls)[0].splitlines()[0] if cls and _source_docs(cls)[0] else ""
        lines.extend(wrap(f"{group}: {summary}" if summary else f"{group}:", subsequent_indent="    "))
        for doc in field_docs(cls, f"{group}.") if cls else []:
            lines.extend(wrap(f"{doc.key} = {format_value(doc.default)}  ({doc.type})",
                              initial_indent="  ", subsequent_indent="        "))
            lines.extend(wrap(doc.doc, initial_indent="      ", subsequent_indent="      "))
            if doc.invalidates is not None:
                lines.append(f"      redoes: {', '.join(doc.invalidates) or 'nothing'}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
