"""Fixtures for in-process megatron tests: a single-rank gloo parallel state (world size 1)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

WORKERS = Path(__file__).resolve().parent / "workers"
sys.path.insert(0, str(WORKERS))  # tiny_gpt / common helpers for in-process tests


@pytest.fixture(scope="session")
def dist_env():
    """init_distributed() at TP=PP=1 in this process (reused by every in-process megatron test)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from nemo_drift.runtime import init_distributed

    return init_distributed(tensor_parallel=1, pipeline_parallel=1, seed=1234)


@pytest.fixture(scope="session")
def parallel_reports(tiny_qwen_path, tmp_path_factory):
    """One torchrun run (2 gloo processes) over tiny-qwen2: log-probs at TP1 (x DP2), TP2, PP2; then a
    checkpoint saved at TP2 (perturbed weights) and loaded into randomly initialised TP1 and PP2 models.
    Shared by the TP/PP equivalence and checkpoint tests (one launch: ~1 min on 2 cores)."""
    from tests.distributed import run_torchrun

    tmp = tmp_path_factory.mktemp("parallel")
    layouts = ["1,1", "2,1", "save:2,1", "1,2", "load:1,1", "load:1,2"]
    return run_torchrun(WORKERS / "equivalence_worker.py", 2, [str(tiny_qwen_path), str(tmp / "ckpt"), *layouts], tmp)
