"""Stage manifests: what a completed stage read, with which settings, what it produced.

A stage folder counts as complete only when its `manifest.json` exists, and the manifest is written
last, inside the temporary folder that is renamed into place (see `stage_dir.py`). On a rerun the
controller compares the stored settings with the current ones to tell a user which changed key
invalidates which completed stage.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, or of a folder's files (names + contents, sorted) for checkpoints."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for item in files:
        digest.update(str(item.relative_to(path) if item != path else item.name).encode())
        with open(item, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()[:16]


def settings_digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Manifest:
    """The record of one completed stage."""

    stage: str
    iteration: int
    settings: dict[str, Any]
    """The config values this stage depends on (flattened `group.key` -> value)."""
    inputs: dict[str, str] = field(default_factory=dict)
    """Input path (relative to the run folder) -> digest."""
    counts: dict[str, Any] = field(default_factory=dict)
    """What it produced: pairs, samples, skipped, steps, ..."""
    started_at: float = 0.0
    duration_s: float = 0.0
    command: list[str] = field(default_factory=list)
    """The launcher command line, when the stage ran as its own process."""

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2, default=str))

    @classmethod
    def read(cls, folder: Path) -> "Manifest | None":
        path = folder / MANIFEST
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()))

    def changed_settings(self, current: dict[str, Any]) -> list[str]:
        """Keys whose value differs between this manifest and `current` (sorted). Only keys both know are
        compared: a stage whose dependency list changed between versions is not invalidated by that."""
        keys = set(self.settings) & set(current)
        return sorted(k for k in keys if self.settings[k] != current[k])


def now() -> float:
    return time.time()
