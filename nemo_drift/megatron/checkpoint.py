"""Save/load the Megatron model (+ optimizer, + extra state) as a megatron-core distributed checkpoint.

A dist_checkpointing checkpoint stores each tensor as a global array plus how each rank's shard maps
into it, so a checkpoint written at TP=2 loads at TP=1 or PP=2 (measured in
docs/megatron-on-cpu.md, "Measured equivalences"). Layout of a checkpoint folder:

    <dir>/                 megatron dist_checkpointing files (model.* / optimizer.* / extra in common.pt)
    <dir>/rng/rank<r>.pt   this rank's RNG states, restored only when the parallel layout is unchanged

Saving is synchronous: the async writer calls torch.cuda.synchronize
(dist_checkpointing/strategies/filesystem_async.py:248) and its worker process HANGS the parent when
psutil is missing (docs/megatron-on-cpu.md, "Versions and installs"). Scripts that save need an
`if __name__ == "__main__":` guard (dist_checkpointing starts a multiprocessing Manager).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from megatron.core import dist_checkpointing
from megatron.core import parallel_state as ps
from megatron.core.dist_checkpointing.serialization import get_default_save_sharded_strategy
from megatron.core.tensor_parallel import get_cuda_rng_tracker

from nemo_drift.megatron.optimizer import checkpoint_metadata

EXTRA_KEY = "nemo_drift_extra"


def _model_key(index: int, n_chunks: int) -> str:
    return "model" if n_chunks == 1 else f"model{index}"  # Megatron-LM's naming (VPP: model0, model1, ...)


def _layout() -> list[int]:
    return [ps.get_tensor_model_parallel_world_size(), ps.get_pipeline_model_parallel_world_size(),
            ps.get_context_parallel_world_size(), dist.get_world_size()]


def _sharded_state_dict(model_chunks: list[torch.nn.Module], optimizer: Any, extra: dict | None) -> dict:
    state: dict[str, Any] = {}
    for i, chunk in enumerate(model_chunks):
        state[_model_key(i, len(model_chunks))] = chunk.sharded_state_dict()
    if optimizer is not None:
        if not hasattr(optimizer, "sharded_state_dict"):
            raise TypeError("optimizer must be a megatron optimizer (get_megatron_optimizer) with sharded_state_dict")
        model_state = {k: v for k, v in state.items() if k.startswith("model")}
        merged = {}
        for sub in model_state.values():
            merged.update(sub)
        state["optimizer"] = optimizer.sharded_state_dict(merged, is_loading=False,
                                                          metadata=checkpoint_metadata(optimizer))
    state[EXTRA_KEY] = {"extra": dict(extra or {}), "layout": _layout()}  # "common" state, written by rank 0
    return state


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            "tracker": get_cuda_rng_tracker().get_states()}


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    get_cuda_rng_tracker().set_states(state["tracker"])


def save_checkpoint(path: str | Path, model_chunks: list[torch.nn.Module], optimizer: Any = None,
                    extra: dict | None = None, save_rng: bool = True) -> Path:
    """Collectively write model chunks (+ megatron optimizer, + picklable `extra`, e.g. step and data
    position) to the empty or missing folder `path`. Every rank must call it."""
    path = Path(path)
    if dist.get_rank() == 0:
        path.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    state = _sharded_state_dict(model_chunks, optimizer, extra)
    strategy = get_default_save_sharded_strategy("torch_dist")  # synchronous: async_sharded_save=False
    dist_checkpointing.save(state, str(path), sharded_strategy=strategy, async_sharded_save=False)
    if save_rng:
        (path / "rng").mkdir(exist_ok=True)
        torch.save(_rng_state(), path / "rng" / f"rank{dist.get_rank()}.pt")
    dist.barrier()
    return path


def load_checkpoint(path: str | Path, model_chunks: list[torch.nn.Module], optimizer: Any = None,
                    load_rng: bool = True, strict: bool = True) -> dict:
    """Load a save_checkpoint folder into `model_chunks` (any TP/PP layout) and `optimizer`.

    Returns the `extra` dict that was saved. RNG states come back only when the parallel layout
    (TP, PP, CP, world size) equals the saving one; otherwise the current seeds stay.
    """
    path = Path(path)
    if not (path / "metadata.json").exists():
        raise FileNotFoundError(f"{path} is not a megatron distributed checkpoint (no metadata.json)")
    state = _sharded_state_dict(model_chunks, None, None)  # the optimizer's part is built for loading below
    if optimizer is not None:
        state["optimizer"] = optimizer.sharded_state_dict(
            {k: v for key, sub in state.items() if key.startswith("model") for k, v in sub.items()},
            is_loading=True, metadata=checkpoint_metadata(optimizer))
    loaded = dist_checkpointing.load(state, str(path))  # missing keys surface in load_state_dict(strict=...)
    for i, chunk in enumerate(model_chunks):
        chunk.load_state_dict(loaded[_model_key(i, len(model_chunks))], strict=strict)
    if optimizer is not None:
        optimizer.load_state_dict(loaded["optimizer"])
    saved = loaded[EXTRA_KEY]
    rng_file = path / "rng" / f"rank{dist.get_rank()}.pt"
    if load_rng and saved["layout"] == _layout() and rng_file.exists():
        _set_rng_state(torch.load(rng_file, weights_only=False))
    return saved["extra"]
