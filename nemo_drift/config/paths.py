"""Where the checkout and the environments `make setup` builds live (the defaults of the interpreter
settings, and the `${repo:...}` resolver)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this package runs from (an editable install)."""


def venv_python(name: str) -> Path:
    """The interpreter of the environment `.venv/<name>` (train, gen, train-container, gen-gpu)."""
    return REPO_ROOT / ".venv" / name / "bin" / "python"
