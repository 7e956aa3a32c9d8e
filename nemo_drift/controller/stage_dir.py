"""Atomic stage folders: a stage writes into `<stage>.tmp/`, renamed to `<stage>/` on success.

A killed stage leaves only a `.tmp` folder, which is never taken as complete and is removed before
the stage runs again. The rename is the commit point; the manifest inside is written just before it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from nemo_drift.controller.manifest import MANIFEST


def is_complete(folder: Path) -> bool:
    """A stage folder is complete when it exists under its final name and holds a manifest."""
    return (folder / MANIFEST).is_file()


@contextlib.contextmanager
def stage_output(folder: Path, keep_partial: bool = False) -> Iterator[Path]:
    """Yield the temporary folder; rename it to `folder` only if the body finishes.

    `keep_partial`: reuse what a killed attempt left in the temporary folder (generation keeps its
    finished shards there, each written atomically); otherwise start from an empty one.
    """
    tmp = folder.with_name(folder.name + ".tmp")
    if not keep_partial:
        shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, exist_ok=True)
    yield tmp
    if not (tmp / MANIFEST).is_file():
        raise RuntimeError(f"stage folder {tmp} finished without a {MANIFEST}")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    _fsync_dir(folder.parent)


def discard(folder: Path) -> None:
    """Remove a stage folder and any temporary leftover (used by `resume.from_stage`)."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(folder.with_name(folder.name + ".tmp"), ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
