"""The generate and pairs stages: render what a method needs sampled through the policy's chat
template, sample it with vLLM (in the generation interpreter), and turn samples into pairs."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

from nemo_drift.controller.context import RunContext
from nemo_drift.controller.stage_runner import RunError
from nemo_drift.data.prompts import PromptTooLong, render_guided, render_unguided
from nemo_drift.data.records import DsatExample, SatExample, read_jsonl
from nemo_drift.methods import drift, iterdpo, spin
from nemo_drift.methods.base import PairBuildResult, SamplePolicy, SamplingNeed


def load_records(ctx: RunContext) -> tuple[list[DsatExample], list[SatExample]]:
    """The prepared training records (held-out ones never reach a method), capped at method.max_examples."""
    limit = ctx.cfg.method.max_examples
    dsat = [r for r in read_jsonl(ctx.data_dir / "dsat.jsonl", DsatExample) if r.split == "train"][:limit]
    sat = [r for r in read_jsonl(ctx.data_dir / "sat.jsonl", SatExample) if r.split == "train"][:limit]
    return dsat, sat


def sampling_needs(ctx: RunContext) -> list[SamplingNeed]:
    """What the configured method asks the sampler for."""
    dsat, sat = load_records(ctx)
    method = ctx.cfg.method
    if method.name == "drift":
        return drift.sampling_needs(dsat, method.guided)
    if method.name == "spin":
        return spin.sampling_needs(sat)
    return iterdpo.sampling_needs(dsat)


def render(ctx: RunContext, need: SamplingNeed) -> str:
    data = ctx.cfg.data
    if need.kind == "guided":
        return render_guided(ctx.tokenizer, need.example, data.guided_instruction, data.max_prompt_length,
                             data.overlength)
    return render_unguided(ctx.tokenizer, need.context, data.max_prompt_length, data.overlength)


def generate_samples(ctx: RunContext, tmp: Path, model_dir: Path, iteration: int) -> dict[str, Any]:
    """Sample every prompt the method needs from the exported policy `model_dir`."""
    from nemo_drift.generation.client import generate, sampler_command
    from nemo_drift.generation.records import SampleRequest

    replica_launcher = getattr(ctx.launcher, "generation", None)
    if ctx.dry_run:
        placements = replica_launcher.placements() if replica_launcher is not None else [None]
        for replica in range(len(placements) if replica_launcher is not None else ctx.cfg.generation.replicas):
            cmd = sampler_command(ctx.cfg.generation.python, tmp, [replica], replica)
            if replica_launcher is not None:
                cmd = replica_launcher.command(cmd, replica)
            print(f"[dry-run] generate replica {replica}: {' '.join(cmd)}  (model {model_dir})")
        return {}
    needs = sampling_needs(ctx)
    requests, too_long = [], []
    for need in needs:
        try:
            requests.append(SampleRequest(need.prompt_id, render(ctx, need)))
        except PromptTooLong:
            too_long.append(need.prompt_id)
    n = max([ctx.cfg.generation.n, *(need.n for need in needs)])
    gen_cfg = dataclasses.replace(ctx.cfg.generation, n=n, seed=ctx.cfg.generation.seed + iteration)
    if not requests:
        raise RunError(f"method {ctx.cfg.method.name}: no prompt to sample (records in {ctx.data_dir}; "
                           f"{len(too_long)} prompts did not fit data.max_prompt_length)")
    result = generate(requests, model_dir, tmp, gen_cfg, launcher=replica_launcher)
    counts = dataclasses.asdict(result.counts)
    lengths = [len(s.token_ids) for s in result.samples]
    stats = {"prompts": len(requests), "prompts_too_long": len(too_long), "samples": len(result.samples),
             "sample_tokens_mean": round(sum(lengths) / max(len(lengths), 1), 1), **counts}
    ctx.record(iteration, **{k: stats[k] for k in ("prompts", "samples", "sample_tokens_mean")})
    return stats


def build_pairs(ctx: RunContext, samples_path: Path) -> PairBuildResult:
    """The configured method's pairs from the records and the samples."""
    from nemo_drift.generation.records import read_samples

    by_prompt: dict[str, list[Any]] = defaultdict(list)
    for sample in read_samples(samples_path):
        by_prompt[sample.prompt_id].append(sample)
    dsat, sat = load_records(ctx)
    method, gen = ctx.cfg.method, ctx.cfg.generation
    policy = SamplePolicy(on_empty=gen.on_empty, on_truncated=gen.on_truncated)
    if method.name == "drift":
        return drift.build_pairs(dsat, by_prompt, method.guided, policy)
    if method.name == "spin":
        return spin.build_pairs(sat, by_prompt, policy)
    reward = None
    if method.reward_model:
        from nemo_drift.eval.reward import RewardModel

        reward = RewardModel(method.reward_model)
    return iterdpo.build_pairs(dsat, by_prompt, reward, policy)
