"""Fixtures for the data tests: real offline tokenizers and the shipped samples."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nemo_drift.data.rows import SAMPLES_DIR


@pytest.fixture(scope="session")
def smollm2_tok(smollm2_path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.fixture(scope="session")
def qwen_tok(tiny_qwen_path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen_path)


@pytest.fixture(params=["smollm2", "qwen"])
def any_tok(request, smollm2_tok, qwen_tok) -> Any:
    """Each real tokenizer in turn (ChatML with and without a default system prompt)."""
    return smollm2_tok if request.param == "smollm2" else qwen_tok


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES_DIR

