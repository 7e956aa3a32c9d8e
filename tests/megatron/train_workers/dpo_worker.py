"""Worker for the trainer tests: trains tiny-qwen2 on synthetic pairs and reports losses.

    torchrun --nproc_per_node N dpo_worker.py <model> <out> <scenario> [tp] [pp]

Scenarios: "parallel" (at the given TP/PP, DP = N / (TP x PP): padded and packed runs) and "variants" (one
process: baseline, micro-batch 2 x 2, in-loop reference, resume from step 2, parameter change check, and the
packed runs: packed, packed with a two-pair token budget, packed in-loop, packed resume mid-epoch).
Every run: 20 pairs, global batch 4 (5 steps), RMSprop lr 1e-4, no warmup, clip 1.0, seq_length 32.
"""
from __future__ import annotations

import random
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # repo root: tests.distributed

from tests.distributed import report  # noqa: E402

SEQ = 32
BASE = dict(lr=1e-4, warmup_ratio=0.0, global_batch_size=4, micro_batch_size=1, wandb_mode="disabled", seed=7)


def make_pairs(n: int = 20) -> list:
    from nemo_drift.data.records import TokenizedPair

    rng = random.Random(0)
    ids = lambda k: [rng.randrange(10, 5000) for _ in range(k)]  # noqa: E731
    return [TokenizedPair(f"p{i}", ids(rng.randint(3, 10)), ids(rng.randint(2, 12)), ids(rng.randint(2, 12)))
            for i in range(n)]


def build(model_path: str, tp: int, pp: int, training: bool = True) -> list:
    from nemo_drift.config.model import ModelConfig
    from nemo_drift.megatron.model import build_model
    from nemo_drift.megatron.optimizer import wrap_ddp

    cfg = ModelConfig(hf_path=model_path, tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp,
                      seq_length=SEQ, precision="fp32")
    chunks = build_model(model_path, cfg, for_training=training).chunks
    return wrap_ddp(chunks) if training else chunks


def reference(chunks: list, pairs: list, cfg=None, layout=None) -> dict:
    """One pair per padded micro-batch, or packed rows as the job's reference pass places them."""
    from megatron.core import parallel_state as ps

    from nemo_drift.megatron.reference import compute_reference_logps
    from nemo_drift.megatron.train_entry import reference_microbatches
    from nemo_drift.megatron.trainer import make_microbatch

    rank, size = ps.get_data_parallel_rank(), ps.get_data_parallel_world_size()
    if layout is not None and layout.packed:
        device = next(chunks[0].parameters()).device
        return compute_reference_logps(chunks, reference_microbatches(pairs, cfg, SEQ, 0, rank, size, device, layout)[0])
    return compute_reference_logps(chunks, [make_microbatch([p], 0, SEQ) for p in pairs[rank::size]])


def run(model_path: str, out: Path, tp: int, pp: int, ref_mode: str = "precomputed", stop_after: int | None = None,
        packed: bool = False, **overrides) -> dict:
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.megatron.trainer import Layout, train

    pairs = make_pairs()
    cfg = TrainerConfig(**{**BASE, **overrides})
    layout = Layout.of(packed, cfg, SEQ, pp)
    chunks = build(model_path, tp, pp)
    before = {n: p.detach().clone() for n, p in chunks[0].module.named_parameters()}
    if ref_mode == "in_loop":
        result = train(chunks, pairs, replace(cfg, reference="in_loop"), out, seq_length=SEQ, pad_id=0,
                       ref_chunks=build(model_path, tp, pp, training=False), stop_after_step=stop_after, layout=layout)
    else:
        ref = reference(chunks, pairs, cfg, layout)
        result = train(chunks, pairs, cfg, out, seq_length=SEQ, pad_id=0, ref_logps=ref, stop_after_step=stop_after,
                       layout=layout)
    unchanged = [n for n, p in chunks[0].module.named_parameters() if torch.equal(p.detach(), before[n])]
    report = {"losses": result.losses, "grad_norms": [m["grad_norm"] for m in result.metrics],
              "accuracy": [m["rewards/accuracy"] for m in result.metrics], "first_step": result.first_step,
              "unchanged": unchanged, "n_params": len(before), "pair_ids": result.pair_ids,
              "efficiency": [m["packing_efficiency"] for m in result.metrics]}
    if ref_mode != "in_loop":
        report["ref"] = {k: [v.ref_chosen_logp, v.ref_rejected_logp, v.chosen_tokens, v.rejected_tokens]
                         for k, v in ref.items()}
    return report


def entry_point_runs(model_path: str, out: Path) -> dict:
    """run_training twice: from the HF folder, then from the Megatron checkpoint the first one wrote."""
    from nemo_drift.config.model import ModelConfig
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.megatron.metrics import read_metrics
    from nemo_drift.megatron.reference import read_ref_logps, ref_logps_path, write_tokenized_pairs
    from nemo_drift.megatron.train_entry import run_training

    pairs_path = out / "pairs.jsonl"
    if torch.distributed.get_rank() == 0:
        write_tokenized_pairs(pairs_path, make_pairs(8))
    torch.distributed.barrier()
    model_cfg = ModelConfig(hf_path=model_path, seq_length=SEQ)
    first = run_training(pairs_path, model_path, out / "entry1", model_cfg, TrainerConfig(**BASE, max_steps=2))
    ref1 = read_ref_logps(ref_logps_path(pairs_path))["p0"]
    second = run_training(pairs_path, out / "entry1", out / "entry2", model_cfg, TrainerConfig(**BASE, max_steps=1))
    ref2 = read_ref_logps(ref_logps_path(pairs_path))["p0"]
    base = {mode: run_training(pairs_path, out / "entry1", out / f"base_{mode}", model_cfg,
                               TrainerConfig(**BASE, max_steps=1, reference=mode, reference_model="base")).losses
            for mode in ("precomputed", "in_loop")}
    return {"losses1": first.losses, "losses2": second.losses, "ref1": ref1.ref_chosen_logp,
            "ref2": ref2.ref_chosen_logp, "ref2_model": ref2.reference_model,
            "checkpoint1": str(first.checkpoint_dir), "metrics1": len(read_metrics(out / "entry1")),
            "base_reference_losses": base}


DISLIKED = [311, 4712, 902, 77, 1500, 2600]
"""The reply every training pair rejects, and the held-out DSAT reply (under another prompt)."""


def heldout_run(model_path: str, out: Path) -> dict:
    """A job whose pairs all reject DISLIKED, scoring held-out records before and after: a held-out DSAT
    record with the same reply under an unseen prompt, and a held-out SAT record with an unrelated reply; the
    job also scores its own pairs with the trained weights (the margin-health files)."""
    from nemo_drift.config.model import ModelConfig
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.data.records import RefLogps, TokenizedPair, read_jsonl, write_jsonl
    from nemo_drift.megatron.reference import ref_logps_path
    from nemo_drift.megatron.train_entry import HeldOutScoring, PairScoring, run_training

    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    ids = lambda k: [rng.randrange(10, 5000) for _ in range(k)]  # noqa: E731
    pairs = [TokenizedPair(f"p{i}", ids(rng.randint(3, 8)), ids(rng.randint(3, 8)), DISLIKED) for i in range(8)]
    held = [TokenizedPair("dsat/h0", [17, 940, 3021, 55], DISLIKED, DISLIKED),
            TokenizedPair("sat/h1", [17, 940, 3021, 56], [64, 128, 256, 512, 1024], [64, 128, 256, 512, 1024])]
    if torch.distributed.get_rank() == 0:
        write_jsonl(out / "pairs.jsonl", pairs)
        write_jsonl(out / "heldout.jsonl", held)
    torch.distributed.barrier()
    scoring = HeldOutScoring(out / "heldout.jsonl", end=out / "end.jsonl", start=out / "start.jsonl")
    pair_scores = PairScoring(end=out / "pairs_end.jsonl")
    run_training(out / "pairs.jsonl", model_path, out / "train", ModelConfig(hf_path=model_path, seq_length=SEQ),
                 TrainerConfig(**{**BASE, "lr": 1e-3, "epochs": 2}), heldout=scoring, pair_scores=pair_scores)
    read = lambda path: {r.id: [r.ref_chosen_logp, r.ref_rejected_logp, r.chosen_tokens] for r in read_jsonl(path, RefLogps)}  # noqa: E731
    return {"start": read(scoring.start), "end": read(scoring.end),
            "records": {p.id: [p.prompt_ids, p.rejected_ids] for p in held},
            "pairs_ref": read(ref_logps_path(out / "pairs.jsonl")), "pairs_end": read(pair_scores.end)}


def main() -> None:
    from nemo_drift.runtime.distributed import init_distributed

    model_path, out, scenario = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    tp, pp = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (1, 1)
    init_distributed(tp, pp, 1, seed=7)
    results: dict = {}
    if scenario == "parallel":
        results["run"] = run(model_path, out / "run", tp, pp)
        results["packed"] = run(model_path, out / "packed", tp, pp, packed=True)
    else:
        results["baseline"] = run(model_path, out / "baseline", tp, pp)
        results["packed"] = run(model_path, out / "packed", tp, pp, packed=True)
        results["packed_mbs2"] = run(model_path, out / "packed_mbs2", tp, pp, packed=True, micro_batch_size=2)
        results["packed_in_loop"] = run(model_path, out / "packed_in_loop", tp, pp, ref_mode="in_loop", packed=True)
        results["packed_interrupted"] = run(model_path, out / "packed_resume", tp, pp, packed=True, save_every_steps=2,
                                            stop_after=3)
        results["packed_resumed"] = run(model_path, out / "packed_resume", tp, pp, packed=True, save_every_steps=2)
        results["mbs2"] = run(model_path, out / "mbs2", tp, pp, micro_batch_size=2)
        results["in_loop"] = run(model_path, out / "in_loop", tp, pp, ref_mode="in_loop")
        results["interrupted"] = run(model_path, out / "resume", tp, pp, save_every_steps=2, stop_after=2)
        results["resumed"] = run(model_path, out / "resume", tp, pp, save_every_steps=2)
        results["entry"] = entry_point_runs(model_path, out)
        results["heldout"] = heldout_run(model_path, out / "heldout")
    if torch.distributed.get_rank() == 0:
        report(results)


if __name__ == "__main__":
    main()
