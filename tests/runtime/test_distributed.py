"""init_distributed at world size 1 (in process) and under torchrun with 2 gloo processes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.distributed import run_torchrun

WORKER = Path(__file__).resolve().parents[1] / "megatron" / "workers" / "parallel_state_worker.py"


def test_world_size_one():
    from megatron.core import parallel_state as ps

    from nemo_drift.runtime import init_distributed

    env = init_distributed(seed=7)
    assert (env.rank, env.world_size, env.tp_size, env.pp_size, env.dp_size) == (0, 1, 1, 1, 1)
    assert env.backend == "gloo" and env.device == torch.device("cpu")
    assert env.is_first_stage and env.is_last_stage
    assert ps.model_parallel_is_initialized()
    with pytest.raises(ValueError, match="tensor_model_parallel_size"):
        init_distributed(tensor_parallel=2)


def test_seeding_is_reproducible_and_tracker_is_cpu():
    from megatron.core.tensor_parallel import get_cuda_rng_tracker

    from nemo_drift.runtime import init_distributed
    from nemo_drift.runtime.rng import CpuRNGStatesTracker

    draws = []
    for _ in range(2):
        init_distributed(seed=11)
        with get_cuda_rng_tracker().fork():
            inside = torch.rand(3)
        draws.append((inside, torch.rand(3)))
    assert isinstance(get_cuda_rng_tracker(), CpuRNGStatesTracker)
    assert torch.equal(draws[0][0], draws[1][0]) and torch.equal(draws[0][1], draws[1][1])
    assert not torch.equal(draws[0][0], draws[0][1])  # the model-parallel stream is a different stream


@pytest.mark.slow
def test_torchrun_two_processes_tp2_then_pp2(tmp_path):
    reports = run_torchrun(WORKER, 2, [], tmp_path)
    assert len(reports) == 2
    for rank, rep in enumerate(reports):
        tp, pp = rep["tp2_pp1"], rep["tp1_pp2"]
        assert tp["world"] == 2 and tp["backend"] == "gloo" and tp["device"] == "cpu"
        assert (tp["tp_rank"], tp["pp_rank"], tp["dp_size"]) == (rank, 0, 1)
        assert tp["sums"] == {"tp": 3.0, "pp": float(rank + 1), "dp": float(rank + 1)}
        assert (pp["tp_rank"], pp["pp_rank"]) == (0, rank) and pp["last_stage"] == (rank == 1)
        assert pp["sums"] == {"tp": float(rank + 1), "pp": 3.0, "dp": float(rank + 1)}
        assert tp["all_grads_finite"]
    assert reports[0]["tp2_pp1"]["loss"] == reports[1]["tp2_pp1"]["loss"]  # TP ranks compute one loss
