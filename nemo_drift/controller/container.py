"""Container flags of the srun steps (pyxis/enroot), derived from the run config.

Every folder a containerized stage reads or writes is mounted at its own path, so a path means the same
inside as on the host: the checkout (code, editable installs, vLLM cache), `run.root` (every stage's
inputs and outputs), the model and reference folders, the Hugging Face cache when the model is a hub id,
and an interpreter's venv kept outside the checkout. The home folder is not mounted
(`--no-container-mount-home`): a stage must not depend on what happens to be in it. `data.source` is
read by the prepare stage in the controller's own process, so it needs no mount.

Each image gets one named container per job (`--container-name`), so the steps of all iterations reuse
it instead of unpacking the image again. The pyxis/enroot facts behind this: docs/cluster.md,
"Containers: what the steps get, and why".
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Optional

from nemo_drift.config.paths import REPO_ROOT
from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.interpreter import under, venv_root

SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
"""Host variables that would point a container's Python at host folders; removed from containerized
steps (srun's --export=ALL passes the rest of the controller's environment)."""

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def hf_home() -> Path:
    """The Hugging Face cache folder (HF_HOME, default ~/.cache/huggingface)."""
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")


def is_hub_id(value: str) -> bool:
    """True for `org/name` that is not a folder here (a model to be found in the Hugging Face cache)."""
    return bool(_HUB_ID.match(value)) and not Path(value).exists()


def stage_paths(cfg: DriftConfig) -> dict[str, Path]:
    """Every host folder a containerized stage touches, keyed by the setting it comes from."""
    paths = {"the checkout": REPO_ROOT, "run.root": Path(cfg.run.root).resolve()}
    if cfg.model.hf_path:
        paths["model.hf_path"] = hf_home() if is_hub_id(cfg.model.hf_path) else Path(cfg.model.hf_path).resolve()
    if cfg.trainer.reference_path:
        paths["trainer.reference_path"] = Path(cfg.trainer.reference_path).resolve()
    for key, python in (("cluster.train_python", cfg.cluster.train_python),
                        ("generation.python", cfg.generation.python)):
        root = venv_root(Path(python))
        if root is not None and not under(root, [REPO_ROOT]):
            paths[key] = root
    return paths


def mount_problems(cfg: DriftConfig, paths: dict[str, Path]) -> list[str]:
    """A folder that is not on this host cannot be mounted: one message per such setting."""
    problems = []
    for key, path in paths.items():
        if path.exists():
            continue
        if key == "model.hf_path" and is_hub_id(cfg.model.hf_path):
            problems.append(f"model.hf_path: {cfg.model.hf_path} is a hub id, and the Hugging Face cache {path} "
                            "does not exist here to be mounted into the containers (steps have no network); "
                            "download the model to a shared folder and set model.hf_path to it, or set HF_HOME")
        else:
            problems.append(f"{key}: {path} does not exist on this host, so it cannot be mounted into the containers")
    return problems


def mounts(cfg: DriftConfig) -> list[str]:
    """`src:dst` mounts of both images: every stage folder at its own path (nested ones folded into their
    parent), then `cluster.container_mounts`."""
    folders: list[Path] = []
    for path in sorted(set(stage_paths(cfg).values()), key=lambda p: len(p.parts)):
        if not under(path, folders):
            folders.append(path)
    return [f"{p}:{p}" for p in folders] + [m for m in cfg.cluster.container_mounts.split(",") if m]


def mounted_folders(mount_list: list[str]) -> list[Path]:
    """The destinations of `src:dst[:flags]` mounts: what a container sees of the host."""
    return [Path(m.split(":")[1]) for m in mount_list]


def container_name(image: str, job_id: str) -> str:
    """One name per job and image: steps of the same image reuse one container."""
    return f"nemo-drift-{job_id}-{hashlib.sha1(image.encode()).hexdigest()[:8]}"


def container_flags(image: Optional[str], mount_list: list[str], job_id: str) -> list[str]:
    """pyxis flags of a step in `image` ([] for none)."""
    if not image:
        return []
    return [f"--container-image={image}", f"--container-name={container_name(image, job_id)}",
            f"--container-mounts={','.join(mount_list)}", f"--container-workdir={REPO_ROOT}",
            "--no-container-mount-home"]
