"""Will a stage's interpreter start where the stage runs? The check the controller makes before launch
(nemo_drift/controller/interpreter.py), on real symlinked venvs: one whose target is hidden for real in a
private mount namespace, host venvs in and out of a container's mounts, and venvs built inside an image."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_drift.controller.interpreter import interpreter_problem

IMAGE = "nvcr.io#nvidia/pytorch:25.09-py3"


def make_venv(root: Path, target: Path, stamp: dict | None = None) -> Path:
    """A venv-shaped folder whose bin/python is a symlink to `target` (as `python -m venv` makes it)."""
    (root / "bin").mkdir(parents=True)
    (root / "pyvenv.cfg").write_text(f"home = {target.parent}\n")
    (root / "bin" / "python").symlink_to(target)
    if stamp is not None:
        (root / ".nemo-drift-stamp").write_text(json.dumps(stamp))
    return root / "bin" / "python"


@pytest.fixture
def hidden_python(tmp_path: Path) -> dict[str, Path]:
    """A venv whose interpreter lives in `tools/` (standing in for ~/.pyenv), reached through a symlink."""
    tools = tmp_path / "tools"
    tools.mkdir()
    shutil.copy2(os.path.realpath(sys.executable), tools / "python3.12")
    return {"tools": tools, "python": make_venv(tmp_path / "venv", tools / "python3.12")}


def test_interpreter_whose_target_is_hidden_is_refused_naming_the_setting(hidden_python, tmp_path):
    python = hidden_python["python"]
    assert interpreter_problem("cluster.train_python", str(python), None) is None  # visible: fine
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.fail("this test hides a folder with `unshare --mount` + tmpfs, which needs root and util-linux")
    run_root = tmp_path / "runs"
    script = (f"mount -t tmpfs none {hidden_python['tools']} && cd / && {sys.executable} -m nemo_drift.cli run "
              f"--dry-run run.root={run_root} cluster.train_python={python}")
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (f"cluster.train_python: {python} resolves to {hidden_python['tools'] / 'python3.12'}, which does not "
            "exist here") in proc.stderr
    assert "[dry-run]" not in proc.stdout  # refused before any stage, even a printed one


def test_host_venv_in_a_container_needs_its_interpreter_mounted(hidden_python, tmp_path):
    python = str(hidden_python["python"])
    outside = interpreter_problem("cluster.train_python", python, IMAGE, [tmp_path / "venv"])
    assert outside and "is not mounted into the container" in outside and "make setup-container" in outside
    assert interpreter_problem("cluster.train_python", python, IMAGE, [tmp_path]) is None  # tools/ mounted too


def test_venv_built_in_an_image_starts_only_in_that_image(tmp_path):
    python = str(make_venv(tmp_path / "train-container", Path("/usr/bin/python3.12"), {"image": IMAGE}))
    assert interpreter_problem("cluster.train_python", python, IMAGE, [tmp_path]) is None
    other = interpreter_problem("cluster.train_python", python, "nvcr.io#nvidia/pytorch:26.06-py3", [tmp_path])
    assert other and f"was built inside the image {IMAGE}" in other
    bare = interpreter_problem("cluster.train_python", python, None)
    assert bare and f"set cluster.container_image={IMAGE}" in bare


def test_image_interpreters_and_bad_paths():
    assert interpreter_problem("generation.python", "/usr/bin/python3", IMAGE, [Path("/lustre")]) is None
    missing = interpreter_problem("generation.python", "/nope/bin/python", None, setup_hint="run `make setup-gen`")
    assert missing == "generation.python: /nope/bin/python does not exist; run `make setup-gen`"
    relative = interpreter_problem("generation.python", ".venv/gen/bin/python", None)
    assert relative and "not an absolute path" in relative
