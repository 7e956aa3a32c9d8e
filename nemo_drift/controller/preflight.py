"""Checks that need no model, run before any model is loaded: the method's settings and whether every
stage can start where it runs (before the run starts), and the prepared records (right after `prepare`). Each failure names the setting or input to
change, so a bad run stops in seconds instead of after a model import that takes minutes at 14B."""
from __future__ import annotations

import dataclasses

from nemo_drift.config.method import MethodConfig
from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.context import RunContext
from nemo_drift.controller.stage_runner import RunError
from nemo_drift.data.records import SeedPair, read_jsonl
from nemo_drift.methods import COMMON_SETTINGS, UnknownMethodError, get_method, method_names


def method_problems(cfg: DriftConfig) -> list[str]:
    """`method.name` names a registered method, and no `method.*` setting the method ignores is set
    away from its default (e.g. `method.guided=false` with a method that has no unguided variant)."""
    try:
        method = get_method(cfg.method.name)
    except UnknownMethodError as err:
        return [str(err)]
    defaults = MethodConfig()
    problems = []
    for f in dataclasses.fields(MethodConfig):
        value = getattr(cfg.method, f.name)
        if f.name in COMMON_SETTINGS or f.name in method.honours or value == getattr(defaults, f.name):
            continue
        readers = ", ".join(name for name in method_names() if f.name in get_method(name).honours) or "no method"
        problems.append(f"method.{f.name}: {value!r} has no effect on method {cfg.method.name!r} (read by {readers}); "
                        f"remove it or pick a method that reads it")
    return problems + method.setting_problems(cfg.method)


def launch_problems(cfg: DriftConfig, generation: bool = True) -> list[str]:
    """Every stage interpreter starts where its stage runs (its symlink resolves there; an environment
    built in one image is not used in another) and, with containers, every folder a stage needs can be
    mounted. Run on the controller's host, which sees the same shared filesystem as the nodes."""
    from nemo_drift.controller.container import mount_problems, mounted_folders, mounts, stage_paths
    from nemo_drift.controller.interpreter import interpreter_problem

    cluster = cfg.cluster
    containers = bool(cluster.container_image or cluster.generation_image)
    folders = mounted_folders(mounts(cfg)) if containers else []
    checks = [("cluster.train_python", cluster.train_python, cluster.container_image, "cluster.container_image",
               "run `make setup` (or build it inside the image: make setup-container IMAGE=...)"),
              ("generation.python", cfg.generation.python, cluster.generation_image, "cluster.generation_image",
               "run `make setup-gen` (GEN_TARGET=gpu for GPU nodes) or point it at an interpreter that has vLLM")]
    if not generation:  # a step of the Megatron family only (the capability probe)
        checks = checks[:1]
    problems = [p for key, python, image, image_key, hint in checks
                if (p := interpreter_problem(key, python, image, folders, image_key, hint))]
    if containers:
        problems += mount_problems(cfg, stage_paths(cfg))
    return problems


def check_prepared_data(ctx: RunContext) -> None:
    """Raise RunError when the prepared records give nothing to train on: no seed pair for the warm
    start, or no training example for the method. Fewer pairs than `trainer.global_batch_size` still
    train (each epoch's last step takes the remainder: nemo_drift/megatron/schedule.py)."""
    from nemo_drift.controller.sampling import method_inputs
    from nemo_drift.methods.seed import warm_start_pairs

    cfg, data = ctx.cfg, ctx.data_dir
    if cfg.method.warm_start:
        which = cfg.method.warm_start_seeds
        if not warm_start_pairs(read_jsonl(data / "seed_pairs.jsonl", SeedPair), which):
            raise RunError(f"method.warm_start: {data / 'seed_pairs.jsonl'} has 0 DSAT->SAT seed pairs to warm-start "
                           f"on (method.warm_start_seeds={which}); set method.warm_start=false, give data with "
                           "revisions a user accepted, or data.seed_source=<seed pairs file>")
    if cfg.method.iterations == 0:
        return
    inputs = method_inputs(ctx)
    method = get_method(cfg.method.name)
    if not method.needs_sampling:
        return
    without_feedback = sum(not ex.feedback.strip() for ex in inputs.dsat)
    if "guided" in method.honours and cfg.method.guided and without_feedback:
        print(f"warning: method.guided=true, but {without_feedback} of {len(inputs.dsat)} training DSAT records have no "
              "user feedback turn: their chosen side is sampled from the context alone (see the prepare summary)",
              flush=True)
    if not method.sampling_needs(inputs):
        raise RunError(f"method {cfg.method.name!r}: no training example to sample for ({len(inputs.dsat)} DSAT and "
                       f"{len(inputs.sat)} SAT training records in {data}); give more data or lower "
                       "data.heldout_fraction")
