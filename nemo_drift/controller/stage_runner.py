"""Run a stage at most once: skip it when its folder is complete with the same settings and inputs,
stop with a clear message when a setting it depends on changed, redo it on `resume.from_stage`.

A stage body gets a temporary folder to write into and returns its counts; the manifest and the
rename happen here, so no body can leave a half-written stage that looks complete.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from nemo_drift.controller.context import RunContext
from nemo_drift.controller.manifest import MANIFEST, Manifest, file_digest
from nemo_drift.controller.stage_dir import discard, is_complete, stage_output

StageBody = Callable[[Path], dict[str, Any]]


class RunError(RuntimeError):
    """The run cannot go on, for a reason the message names (with the setting or input to change)."""


class StageInvalidated(RunError):
    """A completed stage was made with settings that differ from the current ones."""


def input_digest(path: Path) -> str:
    """A stage folder is identified by its manifest (cheap, and it changes whenever the stage is redone);
    any other file or folder by its content."""
    manifest = path / MANIFEST
    return file_digest(manifest if manifest.is_file() else path)


def run_stage(ctx: RunContext, iteration: int, name: str, settings: dict[str, Any], inputs: dict[str, Path],
              body: StageBody, keep_partial: bool = False) -> Path:
    """Return the stage's completed folder, running `body` only when needed.

    `keep_partial`: a killed attempt's temporary folder is handed to the body again (the body must
    check what it finds there itself, as the generation client does with its shard fingerprints).
    """
    folder = ctx.stage_dir(iteration, name) if name != "prepare" else ctx.data_dir
    digests = {key: input_digest(path) for key, path in inputs.items() if path.exists()}
    done = Manifest.read(folder) if is_complete(folder) else None
    if done is not None:
        changed = done.changed_settings(settings)
        if changed:
            details = "; ".join(f"{k}: {done.settings.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise StageInvalidated(
                f"stage '{name}' of iteration {iteration} ({folder}) was completed with other settings ({details}).\n"
                f"Restore them, or redo it and everything after it: rerun with "
                f"+resume.from_stage={name} +resume.from_iteration={iteration}")
        if done.inputs == digests:
            print(f"[iter {iteration}] {name}: done already ({folder}), skipped", flush=True)
            return folder
        print(f"[iter {iteration}] {name}: an input was redone since; running again", flush=True)
    if ctx.dry_run:
        body(folder.with_name(folder.name + ".tmp"))  # commands show the paths a real run would use
        return folder
    if keep_partial:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        discard(folder)
    print(f"[iter {iteration}] {name}: running", flush=True)
    started = time.time()
    with stage_output(folder, keep_partial) as tmp:
        counts = body(tmp)
        Manifest(stage=name, iteration=iteration, settings=settings, inputs=digests, counts=counts,
                 started_at=started, duration_s=round(time.time() - started, 2)).write(tmp)
    print(f"[iter {iteration}] {name}: finished in {time.time() - started:.1f}s", flush=True)
    return folder
