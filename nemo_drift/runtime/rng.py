"""Seeding: megatron's model-parallel RNG tracker on GPU, a CPU-generator tracker on CPU.

Megatron draws dropout inside tensor-parallel regions from a separate RNG stream ("model-parallel-rng")
so TP ranks drop different elements while data-parallel replicas stay in step. On GPU that is
`tensor_parallel.model_parallel_cuda_manual_seed`. On CPU that function calls torch.cuda.get_rng_state
(megatron-core 0.19.2 tensor_parallel/random.py:303) and fails; skipping it breaks dropout and
recompute inside TP regions ("cuda rng state model-parallel-rng is not added"). As measured in
docs/megatron-on-cpu.md ("RNG"), a CudaRNGStatesTracker subclass forking
the CPU generator, installed in place of the CUDA one, works: that is `CpuRNGStatesTracker`.
"""
from __future__ import annotations

import contextlib
import random
from typing import Iterator

import numpy as np
import torch
from megatron.core import parallel_state
from megatron.core.tensor_parallel import random as mrandom

# Same offsets as tensor_parallel/random.py:446 model_parallel_cuda_manual_seed.
_TP_OFFSET = 2718
_EP_OFFSET = 1024


class CpuRNGStatesTracker(mrandom.CudaRNGStatesTracker):
    """CudaRNGStatesTracker whose named states are CPU-generator states."""

    def add(self, name: str, seed: int) -> None:
        """Track a new CPU RNG state seeded with `seed` under `name` (seeds and names are unique)."""
        self._is_initialized = True
        if seed in self.seeds_:
            raise Exception(f"seed {seed} already exists")
        if name in self.states_:
            raise Exception(f"rng state {name} already exists")
        self.seeds_.add(seed)
        original = torch.get_rng_state()
        torch.manual_seed(seed)
        self.states_[name] = torch.get_rng_state()
        torch.set_rng_state(original)

    @contextlib.contextmanager
    def fork(self, name: str = mrandom._MODEL_PARALLEL_RNG_TRACKER_NAME) -> Iterator[None]:
        """Run the body with the CPU generator set to state `name`, then restore the caller's state."""
        if name not in self.states_:
            raise Exception(f"rng state {name} is not added")
        original = torch.get_rng_state()
        outer_name = self._current_state_name
        torch.set_rng_state(self.states_[name])
        self._current_state_name = name
        try:
            yield
        finally:
            self.states_[name] = torch.get_rng_state()
            self._current_state_name = outer_name
            torch.set_rng_state(original)


def install_cpu_rng_tracker(seed: int, tp_rank: int, ep_rank: int = 0, etp_rank: int = 0) -> CpuRNGStatesTracker:
    """CPU counterpart of model_parallel_cuda_manual_seed: same stream names and seed offsets."""
    tracker = CpuRNGStatesTracker()
    tracker.add(mrandom._DATA_PARALLEL_RNG_TRACKER_NAME, seed)
    tracker.add(mrandom._MODEL_PARALLEL_RNG_TRACKER_NAME, seed + _TP_OFFSET + tp_rank)
    tracker.add(mrandom._EXPERT_PARALLEL_RNG_TRACKER_NAME, seed + _EP_OFFSET + 100 * ep_rank + etp_rank)
    mrandom._CUDA_RNG_STATE_TRACKER = tracker
    mrandom._CUDA_RNG_STATE_TRACKER_INITIALIZED = True
    return tracker


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, and megatron's model-parallel tracker (needs parallel state).

    Pipeline stages get different default seeds (like Megatron-LM's `_set_random_seed`) so that the
    layers they initialise differ; the tracker streams follow megatron's own offsets.
    """
    seed = seed + 100 * parallel_state.get_pipeline_model_parallel_rank()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        mrandom.model_parallel_cuda_manual_seed(seed)
    else:
        install_cpu_rng_tracker(seed, parallel_state.get_tensor_model_parallel_rank(),
                                parallel_state.get_expert_model_parallel_rank(),
                                parallel_state.get_expert_tensor_parallel_rank())
