"""`nemo-drift train`: one DPO training job, tokenized pairs in, Megatron checkpoint out.

    torchrun --nproc_per_node 2 -m nemo_drift.megatron.train_entry pairs=run/tokens.jsonl \
        init=.cache/models/tiny-qwen2 out=run/train model=tiny_qwen2 \
        model.tensor_model_parallel_size=2 trainer.lr=5e-7 trainer.loss=rpo

The settings come from the one config loader (conf/drift.yaml, presets, overrides), as for every other
command. Steps: check every setting (before any work), start distributed, build the policy from `init` (a
Hugging Face folder or a Megatron checkpoint folder), get the reference log-probs (the stored file
next to the pairs when it is there, else one forward-only pass, written beside the pairs), train,
checkpoint to `out`. File formats: see reference.py.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from nemo_drift.config.model import ModelConfig
from nemo_drift.config.trainer import TrainerConfig
from nemo_drift.megatron.optimizer import wrap_ddp
from nemo_drift.megatron.reference import (RefLogps, gather_reference_logps, microbatch_logps, read_ref_logps,
                                           read_tokenized_pairs, ref_logps_path, write_ref_logps)
from nemo_drift.megatron.trainer import (Layout, TrainResult, latest_checkpoint, make_microbatch, row_packer, to_device,
                                         train, unwrap)

logger = logging.getLogger(__name__)


def is_megatron_checkpoint(path: Path) -> bool:
    """A Megatron checkpoint folder (what checkpoint.py writes) rather than a Hugging Face folder."""
    return latest_checkpoint(Path(path)) is not None


def pad_token_id(model_cfg: ModelConfig) -> int:
    """Padding id from the model's config.json (any id works: padded positions are masked out)."""
    hf = model_cfg.hf_config() or {}
    for key in ("pad_token_id", "eos_token_id"):
        value = hf.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, int):
            return value
    return 0


def check_settings(model_cfg: ModelConfig, trainer_cfg: TrainerConfig, world_size: int,
                   pairs_path: Path, init_path: Path) -> list[str]:
    """Every problem with the inputs and settings, one message each (checked before any work)."""
    errors = model_cfg.validate(world_size)
    mp = model_cfg.tensor_model_parallel_size * model_cfg.pipeline_model_parallel_size * model_cfg.context_parallel_size
    dp = world_size // mp if mp > 0 and world_size % mp == 0 else None
    errors += trainer_cfg.validate(dp)
    if not Path(pairs_path).is_file():
        errors.append(f"pairs: {pairs_path} is not a file (tokenized pairs JSONL, see nemo_drift/megatron/reference.py)")
    if not Path(init_path).exists():
        errors.append(f"init: {init_path} does not exist (a Hugging Face folder or a Megatron checkpoint)")
    if trainer_cfg.reference_path and not Path(trainer_cfg.reference_path).exists():
        errors.append(f"trainer.reference_path: {trainer_cfg.reference_path} does not exist")
    return errors


def build_policy(init_path: Path, model_cfg: ModelConfig, for_training: bool,
                 trainer_cfg: Optional[TrainerConfig] = None) -> list[Any]:
    """Model chunks initialised from an HF folder or a Megatron checkpoint (weights only)."""
    from nemo_drift.megatron import checkpoint as ckpt
    from nemo_drift.megatron.model import build_model

    if is_megatron_checkpoint(init_path):
        built = build_model(model_cfg.hf_path, model_cfg, load_weights=False, for_training=for_training,
                            wrap_with_ddp=False)
        ckpt.load_checkpoint(latest_checkpoint(Path(init_path)), unwrap(built.chunks), None, load_rng=False)
    else:
        built = build_model(str(init_path), model_cfg, load_weights=True, for_training=for_training,
                            wrap_with_ddp=False)
    chunks = list(built.chunks)
    return wrap_ddp(chunks, trainer_cfg) if for_training else chunks


def job_layout(model_cfg: ModelConfig, trainer_cfg: TrainerConfig) -> Layout:
    """Padded or packed micro-batches for a job (trainer.packing with the attention backend that will run)."""
    packed = trainer_cfg.packs(model_cfg.resolved_attention_backend(), model_cfg.context_parallel_size)
    return Layout.of(packed, trainer_cfg, model_cfg.seq_length, model_cfg.pipeline_model_parallel_size)


def reference_microbatches(pairs: Sequence[Any], trainer_cfg: TrainerConfig, seq_length: int, pad_id: int,
                           dp_rank: int, dp_size: int, device: Any, layout: Layout = Layout()
                           ) -> list[list[dict[str, Any]]]:
    """This rank's share of all pairs (pairs dp_rank, dp_rank + dp, ...) in groups of equal-shape
    micro-batches (full micro-batches, then the remainder), one pipeline pass per group; packed, one
    group of rows placed as the training step places them."""
    mine = list(pairs[dp_rank::dp_size])
    if layout.packed:
        rows = row_packer(mine, trainer_cfg, seq_length)(list(range(len(mine)))) if mine else []
        return [[to_device(make_microbatch([mine[i] for i in row], pad_id, seq_length, layout=layout), device)
                 for row in rows]] if rows else []
    mbs = trainer_cfg.micro_batch_size
    full = len(mine) - len(mine) % mbs
    groups = [[mine[i:i + mbs] for i in range(0, full, mbs)]]
    if full < len(mine):
        groups.append([mine[full:]])
    return [[to_device(make_microbatch(chunk, pad_id, seq_length), device) for chunk in group] for group in groups if group]


def stored_reference(path: Path, pairs: Sequence[Any], reference_model: str, seq_length: int) -> Optional[dict[str, RefLogps]]:
    """The stored reference log-probs when they were made by this model at this seq_length, else None."""
    if not path.exists():
        return None
    values = read_ref_logps(path, [p.id for p in pairs])
    stale = [v.id for v in values.values() if (v.reference_model, v.seq_length) != (reference_model, seq_length)]
    if stale:
        logger.info("%s: made by another reference model or seq_length (pair %s); recomputing", path, stale[0])
        return None
    return values


def reference_logps(chunks: list[Any], pairs: Sequence[Any], pairs_path: Path, trainer_cfg: TrainerConfig,
                    seq_length: int, pad_id: int, reference_model: str,
                    path: Optional[Path] = None, layout: Layout = Layout()) -> dict[str, RefLogps]:
    """The stored reference log-probs of the pairs, computed (one forward-only pass) and written when
    absent or stale. They live beside the pairs unless `path` says where (the run's reference stage)."""
    import torch.distributed as dist
    from megatron.core import parallel_state as ps

    path = Path(path) if path is not None else ref_logps_path(pairs_path)
    stored = stored_reference(path, pairs, reference_model, seq_length)
    if dist.is_initialized():
        dist.barrier()  # every rank has read the old file before rank 0 replaces it
    if stored is not None:
        return stored
    device = next(chunks[0].parameters()).device
    local: dict[str, RefLogps] = {}
    for group in reference_microbatches(pairs, trainer_cfg, seq_length, pad_id, ps.get_data_parallel_rank(),
                                        ps.get_data_parallel_world_size(), device, layout):
        local.update(microbatch_logps(chunks, group))
    values = gather_reference_logps(local)
    for value in values.values():
        value.reference_model, value.seq_length = reference_model, seq_length
    if not dist.is_initialized() or dist.get_rank() == 0:
        write_ref_logps(path, (values[p.id] for p in pairs))
    if dist.is_initialized():
        dist.barrier()
    return values


def run_training(pairs_path: Path | str, init_path: Path | str, out_dir: Path | str, model_cfg: ModelConfig,
                 trainer_cfg: TrainerConfig, resume: bool = True, stop_after_step: Optional[int] = None,
                 ref_path: Optional[Path] = None, heldout: Optional[HeldOutScoring] = None,
                 pair_scores: Optional[PairScoring] = None) -> TrainResult:
    """One DPO job: pairs file + starting weights -> checkpoints and metrics.jsonl in `out_dir`.

    `ref_path`: reference log-probs computed by the run's reference stage (used as they are);
    without it they are read from beside the pairs, or computed there. `heldout`: held-out records
    scored with the trained weights after the last step, and with the starting weights before the first
    when `heldout.start` is set (the same forward-only pass as the reference; nemo_drift/eval/heldout.py
    reads the scores). `pair_scores`: the job's own pairs scored the same way, for the margin-health
    figures (nemo_drift/eval/margins.py).

    Must run under torchrun/srun for more than one process. Raises ValueError listing every bad
    setting before doing any work.
    """
    import os

    from nemo_drift.runtime.distributed import init_distributed

    pairs_path, init_path, out_dir = Path(pairs_path), Path(init_path), Path(out_dir)
    world = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1")))
    errors = check_settings(model_cfg, trainer_cfg, world, pairs_path, init_path)
    if errors:
        raise ValueError("invalid settings:\n  " + "\n  ".join(errors))
    init_distributed(model_cfg.tensor_model_parallel_size, model_cfg.pipeline_model_parallel_size,
                     model_cfg.context_parallel_size, seed=trainer_cfg.seed)
    pairs = read_tokenized_pairs(pairs_path)
    pad_id, seq = pad_token_id(model_cfg), model_cfg.seq_length
    layout = job_layout(model_cfg, trainer_cfg)
    chunks = build_policy(init_path, model_cfg, for_training=True, trainer_cfg=trainer_cfg)
    score_heldout = _heldout_scorer(heldout, chunks, trainer_cfg, seq, pad_id, layout)
    score_heldout("start", str(init_path.resolve()))
    if pair_scores is not None and pair_scores.start is not None:
        reference_logps(chunks, pairs, pairs_path, trainer_cfg, seq, pad_id, str(init_path.resolve()),
                        path=pair_scores.start, layout=layout)
    base = Path(trainer_cfg.base_reference(model_cfg.hf_path))
    if trainer_cfg.reference == "in_loop":
        ref_source = init_path if trainer_cfg.reference_model == "iteration_start" else base
        ref_chunks = build_policy(ref_source, model_cfg, for_training=False)
        result = train(chunks, pairs, trainer_cfg, out_dir, seq_length=seq, pad_id=pad_id, ref_chunks=ref_chunks,
                       resume=resume, stop_after_step=stop_after_step, layout=layout)
    else:
        if ref_path is not None:
            ref = read_ref_logps(Path(ref_path), [p.id for p in pairs])
        elif trainer_cfg.reference_model == "base":
            ref_model = build_policy(base, model_cfg, for_training=False)
            ref = reference_logps(ref_model, pairs, pairs_path, trainer_cfg, seq, pad_id, str(base.resolve()),
                                  layout=layout)
            del ref_model
        else:
            ref = reference_logps(chunks, pairs, pairs_path, trainer_cfg, seq, pad_id, str(init_path.resolve()),
                                  layout=layout)
        result = train(chunks, pairs, trainer_cfg, out_dir, seq_length=seq, pad_id=pad_id, ref_logps=ref,
                       resume=resume, stop_after_step=stop_after_step, layout=layout)
    if stop_after_step is None:
        trained = f"{out_dir.resolve()}@step{result.last_step}"
        score_heldout("end", trained)
        if pair_scores is not None:
            reference_logps(chunks, pairs, pairs_path, trainer_cfg, seq, pad_id, trained, path=pair_scores.end,
                            layout=layout)
    return result


@dataclass(frozen=True)
class HeldOutScoring:
    """Where a training job reads the tokenized held-out records and writes their scores."""

    tokens: Path
    end: Path
    """Scores with the weights of its last step."""
    start: Optional[Path] = None
    """Scores with the weights the job starts from (a resumed job reuses them), when wanted."""


@dataclass(frozen=True)
class PairScoring:
    """Where a training job writes its own pairs' log-probs under the weights it ends with (and starts from,
    when `start` is set: with a "base" reference the starting weights are not the reference)."""

    end: Path
    start: Optional[Path] = None


def _heldout_scorer(heldout: Optional[HeldOutScoring], chunks: list[Any], trainer_cfg: TrainerConfig, seq_length: int,
                    pad_id: int, layout: Layout) -> Callable[[str, str], None]:
    """score(when, model_name): the held-out records through the reference pass of `chunks` as they are now,
    written to `heldout.start` or `heldout.end`; nothing when there is nothing held out."""
    records = read_tokenized_pairs(heldout.tokens) if heldout is not None else []

    def score(when: str, model_name: str) -> None:
        path = None if heldout is None else heldout.start if when == "start" else heldout.end
        if records and path is not None:
            reference_logps(chunks, records, heldout.tokens, trainer_cfg, seq_length, pad_id, model_name, path=path,
                            layout=layout)
    return score


# --- command line -----------------------------------------------------------------------------

JOB_PATHS = ("pairs", "init", "out")
"""The job's own `key=path` arguments; every other argument is a config override."""


def split_job_args(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """`pairs=P init=I out=O key=value ...` -> ({pairs, init, out}, config overrides). When no override
    names the model, `model.hf_path` defaults to `init` if that is a Hugging Face folder."""
    paths = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv if a.split("=", 1)[0] in JOB_PATHS}
    overrides = [a for a in argv if a.split("=", 1)[0] not in JOB_PATHS]
    missing = [k for k in JOB_PATHS if k not in paths]
    if missing:
        raise ValueError(f"{', '.join(missing)}: required (nemo-drift train pairs=TOKENS.jsonl init=HF_OR_CKPT out=DIR "
                         "[key=value ...])")
    names_model = any(o.lstrip("+").startswith(("model=", "model.hf_path=")) for o in overrides)
    if not names_model and (Path(paths["init"]) / "config.json").is_file():
        overrides.append(f"model.hf_path={paths['init']}")
    return paths, overrides


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of `nemo-drift train`: the config comes from the one loader (conf/drift.yaml +
    overrides), validated for this job's world size before any model is built."""
    import os

    from nemo_drift.config.loader import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    paths, overrides = split_job_args(list(sys.argv[1:] if argv is None else argv))
    world = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1")))
    cfg = load_config(overrides, world_size=world, groups=("model", "trainer"))
    result = run_training(paths["pairs"], paths["init"], paths["out"], cfg.model, cfg.trainer)
    logger.info("trained steps %d-%d; checkpoint %s", result.first_step, result.last_step, result.checkpoint_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
