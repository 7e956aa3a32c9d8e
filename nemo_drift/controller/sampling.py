"""The generate and pairs stages: render what the configured method needs sampled through the policy's
chat template, sample it with vLLM (in the generation interpreter), and turn samples into pairs.

The method is looked up by `method.name` in the registry (nemo_drift.methods) and always called the
same way, so adding a method changes nothing here."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

from nemo_drift.controller.context import RunContext
from nemo_drift.controller.stage_runner import RunError
from nemo_drift.data.prompts import PromptTooLong, RenderedPrompt, render_guided, render_unguided
from nemo_drift.data.records import DsatExample, SatExample, read_jsonl
from nemo_drift.methods import MethodInputs, PairBuildResult, SamplePolicy, SamplingNeed, get_method
from nemo_drift.methods.reward import LazyReward, RewardFn

SAMPLES_FILE = "samples.jsonl"
"""The generate stage's merged samples, read back by the pairs stage."""


def load_records(ctx: RunContext) -> tuple[list[DsatExample], list[SatExample]]:
    """The prepared training records (held-out ones never reach a method): all of them, or, under
    `method.max_examples` N, a seeded random subset of N DSAT and of N SAT records.

    The subset is the N records with the lowest sha256("<method.subset_seed>:<record id>") (bottom-N of a
    hash): the same set whatever the file order, and appending records displaces at most one old pick per
    new record that ranks inside the cut. The picks keep their file order."""
    limit, seed = ctx.cfg.method.max_examples, ctx.cfg.method.subset_seed

    def subset(records: list[Any]) -> list[Any]:
        if limit is None or len(records) <= limit:
            return records
        rank = [hashlib.sha256(f"{seed}:{r.id}".encode("utf-8")).digest() for r in records]
        picked = sorted(sorted(range(len(records)), key=rank.__getitem__)[:limit])
        return [records[i] for i in picked]

    dsat = subset([r for r in read_jsonl(ctx.data_dir / "dsat.jsonl", DsatExample) if r.split == "train"])
    sat = subset([r for r in read_jsonl(ctx.data_dir / "sat.jsonl", SatExample) if r.split == "train"])
    return dsat, sat


def _load_reward_model(path: str) -> RewardFn:
    from nemo_drift.eval.reward import RewardModel

    return RewardModel(path)


def lazy_reward(path: Optional[str]) -> Optional[LazyReward]:
    """The reward model at `path` (`method.reward_model`), loaded on first use; None when unset."""
    return LazyReward(functools.partial(_load_reward_model, path)) if path else None


def method_inputs(ctx: RunContext) -> MethodInputs:
    """What the configured method is given: records, its settings, the sample policy, the reward."""
    dsat, sat = load_records(ctx)
    method, gen = ctx.cfg.method, ctx.cfg.generation
    return MethodInputs(settings=method, dsat=dsat, sat=sat,
                        policy=SamplePolicy(on_empty=gen.on_empty, on_truncated=gen.on_truncated),
                        reward=lazy_reward(method.reward_model))


def sampling_needs(ctx: RunContext) -> list[SamplingNeed]:
    """What the configured method asks the sampler for."""
    return get_method(ctx.cfg.method.name).sampling_needs(method_inputs(ctx))


def render(ctx: RunContext, need: SamplingNeed) -> RenderedPrompt:
    """The need's prompt through the policy's chat template, fitted to the sampling prompt budget."""
    data, budget = ctx.cfg.data, ctx.cfg.sampling_prompt_tokens()
    if need.kind == "guided":
        return render_guided(ctx.tokenizer, need.example, data.guided_instruction, budget, data.overlength)
    return render_unguided(ctx.tokenizer, need.context, budget, data.overlength)


def _no_sampling(ctx: RunContext, tmp: Path, iteration: int) -> dict[str, Any]:
    """The generate stage of a method that samples nothing: an empty samples file, no sampler."""
    from nemo_drift.generation.records import write_jsonl_atomic

    if ctx.dry_run:
        print(f"[dry-run] generate: method {ctx.cfg.method.name} samples nothing")
        return {}
    write_jsonl_atomic(tmp / SAMPLES_FILE, [])
    stats = {"prompts": 0, "samples": 0, "sample_tokens_mean": 0.0}
    ctx.record(iteration, **stats)
    return {**stats, "prompts_cut": 0, "prompts_too_long": 0}


def generate_samples(ctx: RunContext, tmp: Path, model_dir: Path, iteration: int) -> dict[str, Any]:
    """Sample every prompt the method needs from the exported policy `model_dir`."""
    from nemo_drift.generation.client import generate, sampler_command
    from nemo_drift.generation.records import SampleRequest

    if not get_method(ctx.cfg.method.name).needs_sampling:
        return _no_sampling(ctx, tmp, iteration)
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
    requests, too_long, cut = [], [], 0
    for need in needs:
        try:
            prompt = render(ctx, need)
        except PromptTooLong:
            too_long.append(need.prompt_id)
            continue
        requests.append(SampleRequest(need.prompt_id, prompt.text))
        cut += prompt.cut
    n = max([ctx.cfg.generation.n, *(need.n for need in needs)])
    gen = ctx.cfg.generation
    dtype = gen.dtype if gen.dtype != "auto" else ctx.cfg.model.vllm_dtype(ctx.cfg.cluster.on_gpu)
    gen_cfg = dataclasses.replace(gen, n=n, seed=gen.seed + iteration, dtype=dtype)
    if not requests:
        raise RunError(f"method {ctx.cfg.method.name}: no prompt to sample (records in {ctx.data_dir}; "
                       f"{len(too_long)} prompts did not fit generation.max_prompt_tokens="
                       f"{ctx.cfg.sampling_prompt_tokens()})")
    result = generate(requests, model_dir, tmp, gen_cfg, launcher=replica_launcher)
    counts = dataclasses.asdict(result.counts)
    lengths = [len(s.token_ids) for s in result.samples]
    stats = {"prompts": len(requests), "prompts_cut": cut, "prompts_too_long": len(too_long),
             "samples": len(result.samples), "sample_tokens_mean": round(sum(lengths) / max(len(lengths), 1), 1),
             **counts}
    ctx.record(iteration, **{k: stats[k] for k in ("prompts", "prompts_cut", "prompts_too_long", "samples",
                                                   "sample_tokens_mean")})
    return stats


def build_pairs(ctx: RunContext, samples_path: Path) -> PairBuildResult:
    """The configured method's pairs from the records and the samples."""
    from nemo_drift.generation.records import read_samples

    by_prompt: dict[str, list[Any]] = defaultdict(list)
    for sample in read_samples(samples_path):
        by_prompt[sample.prompt_id].append(sample)
    return get_method(ctx.cfg.method.name).build_pairs(method_inputs(ctx), by_prompt)
