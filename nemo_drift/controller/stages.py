"""The stage bodies of one run. Each takes the run context and its inputs, writes into the temporary
folder it is given, and returns its counts for the manifest. Megatron work (import, reference, train,
export) runs as its own process through the launcher (torchrun locally, srun on a cluster); generation
runs in the generation interpreter through `nemo_drift.generation.client`; the rest runs here.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from nemo_drift.controller.context import REF_LOGPS, RunContext
from nemo_drift.controller.launcher import LaunchSpec

JOBS_MODULE = "nemo_drift.megatron.jobs"
CHECKPOINT = "checkpoint"
HF_FOLDER = "hf"


def megatron_world_size(ctx: RunContext) -> int:
    """Ranks of a training stage: the cluster layout's (one per GPU, or `cluster.cpu_ranks` gloo
    processes); TP x PP x CP x DP = world size, checked when the config is loaded."""
    return ctx.cfg.cluster.world_size


def launch_megatron_job(ctx: RunContext, job: str, out: Path, nproc: int | None = None, **paths: Path) -> None:
    """Run `<cluster.train_python> -m nemo_drift.megatron.jobs <job> config=... out=... key=path ...` on the
    layout's ranks, in `cluster.container_image` when one is set."""
    args = [job, f"config={ctx.config_path}", f"out={out}", *(f"{k}={v}" for k, v in paths.items())]
    cluster = ctx.cfg.cluster
    spec = LaunchSpec(name=job, module=JOBS_MODULE, args=args, python=cluster.train_python,
                      nproc=nproc or megatron_world_size(ctx), image=cluster.container_image,
                      log_path=ctx.logs_dir() / f"{out.parent.name}_{job}.log")
    ctx.launcher.run(spec)


# --- iteration 0 ---------------------------------------------------------------------------------

def prepare_data(ctx: RunContext, tmp: Path) -> dict[str, Any]:
    """Input logs -> DSAT / SAT / seed / held-out records + rejects + summary (nemo_drift.data)."""
    from nemo_drift.data.prepare import prepare

    if ctx.dry_run:
        print(f"[dry-run] prepare: in the controller process, {ctx.cfg.data.source} -> {ctx.data_dir}")
        return {}
    summary = prepare(ctx.cfg.data, tmp)
    print(summary.format_table(), flush=True)
    return json.loads((tmp / "summary.json").read_text())


def import_checkpoint(ctx: RunContext, tmp: Path) -> dict[str, Any]:
    """Hugging Face checkpoint -> Megatron checkpoint (the policy of iteration 0)."""
    launch_megatron_job(ctx, "import", tmp / CHECKPOINT, nproc=_model_parallel(ctx), hf=Path(ctx.cfg.model.hf_path))
    return {"source": ctx.cfg.model.hf_path}


def _model_parallel(ctx: RunContext) -> int:
    model = ctx.cfg.model
    return model.tensor_model_parallel_size * model.pipeline_model_parallel_size


# --- every iteration -----------------------------------------------------------------------------

def export_checkpoint(ctx: RunContext, tmp: Path, policy: Path) -> dict[str, Any]:
    """Megatron checkpoint -> Hugging Face folder for vLLM (and for users: one per iteration)."""
    launch_megatron_job(ctx, "export", tmp / HF_FOLDER, nproc=_model_parallel(ctx), checkpoint=policy,
                        template=Path(ctx.cfg.model.hf_path))
    return {"checkpoint": str(policy)}


def tokenize_and_write(ctx: RunContext, pairs: Sequence[Any], tmp: Path) -> dict[str, Any]:
    """Preference pairs -> `pairs.jsonl` (text, for people) + `tokens.jsonl` (ids, for training)."""
    from nemo_drift.data.jsonl import write_jsonl
    from nemo_drift.data.tokenize import tokenize_pairs

    data = ctx.cfg.data
    write_jsonl(tmp / "pairs.jsonl", pairs)
    tokenized, stats = tokenize_pairs(ctx.tokenizer, list(pairs), data.max_length, data.max_prompt_length,
                                      data.overlength)
    count = write_jsonl(tmp / "tokens.jsonl", tokenized)
    return {"pairs": count, "truncation": dataclasses.asdict(stats)}


def reference_logps(ctx: RunContext, tmp: Path, policy: Path, tokens: Path) -> dict[str, Any]:
    """One forward-only pass: reference log-probs of every pair, stored for the training stage."""
    reference = policy
    if ctx.cfg.trainer.reference_model == "base":  # the imported starting model unless reference_path says
        reference = Path(ctx.cfg.trainer.base_reference(str(ctx.stage_dir(0, "import") / CHECKPOINT)))
    launch_megatron_job(ctx, "reference", tmp / REF_LOGPS, checkpoint=reference, tokens=tokens)
    return {"reference": str(reference)}


def train_policy(ctx: RunContext, tmp: Path, policy: Path, tokens: Path, ref: Path | None, epochs: int,
                 iteration: int) -> dict[str, Any]:
    """One DPO job (epochs over the pairs) from `policy` -> a new Megatron checkpoint + metrics."""
    from nemo_drift.controller import heldout, margins

    extra = {"ref": ref} if ref is not None else {}
    launch_megatron_job(ctx, "train", tmp, checkpoint=policy, tokens=tokens, epochs=epochs, iteration=iteration,
                        **extra, **heldout.scoring_args(ctx, iteration, tokens.parent, tmp),
                        **margins.scoring_args(ctx, tmp))
    metrics_path = tmp / "metrics.jsonl"
    steps = [json.loads(line) for line in metrics_path.read_text().splitlines()] if metrics_path.exists() else []
    efficiency = [s["packing_efficiency"] for s in steps if "packing_efficiency" in s]
    return {"steps": len(steps), "last": steps[-1] if steps else {},
            "packing_efficiency": sum(efficiency) / len(efficiency) if efficiency else None,
            "heldout": heldout.record_signal(ctx, iteration, tmp),
            "margins": margins.record_margins(ctx, iteration, tmp)}
