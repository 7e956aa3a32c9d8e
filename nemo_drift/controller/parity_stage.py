"""Iteration 0's parity check: do vLLM's log-probs of its own samples match Megatron's for the same
tokens? Run once per run; a mismatch (mean multiplicative probability error over the threshold, as
NeMo-RL uses 1.05) fails the run before any GPU hour is spent on wrong samples.

The two halves run where their environments are: vLLM samples from here, in the generation
interpreter through the run's generation launcher (srun replicas in the generation image on a
cluster, local processes otherwise), as the generate stage does; then the Megatron job scores the
finished samples file on the training ranks, in the training image, with the GPUs free."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nemo_drift.controller.context import RunContext
from nemo_drift.controller.stages import launch_megatron_job, megatron_world_size

SAMPLES_DIR = "samples"
"""The parity stage's generation folder (settings, shards, sampler logs, merged samples)."""


def parity_samples(ctx: RunContext, samples_dir: Path, hf: Path) -> Path:
    """vLLM samples a few prompts from the exported `hf` folder into `samples_dir`; returns the merged
    file. In a dry run: prints the sampler command and returns the path a real run would write."""
    from nemo_drift.generation.client import sampler_command
    from nemo_drift.generation.shards import ShardLayout
    from nemo_drift.megatron.parity import sample_for_parity

    replica_launcher = getattr(ctx.launcher, "generation", None)
    if ctx.dry_run:
        cmd = sampler_command(ctx.cfg.generation.python, samples_dir, [0], 0)  # a handful of prompts: one shard
        if replica_launcher is not None:
            cmd = replica_launcher.command(cmd, 0)
        print(f"[dry-run] parity sampler replica 0: {' '.join(cmd)}  (model {hf})")
        return ShardLayout(samples_dir).merged_path
    return sample_for_parity(hf, samples_dir, ctx.cfg.model, ctx.cfg.generation, launcher=replica_launcher,
                             on_gpu=ctx.cfg.cluster.on_gpu)


def check_parity_stage(ctx: RunContext, tmp: Path, hf: Path, policy: Path) -> dict[str, Any]:
    """vLLM samples a few prompts from the exported `hf` folder; Megatron scores them from `policy`."""
    samples = parity_samples(ctx, tmp / SAMPLES_DIR, hf)
    launch_megatron_job(ctx, "parity", tmp, nproc=megatron_world_size(ctx), samples=samples, checkpoint=policy)
    if ctx.dry_run:
        return {}
    report = json.loads((tmp / "parity.json").read_text())
    ctx.record(0, parity_mult_prob_error=report.get("mult_prob_error"), parity_max_abs=report.get("max_abs"))
    return report
