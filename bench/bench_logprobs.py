"""The log-prob head of a DPO step: output layer + per-token log-probs + backward, four ways.

    .venv/train/bin/python bench/bench_logprobs.py                  # CPU: Qwen2.5 vocabulary, 4 x 512 tokens, fp32
    python bench/bench_logprobs.py --tokens 2048 --dtype bf16       # GPU: the 1.5B DPO step's head (4 x 2048)

Each variant runs in its own fresh process (so peak memory is its own), on the same random hidden
states [S, B, H], output weight [V, H] and labels:

- `ours`: nemo-drift's path: logits [S, B, V] from the output layer, `token_logprobs` (chunked
  autograd Function, saves only the log-sum-exp, hand-written chunked backward).
- `before`: what nemo-drift did until 2026-11-26: GPTModel's [S,B,V] -> [B,S,V] copy, then per-chunk
  fp32 log-softmax through megatron's vocab_parallel_cross_entropy under activation checkpointing.
- `megatron_labels`: GPTModel's own labels path: vocab_parallel_cross_entropy on the whole [S, B, V]
  (one fp32 copy of all logits, kept as the softmax for backward).
- `peer_trl`: what TRL does for bf16 logits: [B, S, V] logits, log-softmax one row at a time, gather.

Reports seconds per forward+backward and peak memory growth (GPU: allocated bytes; CPU: peak RSS
growth over the process's RSS after the inputs exist) and the ratios to `ours`.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from report import emit, run_fresh

VARIANTS = ("ours", "before", "megatron_labels", "peer_trl")


def _peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _before_logprobs(logits_sbv: torch.Tensor, labels_bs: torch.Tensor) -> torch.Tensor:
    """The pre-2026-11-26 path, kept here only to measure against."""
    from megatron.core import tensor_parallel
    from torch.utils.checkpoint import checkpoint

    def chunk_logps(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits32 = torch.empty(logits.shape, dtype=torch.float32, device=logits.device).copy_(logits)
        return -tensor_parallel.vocab_parallel_cross_entropy(logits32, labels)

    logits = logits_sbv.transpose(0, 1).contiguous()  # GPTModel without labels: [B, S, V]
    b, s, v = logits.shape
    step = max(1, (1 << 26) // (b * v))
    pieces = [checkpoint(chunk_logps, logits[:, i:i + step], labels_bs[:, i:i + step], use_reentrant=False)
              for i in range(0, s, step)]
    return torch.cat(pieces, dim=1)


def _one(variant: str, tokens: int, rows: int, hidden: int, vocab: int, dtype: torch.dtype, steps: int) -> dict:
    from nemo_drift.runtime import init_distributed

    init_distributed(1, 1, 1, seed=0)
    from megatron.core import tensor_parallel

    from nemo_drift.megatron.logprobs import token_logprobs

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(0)
    h = (torch.randn(tokens, rows, hidden, generator=g) * 0.5).to(device, dtype).requires_grad_(True)  # [S, B, H]
    w = (torch.randn(vocab, hidden, generator=g) * 0.02).to(device, dtype).requires_grad_(True)       # [V, H]
    labels = torch.randint(0, vocab, (rows, tokens), generator=g).to(device)                           # [B, S]
    mask = torch.ones(rows, tokens, device=device)
    mask[:, : tokens // 2] = 0  # prompt half

    def logps() -> torch.Tensor:  # [B, S]
        logits = h @ w.t()  # [S, B, V]
        if variant == "ours":
            return token_logprobs(logits, labels.t()).t()
        if variant == "before":
            return _before_logprobs(logits, labels)
        if variant == "megatron_labels":
            return -tensor_parallel.vocab_parallel_cross_entropy(logits, labels.t().contiguous()).t()
        bsv = logits.transpose(0, 1)  # HF computes [B, S, V] directly; the transpose here is a view
        return torch.stack([torch.gather(F.log_softmax(row, -1), -1, lab.unsqueeze(-1)).squeeze(-1)
                            for row, lab in zip(bsv, labels)]).float()

    def step() -> float:
        out = (logps() * mask).sum()
        out.backward()
        h.grad = w.grad = None
        return float(out)

    base = _peak_bytes(device)  # CPU: peak RSS is monotonic, so the baseline is taken before any step
    value = step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    return {"seconds": seconds, "peak_growth_gib": (_peak_bytes(device) - base) / 2**30, "sum_logps": value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512, help="sequence length S")
    parser.add_argument("--rows", type=int, default=4, help="sequences B (2 pairs = 4)")
    parser.add_argument("--hidden", type=int, default=1536)
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", choices=VARIANTS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    if args.one:
        print(json.dumps(_one(args.one, args.tokens, args.rows, args.hidden, args.vocab, dtype, args.steps)))
        return
    results = {}
    for variant in args.variants.split(","):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", variant, *sys.argv[1:]]
        results[variant] = run_fresh(variant, cmd)
        print(variant, results[variant], file=sys.stderr, flush=True)
    ours = results.get("ours")
    if ours:
        for r in results.values():
            r["seconds_vs_ours"] = r["seconds"] / ours["seconds"]
            r["memory_vs_ours"] = r["peak_growth_gib"] / max(ours["peak_growth_gib"], 1e-9)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    report = {"device": device, "torch": torch.__version__, "shape": {"S": args.tokens, "B": args.rows,
              "H": args.hidden, "V": args.vocab}, "dtype": args.dtype, **results}
    emit(report, args.out)


if __name__ == "__main__":
    main()
