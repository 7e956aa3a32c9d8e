"""The `run` config group: where a run lives and how it resumes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from nemo_drift.config.declare import STAGES, setting


@dataclass
class ResumeConfig:
    """How a rerun of the same command treats stages that already completed."""

    from_stage: Optional[str] = setting(None, invalidates=())
    """Redo everything from this stage on (in the earliest iteration it appears); earlier completed
    stages are kept. Needed after changing a setting that invalidates a completed stage."""
    from_iteration: Optional[int] = setting(None, invalidates=())
    """With `from_stage`: the iteration to redo from (default: the first that has that stage)."""

    def validate(self) -> list[str]:
        """One message per bad setting, each naming its key."""
        if self.from_stage is not None and self.from_stage not in STAGES:
            return [f"resume.from_stage: {self.from_stage!r} is not one of {', '.join(STAGES)}"]
        return []


@dataclass
class RunConfig:
    """Identity and location of a run (`run.*`)."""

    name: str = setting("drift_smollm2", invalidates=())
    """Run folder name under `root`; rerunning with the same name resumes."""
    root: str = setting("runs", invalidates=())
    """Folder that holds run folders (relative to the working directory)."""
    dry_run: bool = setting(False, invalidates=())
    """Print the exact command of every stage (launcher lines, environment, ranks) and run nothing."""

    def validate(self) -> list[str]:
        """One message per bad setting, each naming its key."""
        problems = []
        if not self.name or "/" in self.name:
            problems.append(f"run.name: {self.name!r} must be a non-empty folder name without '/'")
        return problems
