"""`nemo-drift run`: the paper's Algorithm 1 as a sequence of resumable stages.

    iteration 0:  prepare -> import -> [warm start: pairs (seed) -> reference -> train] -> export -> parity
    iteration k:  generate (from the policy of k-1) -> pairs -> reference -> train -> export

Every stage writes `runs/<name>/iter_<k>/<stage>/` atomically with a manifest; rerunning the same
command skips completed stages (see stage_runner.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nemo_drift.config.declare import STAGES
from nemo_drift.controller import sampling, stages
from nemo_drift.controller.context import REF_LOGPS, RunContext
from nemo_drift.controller.preflight import check_prepared_data
from nemo_drift.controller.stage_dir import discard
from nemo_drift.controller.stage_runner import run_stage
from nemo_drift.controller.settings import stage_settings


def stage_plan(ctx: RunContext) -> list[tuple[int, str]]:
    """Every (iteration, stage) this run will have, in order."""
    plan = [(0, "prepare"), (0, "import")]
    if ctx.cfg.method.warm_start:
        plan += [(0, "pairs"), (0, "reference"), (0, "train")]
    plan += [(0, "export"), (0, "parity")]
    for k in range(1, ctx.cfg.method.iterations + 1):
        plan += [(k, "generate"), (k, "pairs"), (k, "reference"), (k, "train"), (k, "export")]
    return plan


def apply_resume(ctx: RunContext) -> None:
    """`resume.from_stage=S [resume.from_iteration=K]`: discard S (first occurrence at or after K) and
    everything after it, so it and all later stages run again."""
    stage, iteration = ctx.cfg.resume.from_stage, ctx.cfg.resume.from_iteration
    if stage is None:
        return
    plan = stage_plan(ctx)
    matches = [i for i, (k, s) in enumerate(plan) if s == stage and (iteration is None or k == iteration)]
    if not matches:
        raise ValueError(f"resume.from_stage: this run has no stage {stage!r}"
                         f"{'' if iteration is None else f' in iteration {iteration}'}; stages: "
                         f"{', '.join(sorted({s for _, s in plan}, key=STAGES.index))}")
    for k, s in plan[matches[0]:]:
        discard(ctx.data_dir if s == "prepare" else ctx.stage_dir(k, s))
    print(f"[resume] redoing from {stage} (iteration {plan[matches[0]][0]}) on", flush=True)


def _stage(ctx: RunContext, k: int, name: str, inputs: dict[str, Path], body) -> Path:
    # generate keeps a killed attempt's finished shards (each atomic, checked by fingerprint)
    return run_stage(ctx, k, name, stage_settings(ctx.cfg, name, k), inputs, body, keep_partial=name == "generate")


def dpo_round(ctx: RunContext, k: int, policy: Path, pairs_dir: Path, epochs: int) -> Path:
    """reference -> train for one iteration's pairs; returns the new policy (its train stage folder)."""
    tokens = pairs_dir / "tokens.jsonl"
    ref_path = None
    if ctx.cfg.trainer.reference == "precomputed":
        ref_dir = _stage(ctx, k, "reference", {"policy": policy, "pairs": pairs_dir},
                         lambda tmp: stages.reference_logps(ctx, tmp, policy, tokens))
        ref_path = ref_dir / REF_LOGPS
    inputs = {"policy": policy, "pairs": pairs_dir, **({"reference": ref_path.parent} if ref_path else {})}
    train_dir = _stage(ctx, k, "train", inputs,
                       lambda tmp: stages.train_policy(ctx, tmp, policy, tokens, ref_path, epochs, k))
    return train_dir


def iteration_zero(ctx: RunContext) -> tuple[Path, Path]:
    """Records, the imported policy, the optional warm start; returns (policy, its HF export).

    A policy is the stage folder that holds its Megatron checkpoint (import or train); stage
    processes find the checkpoint inside (`nemo_drift.megatron.jobs.resolve_checkpoint`)."""
    from nemo_drift.controller.parity_stage import check_parity_stage
    from nemo_drift.controller.pairs_stage import warm_start_pairs_stage

    _stage(ctx, 0, "prepare", {}, lambda tmp: stages.prepare_data(ctx, tmp))
    if not ctx.dry_run:
        check_prepared_data(ctx)  # before the model import, which takes minutes at 14B
    policy = _stage(ctx, 0, "import", {}, lambda tmp: stages.import_checkpoint(ctx, tmp))
    if ctx.cfg.method.warm_start:
        pairs_dir = _stage(ctx, 0, "pairs", {"data": ctx.data_dir}, lambda tmp: warm_start_pairs_stage(ctx, tmp))
        policy = dpo_round(ctx, 0, policy, pairs_dir, ctx.cfg.method.warm_start_epochs)
    hf = _stage(ctx, 0, "export", {"policy": policy},
                lambda tmp: stages.export_checkpoint(ctx, tmp, policy)) / stages.HF_FOLDER
    _stage(ctx, 0, "parity", {"hf": hf.parent}, lambda tmp: check_parity_stage(ctx, tmp, hf, policy))
    return policy, hf


def iteration(ctx: RunContext, k: int, policy: Path, hf: Path) -> tuple[Path, Path]:
    """One DRIFT/SPIN/IterDPO iteration: sample from the current policy, build pairs, train, export."""
    from nemo_drift.controller.pairs_stage import method_pairs_stage

    gen_dir = _stage(ctx, k, "generate", {"hf": hf.parent, "data": ctx.data_dir},
                     lambda tmp: sampling.generate_samples(ctx, tmp, hf, k))
    pairs_dir = _stage(ctx, k, "pairs", {"samples": gen_dir, "data": ctx.data_dir},
                       lambda tmp: method_pairs_stage(ctx, tmp, gen_dir, k))
    policy = dpo_round(ctx, k, policy, pairs_dir, ctx.cfg.trainer.epochs)
    hf = _stage(ctx, k, "export", {"policy": policy},
                lambda tmp: stages.export_checkpoint(ctx, tmp, policy)) / stages.HF_FOLDER
    return policy, hf


def run(ctx: RunContext) -> dict[str, Any]:
    """The whole run; returns where the final policy is."""
    apply_resume(ctx)
    policy, hf = iteration_zero(ctx)
    for k in range(1, ctx.cfg.method.iterations + 1):
        policy, hf = iteration(ctx, k, policy, hf)
    return {"checkpoint": policy, "hf": hf}
