"""GPU check (not collected by pytest; needs CUDA, run by bench/gpu_session.sh from the repo root):

    python tests/megatron/workers/gpu_resume_distopt.py OUT_DIR

Megatron's DISTRIBUTED optimizer (GPU only: it refuses CPU tensors) with our RMSprop, bf16 weights:
4 uninterrupted DPO steps vs 2 steps + checkpoint + a fresh model/optimizer loading it + steps 3-4.
Prints one JSON line: both loss curves, the max |difference| of steps 3-4, the optimizer class and its
state keys. Exit status 1 when the resumed steps differ (> 1e-6) or the state is not RMSprop's.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, "tests/megatron/workers")


def build(seed: int):
    from tiny_gpt import tiny_config, tiny_gpt

    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.megatron.optimizer import build_optimizer, wrap_ddp
    from nemo_drift.megatron.trainer import wire_megatron_config

    torch.manual_seed(seed)
    gpu = torch.cuda.is_available()  # on CPU (a smoke run of this script): fp32, non-distributed optimizer
    dtype = torch.bfloat16 if gpu else torch.float32
    config = tiny_config(use_cpu_initialization=not gpu, params_dtype=dtype, pipeline_dtype=dtype, bf16=gpu)
    cfg = TrainerConfig(micro_batch_size=2, global_batch_size=2, lr=1e-3, optimizer="rmsprop", clip_grad=1.0,
                        wandb_mode="disabled", use_distributed_optimizer="auto")
    model = tiny_gpt(config).to("cuda" if gpu else "cpu")
    if gpu:  # as a run builds it: Float16Module makes every parameter (norms too) bf16
        from megatron.core.transformer.module import Float16Module

        model = Float16Module(config, model)
    chunks = wrap_ddp([model], cfg)
    optimizer = build_optimizer(chunks, cfg)
    wire_megatron_config(chunks, optimizer)
    return chunks, optimizer, cfg


def batches(chunks):
    from nemo_drift.data.records import TokenizedPair
    from nemo_drift.megatron.reference import compute_reference_logps
    from nemo_drift.megatron.trainer import make_microbatch
    from tiny_gpt import VOCAB

    rng = random.Random(0)
    pairs = [TokenizedPair(f"p{i}", [rng.randrange(VOCAB) for _ in range(12)],
                           [rng.randrange(VOCAB) for _ in range(20)], [rng.randrange(VOCAB) for _ in range(20)])
             for i in range(2)]
    ref = compute_reference_logps(chunks, [make_microbatch(pairs, 0, 32)])
    return lambda: [make_microbatch(pairs, 0, 32, ref)]


def main() -> None:
    from nemo_drift.megatron.checkpoint import load_checkpoint, save_checkpoint
    from nemo_drift.megatron.optimizer import prepare_for_load
    from nemo_drift.megatron.trainer import train_step, unwrap
    from nemo_drift.runtime import init_distributed

    out = Path(sys.argv[1])
    init_distributed(seed=5)
    chunks, optimizer, cfg = build(0)
    micro = batches(chunks)
    straight = [train_step(chunks, optimizer, micro(), cfg)["loss"] for _ in range(4)]

    chunks, optimizer, cfg = build(0)
    micro = batches(chunks)
    resumed = [train_step(chunks, optimizer, micro(), cfg)["loss"] for _ in range(2)]
    save_checkpoint(out / "ckpt", unwrap(chunks), optimizer, extra={"step": 2})
    chunks, optimizer, cfg = build(1)  # different initial weights: everything must come from the checkpoint
    prepare_for_load(optimizer)
    load_checkpoint(out / "ckpt", unwrap(chunks), optimizer)
    resumed += [train_step(chunks, optimizer, micro(), cfg)["loss"] for _ in range(2)]

    inner = optimizer.chained_optimizers if hasattr(optimizer, "chained_optimizers") else [optimizer]
    keys = sorted({k for w in inner for s in w.optimizer.state.values() for k in s})
    diff = max(abs(a - b) for a, b in zip(straight[2:], resumed[2:]))
    report = {"straight": straight, "resumed": resumed, "max_abs_diff_steps_3_4": diff,
              "optimizer": [type(w).__name__ for w in inner], "state_keys": keys}
    print(json.dumps(report))
    distributed = all("RMSprop" in n for n in report["optimizer"])  # our DistributedOptimizer subclass
    ok = diff <= 1e-6 and keys == ["exp_avg_sq", "step"] and (distributed or not torch.cuda.is_available())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
