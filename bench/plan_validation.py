"""Check the planner's memory formula against a real DPO step of this project's Megatron trainer on CPU.

    .venv/train/bin/python bench/plan_validation.py .cache/models/tiny-qwen2 --seq 256 --pairs 1
    .venv/train/bin/python bench/plan_validation.py .cache/models/smollm2-135m-instruct --seq 512

One process, one rank (gloo), fp32 (CPU), megatron DDP + megatron optimizer (RMSprop), precomputed
reference log-probs. It measures:
  static   exact bytes of parameters + main_grad buffers + optimizer state tensors after step 1
           (vs the planner's weights + grads + optimizer);
  dynamic  peak RSS during step 2 minus RSS just before it (VmHWM of /proc/self/status, reset with
           `clear_refs` = 5 before the step), vs the planner's activations + logits.
Prints one JSON line. Only the CPU side is measured here; GPU figures are in docs/cluster.md.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def measure(model_path: str, seq: int, pairs_per_micro: int) -> dict:
    """Build, two DPO steps, exact static bytes and the step-2 RSS peak delta."""
    import torch

    from nemo_drift.config.model import ModelConfig
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.megatron.model import build_model
    from nemo_drift.megatron.optimizer import build_optimizer, wrap_ddp
    from nemo_drift.data.records import TokenizedPair
    from nemo_drift.megatron.reference import compute_reference_logps
    from nemo_drift.megatron.trainer import make_microbatch, train_step, wire_megatron_config
    from nemo_drift.runtime.distributed import init_distributed

    torch.set_num_threads(1)
    init_distributed(1, 1, 1, seed=7)
    cfg = TrainerConfig(lr=1e-6, warmup_ratio=0.0, global_batch_size=pairs_per_micro, micro_batch_size=pairs_per_micro,
                        wandb_mode="disabled", clip_grad=1.0)
    model_cfg = ModelConfig(hf_path=model_path, seq_length=seq, precision="fp32")
    chunks = wrap_ddp(build_model(model_path, model_cfg, for_training=True).chunks)
    optimizer = build_optimizer(chunks, cfg)
    wire_megatron_config(chunks, optimizer)
    rng = random.Random(0)
    half = seq // 2
    pairs = [TokenizedPair(f"p{i}", [rng.randrange(10, 5000) for _ in range(half)],
                           [rng.randrange(10, 5000) for _ in range(seq - half)],
                           [rng.randrange(10, 5000) for _ in range(seq - half)]) for i in range(pairs_per_micro)]
    ref = compute_reference_logps(chunks, [make_microbatch(pairs, 0, seq)])
    batch = [make_microbatch(pairs, 0, seq, ref)]
    train_step(chunks, optimizer, batch, cfg)  # step 1 allocates the optimizer state
    params = sum(p.numel() * p.element_size() for c in chunks for p in c.parameters())
    grads = sum(getattr(p, "main_grad").numel() * 4 for c in chunks for p in c.parameters()
                if getattr(p, "main_grad", None) is not None)
    inner = getattr(optimizer, "optimizer", optimizer)
    opt_state = sum(t.numel() * t.element_size() for s in inner.state.values() for t in s.values()
                    if torch.is_tensor(t) and t.dim() > 0)
    batch = [make_microbatch(pairs, 0, seq, ref)]
    _reset_hwm()
    before = _status_kib("VmRSS")
    train_step(chunks, optimizer, batch, cfg)
    peak = _status_kib("VmHWM")
    return {"model": model_path, "seq": seq, "pairs": pairs_per_micro, "params_bytes": params, "grad_bytes": grads,
            "optimizer_bytes": opt_state, "step_peak_delta_bytes": (peak - before) * 1024,
            "n_params": sum(p.numel() for c in chunks for p in c.parameters())}


def planned(model_path: str, seq: int, pairs: int) -> dict:
    """The planner's figures for the same run (fp32, TP1 PP1 DP1, non-distributed optimizer)."""
    from nemo_drift.config.architecture import ArchitectureConfig
    from nemo_drift.planner.memory import TrainLayout, train_memory

    arch = ArchitectureConfig.from_hf_config(json.loads((Path(model_path) / "config.json").read_text()))
    mem = train_memory(arch, TrainLayout(tp=1, pp=1, dp=1, dtype_bytes=4, micro_batch_pairs=pairs, seq_length=seq,
                                         num_microbatches=1))
    return {"weights": mem.weights, "grads": mem.grads, "optimizer": mem.optimizer,
            "dynamic": mem.activations + mem.logits, "n_params": arch.num_params()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=1)
    args = parser.parse_args()
    got, plan = measure(args.model, args.seq, args.pairs), planned(args.model, args.seq, args.pairs)
    static_measured = got["params_bytes"] + got["grad_bytes"] + got["optimizer_bytes"]
    static_planned = plan["weights"] + plan["grads"] + plan["optimizer"]
    print(json.dumps({**got, "planned": plan,
                      "static_error": static_planned / static_measured - 1,
                      "dynamic_error": plan["dynamic"] / got["step_peak_delta_bytes"] - 1}))


if __name__ == "__main__":
    main()
