"""Fixtures for the generation tests: the session's exported SmolLM2 folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.generation.smollm2_export import smollm2_roundtrip


@pytest.fixture(scope="session")
def exported_smollm2(tmp_path_factory, smollm2_path) -> dict[str, Path]:
    """{"hf": exported HF folder, "perturbed": export of a 0.9x-scaled checkpoint, "ckpt": checkpoint}."""
    return smollm2_roundtrip(tmp_path_factory.getbasetemp(), smollm2_path)
