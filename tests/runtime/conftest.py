"""Runtime tests: helpers for running a snippet in a fresh interpreter (patches are per process)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_fresh():
    """Run python `code` in a fresh interpreter (repo on sys.path); return stdout, fail with stderr."""

    def run(code: str, timeout: float = 300) -> str:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        return proc.stdout

    return run
