"""How much of an RMSprop step survives in bf16 weights at DRIFT's learning rate (5e-7)?

    .venv/train/bin/python bench/bf16_lost_updates.py [--model .cache/models/smollm2-135m-instruct] [--lr 5e-7]

The HF + TRL-style peer in bench_dpo_step.py (like TRL with a model loaded in bf16) steps RMSprop on
bf16 weights; nemo-drift keeps fp32 main weights (megatron's mixed precision). This takes the real
weights of a model, applies one steady-state RMSprop update (|update| = lr * |g| / sqrt(E[g^2]), with
g ~ N(0, 1) per element: the update's typical size is lr) once in fp32 and once rounded into bf16,
and reports the fraction of elements whose bf16 weight did not change at all.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / ".cache/models/smollm2-135m-instruct")
    parser.add_argument("--lr", type=float, nargs="+", default=[5e-7, 5e-6, 5e-5])
    args = parser.parse_args()
    weights = {}
    for f in sorted(args.model.glob("*.safetensors")):
        weights.update(load_file(f))
    g = torch.Generator().manual_seed(0)
    print(f"{args.model.name}: {sum(w.numel() for w in weights.values()) / 1e6:.1f}M weights")
    for lr in args.lr:
        lost = total = 0
        for w in weights.values():
            w32 = w.float()
            update = lr * torch.randn(w32.shape, generator=g)  # g / sqrt(E[g^2]) ~ N(0, 1)
            w16 = w32.to(torch.bfloat16)
            stepped = (w16.float() - update).to(torch.bfloat16)
            lost += int((stepped == w16).sum())
            total += w.numel()
        print(f"lr {lr:.0e}: {100 * lost / total:.1f}% of bf16 weights unchanged by the step "
              f"(fp32 main weights keep every update)")


if __name__ == "__main__":
    main()
