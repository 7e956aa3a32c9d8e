"""Worker for tests/megatron/test_epoch_coverage.py: jobs whose pair count is not a multiple of the
global batch, so each epoch ends with a smaller step.

    torchrun --nproc_per_node N epoch_coverage_worker.py <model> <out> [pp]

N = 1 or 2, TP = 1, PP = pp (default 1), DP = N / PP. Runs (tiny-qwen2, RMSprop lr 1e-4, global batch 4):
    six   6 pairs, micro 1, 3 epochs, warmup 0.1: 6 steps of 4, 2, 4, 2, 4, 2 pairs
    seven 7 pairs, micro 2, 1 epoch: a last step of 3 pairs (DP 2: 2 on rank 0, 1 on rank 1)
    five  5 pairs, micro 1, 1 epoch: a last step of 1 pair (DP 2: rank 1 runs a zero-weight micro-batch)
    resume (N = 1 only): "six" stopped after step 3, then resumed from its checkpoint
    reference5 (PP 1): the job's reference pass over 5 pairs at micro 2 (DP 2: 2 passes on rank 0, 1 on rank 1)
At PP 2 only "seven" runs (its last step: 3 micro-batches of 1 pair after full steps of 2 x 2).
Every rank reports, per run, the pair ids its loss function saw at each step (TrainResult.pair_ids)
and the step metrics.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # repo root: tests.distributed

from tests.distributed import report  # noqa: E402
from tests.megatron.train_workers.dpo_worker import BASE, SEQ, build, make_pairs, reference  # noqa: E402

RUNS = {
    "six": dict(num_pairs=6, micro_batch_size=1, epochs=3, warmup_ratio=0.1),
    "seven": dict(num_pairs=7, micro_batch_size=2, epochs=1),
    "five": dict(num_pairs=5, micro_batch_size=1, epochs=1),
}


def run(model_path: str, out: Path, pp: int, num_pairs: int, stop_after: int | None = None, save_every_steps: int = 0,
        **overrides) -> dict:
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.megatron.trainer import train

    pairs = make_pairs(num_pairs)
    cfg = TrainerConfig(**{**BASE, "save_every_steps": save_every_steps, **overrides})
    chunks = build(model_path, 1, pp)
    result = train(chunks, pairs, cfg, out, seq_length=SEQ, pad_id=0, ref_logps=reference(chunks, pairs),
                   stop_after_step=stop_after)
    return {"pair_ids": result.pair_ids, "losses": result.losses, "first_step": result.first_step,
            "grad_norms": [m["grad_norm"] for m in result.metrics], "lrs": [m["lr"] for m in result.metrics],
            "pairs": [m["pairs"] for m in result.metrics]}


def reference_pass(model_path: str, out: Path) -> dict:
    """The job's reference pass (train_entry.reference_logps) over 5 pairs at micro-batch 2: at DP 2, rank 0
    holds 3 pairs (a full micro-batch, then the remainder: two pipeline passes) and rank 1 holds 2 (one)."""
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.megatron.train_entry import reference_logps

    out.mkdir(parents=True, exist_ok=True)
    chunks = build(model_path, 1, 1, training=False)
    values = reference_logps(chunks, make_pairs(5), out / "pairs.jsonl", TrainerConfig(**{**BASE, "micro_batch_size": 2}),
                             SEQ, 0, "tiny-qwen2", path=out / "ref_logps.jsonl")
    return {pair_id: [v.ref_chosen_logp, v.ref_rejected_logp] for pair_id, v in sorted(values.items())}


def main() -> None:
    from nemo_drift.runtime.distributed import init_distributed

    model_path, out = sys.argv[1], Path(sys.argv[2])
    pp = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    init_distributed(1, pp, 1, seed=7)
    names = ["seven"] if pp > 1 else list(RUNS)
    results = {name: run(model_path, out / name, pp, **RUNS[name]) for name in names}
    if pp == 1:
        results["reference5"] = reference_pass(model_path, out / "reference5")
    if torch.distributed.get_world_size() == 1:
        results["interrupted"] = run(model_path, out / "resume", pp, stop_after=3, save_every_steps=3, **RUNS["six"])
        results["resumed"] = run(model_path, out / "resume", pp, save_every_steps=3, **RUNS["six"])
    report(results)


if __name__ == "__main__":
    main()
