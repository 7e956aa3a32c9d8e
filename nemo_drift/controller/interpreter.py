"""Will a stage's interpreter start where the stage runs? Checked on the controller's host before
anything is launched, for `cluster.train_python` and `generation.python`.

A venv's `bin/python` is a symlink to the interpreter it was made from. Made on the host from pyenv,
it points into the home folder, which a container does not see (pyxis with --no-container-mount-home;
enroot's default): the step would die with exit 127 before Python starts. Made inside the image
(`make setup-container`), it points to the image's own interpreter, which the host cannot check, so the
venv's stamp (written by env/container_env.py) says which image it belongs to.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

STAMP = ".nemo-drift-stamp"
"""The file env/setup_env.sh leaves in every environment it builds."""


def venv_root(python: Path) -> Optional[Path]:
    """The venv folder of `<venv>/bin/python`, or None when `python` is not in a venv."""
    root = python.parent.parent
    return root if (root / "pyvenv.cfg").is_file() else None


def read_stamp(python: Path) -> dict[str, Any]:
    """What setup recorded about the environment of `python`: {"image": ...} for an environment built
    inside an image (JSON stamp), {"hash": ...} for a host one, {} when there is no stamp."""
    root = venv_root(python)
    path = root / STAMP if root else None
    if path is None or not path.is_file():
        return {}
    text = path.read_text().strip()
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return {"hash": text}
    return record if isinstance(record, dict) else {"hash": text}


def under(path: Path, roots: Sequence[Path]) -> bool:
    """True when `path` lies in one of `roots` (lexically, no symlinks followed)."""
    return any(path == root or root in path.parents for root in roots)


def _resolution(python: Path) -> tuple[Path, bool]:
    """(where the symlink chain of `python` ends, whether that exists here)."""
    real = Path(os.path.realpath(python))
    return real, os.access(real, os.X_OK) and real.is_file()


def interpreter_problem(key: str, python: str, image: Optional[str], mounts: Sequence[Path] = (),
                        image_key: str = "cluster.container_image", setup_hint: str = "") -> Optional[str]:
    """Why `python` (the value of setting `key`) will not start where its stage runs, or None.

    `image` is the container the stage runs in (None: the node's own environment, assumed to see the
    same shared filesystem as this host); `mounts` are the host folders mounted into it at the same path.
    """
    path = Path(python)
    hint = f"; {setup_hint}" if setup_hint else ""
    if not path.is_absolute():
        return f"{key}: {python} is not an absolute path (stages start in other folders and on other nodes)"
    stamp = read_stamp(path)
    built_in = stamp.get("image")
    if image is None:
        if built_in:
            return (f"{key}: {python} was built inside the image {built_in} and only starts there; set "
                    f"{image_key}={built_in} or point {key} at an environment of the nodes")
        real, ok = _resolution(path)
        if not os.path.lexists(path):
            return f"{key}: {python} does not exist{hint}"
        if not ok:
            return f"{key}: {python} resolves to {real}, which does not exist here (a venv made elsewhere?){hint}"
        return None
    if not under(path, mounts):
        return None  # an interpreter of the image itself (e.g. /usr/bin/python): the probe step checks it
    if built_in:
        if built_in != image:
            return (f"{key}: {python} was built inside the image {built_in}, but the stage runs in {image} "
                    f"({image_key}); build it in that image (make setup-container IMAGE={image})")
        return None
    real, ok = _resolution(path)
    if not under(real, mounts):
        return (f"{key}: {python} is a host environment whose interpreter resolves to {real}, which is not "
                f"mounted into the container {image} (home and tool folders are not: --no-container-mount-home); "
                f"build the environment inside the image: make setup-container IMAGE={image}")
    if not ok:
        return f"{key}: {python} resolves to {real}, which does not exist{hint}"
    return None
