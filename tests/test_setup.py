"""The setup path a new user (and CI) takes: environments are cached, missing Python is explained,
and a fresh clone reaches a working `nemo-drift` through the Makefile."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def _identity(path: Path) -> tuple[int, int]:
    """(inode, mtime): a file that was rewritten or recreated gets a different one."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def test_second_setup_is_cached():
    """A setup with unchanged pins reinstalls nothing: it says so, and the environment's stamp and
    interpreter config are the very files it had before (the time it takes: bench/bench_setup.sh)."""
    venv = Path(os.environ.get("NEMO_DRIFT_VENV_ROOT", REPO / ".venv")) / "train"
    marks = [venv / ".nemo-drift-stamp", venv / "pyvenv.cfg"]
    before = [_identity(p) for p in marks]
    proc = _run(["env/setup_env.sh", "train"], REPO)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout and "creating" not in proc.stdout
    assert [_identity(p) for p in marks] == before


def test_missing_python_312_is_named(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYENV_ROOT": str(tmp_path / "no-pyenv"),
           "NEMO_DRIFT_VENV_ROOT": str(tmp_path / "venvs"), "HOME": str(tmp_path)}
    proc = _run(["bash", "env/setup_env.sh", "train"], REPO, env)
    assert proc.returncode == 1
    assert "needs Python 3.12" in proc.stderr
    assert not (tmp_path / "venvs" / "train").exists()


def test_unknown_environment_is_refused():
    proc = _run(["bash", "env/setup_env.sh", "bogus"], REPO)
    assert proc.returncode == 2
    assert "unknown environment 'bogus'" in proc.stderr


@pytest.mark.slow
def test_fresh_clone_sets_up_through_make(tmp_path):
    """What CI does: clone, then `make setup` (here reusing the cached environments and assets)."""
    # The clone reuses this checkout's environments; were its setup inputs to differ from the
    # committed ones, `make setup` in the clone would rebuild them from the clone (and point their
    # editable install at it). Refuse instead of touching a developer's environments.
    dirty = _run(["git", "status", "--porcelain", "--", "env", "setup.py", "Makefile"], REPO).stdout.strip()
    assert not dirty, f"commit the setup inputs first; this test would rebuild .venv from a clone:\n{dirty}"
    clone = tmp_path / "clone"
    assert _run(["git", "clone", "-q", str(REPO), str(clone)], tmp_path).returncode == 0
    # Only committed files travel: the clone must carry everything setup needs.
    for rel in ("Makefile", "env/setup_env.sh", "env/train.txt", "env/gen-cpu.txt", "tools/make_assets.py",
                "setup.py", "conf/drift.yaml", ".ci/run"):
        assert (clone / rel).exists(), f"{rel} is not committed"
    proc = _run(["make", "setup", f"VENV={REPO / '.venv'}", f"CACHE={REPO / '.cache'}"], clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("up to date") == 2
    assert "[assets] ready" in proc.stdout
    help_out = _run([str(REPO / ".venv/train/bin/nemo-drift"), "--help"], clone)
    assert help_out.returncode == 0 and "prepare" in help_out.stdout
