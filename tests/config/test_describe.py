"""`--help` text from the schema: every leaf key, its default, type and docstring, read from the dataclasses."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Optional

import pytest

from nemo_drift.config.describe import REQUIRED, field_docs, format_groups, type_name
from nemo_drift.config.schema import DriftConfig


def _leaf_keys(cls: type, prefix: str = "") -> list[str]:
    """Independent recursive walk of dataclasses.fields (the count field_docs must reach)."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            keys.extend(_leaf_keys(inner[0], f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


def _value(obj: object, key: str) -> object:
    """The value at a dotted key of a config instance (KeyError when a parent group is None)."""
    for part in key.split("."):
        if obj is None:
            raise KeyError(key)
        obj = getattr(obj, part)
    return obj


def test_every_leaf_once_with_a_docstring():
    docs = field_docs(DriftConfig)
    keys = [d.key for d in docs]
    assert keys == _leaf_keys(DriftConfig)
    assert len(set(keys)) == len(keys)
    assert "model.architecture.hidden_size" in keys and "trainer.lr" in keys
    undocumented = [d.key for d in docs if not d.doc]
    assert not undocumented, f"schema fields without a docstring: {undocumented}"
    assert all("\n" not in d.doc and "  " not in d.doc for d in docs)


def test_defaults_and_types_match_the_schema():
    docs = {d.key: d for d in field_docs(DriftConfig)}
    assert docs["trainer.lr"].default == 5e-7 and docs["trainer.lr"].type == "float"
    assert docs["method.name"].default == "drift" and docs["method.name"].type == "str"
    assert docs["trainer.reference_path"].type == "Optional[str]"
    assert docs["trainer.use_distributed_optimizer"].type == "bool | str"
    assert docs["cluster.srun_extra_args"].type == "list[str]" and docs["cluster.srun_extra_args"].default == []
    cfg = DriftConfig()
    for key, doc in docs.items():
        if not key.startswith("model.architecture."):  # DriftConfig().model.architecture is None
            assert doc.default == _value(cfg, key), key
    assert docs["trainer.lr"].doc.startswith("Peak learning rate")


def test_invalidates_metadata_is_a_tuple_or_none():
    for doc in field_docs(DriftConfig):
        assert doc.invalidates is None or (isinstance(doc.invalidates, tuple)
                                           and all(isinstance(s, str) for s in doc.invalidates)), doc.key


def test_format_groups_shows_one_group():
    text = format_groups(["trainer"])
    assert text.startswith("trainer: Settings of the DPO training loop")
    assert "  trainer.lr = 5e-07  (float)" in text
    assert "Peak learning rate, reached after warmup (paper: 5e-7)." in text
    assert not [line for line in text.splitlines() if line.lstrip().startswith("model.")]
    assert all(len(line) <= 100 for line in format_groups().splitlines() if " " in line.strip())
    with pytest.raises(ValueError, match="trainr"):
        format_groups(["trainr"])


def _stages(*names: str) -> dataclasses.Field:
    """A helper returning a field, the way the schema may declare metadata."""
    return field(default=7, metadata={"invalidates": names})


@dataclass
class _Inner:
    """Inner group."""

    depth: int = 1
    """How deep."""


@dataclass
class _Outer:
    """Hand-made schema: documented, undocumented, nested and Optional[nested] fields."""

    documented: str = "x"
    """A   documented
    field."""
    undocumented: int = 3
    via_helper: int = _stages("train", "reference")
    """Declared through a helper."""
    no_redo: list[str] = field(default_factory=lambda: ["a"], metadata={"invalidates": ()})
    """Redoes nothing."""
    inner: _Inner = field(default_factory=_Inner)
    maybe: Optional[_Inner] = None


@dataclass
class _Required:
    """A field without a default."""

    value: Optional[float]
    """No default."""


def test_docstring_extraction_on_a_hand_made_dataclass():
    docs = {d.key: d for d in field_docs(_Outer, "g.")}
    assert list(docs) == ["g.documented", "g.undocumented", "g.via_helper", "g.no_redo", "g.inner.depth",
                          "g.maybe.depth"]
    assert docs["g.documented"].doc == "A documented field."
    assert docs["g.undocumented"].doc == "" and docs["g.undocumented"].invalidates is None
    assert (docs["g.via_helper"].default, docs["g.via_helper"].invalidates) == (7, ("train", "reference"))
    assert docs["g.via_helper"].doc == "Declared through a helper."
    assert (docs["g.no_redo"].default, docs["g.no_redo"].invalidates, docs["g.no_redo"].type) == (["a"], (), "list[str]")
    assert docs["g.inner.depth"].doc == docs["g.maybe.depth"].doc == "How deep."
    [required] = field_docs(_Required)
    assert (required.key, required.default, required.type, required.doc) == ("value", REQUIRED, "Optional[float]",
                                                                             "No default.")


def test_type_names():
    assert [type_name(t) for t in (int, Optional[str], list[str], typing.Union[bool, str], int | None,
                                   dict[str, typing.Any])] == [
        "int", "Optional[str]", "list[str]", "bool | str", "Optional[int]", "dict[str, Any]"]
