"""The Megatron stage processes of `nemo-drift run`, one entry point for all of them:

    python -m nemo_drift.megatron.jobs import    config=RUN/config.yaml out=DIR hf=HF_FOLDER
    python -m nemo_drift.megatron.jobs export    config=... out=DIR checkpoint=POLICY template=HF_FOLDER
    python -m nemo_drift.megatron.jobs reference config=... out=FILE checkpoint=POLICY tokens=TOKENS
    python -m nemo_drift.megatron.jobs train     config=... out=DIR checkpoint=POLICY tokens=TOKENS [ref=FILE]
                                                 [heldout=TOKENS heldout_end=FILE [heldout_start=FILE]]
                                                 [pair_scores_end=FILE [pair_scores_start=FILE]]
                                                 epochs=N iteration=K
    python -m nemo_drift.megatron.jobs parity    config=... out=DIR samples=FILE checkpoint=POLICY

Run on one process, under torchrun, or under srun (ranks come from the environment, see
nemo_drift.runtime). `config` is the resolved run config the controller saved; everything else is a
path. POLICY is a checkpoint folder or a stage folder holding one (`resolve_checkpoint`).
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from nemo_drift.config.schema import DriftConfig


def resolve_checkpoint(path: Path) -> Path:
    """The Megatron checkpoint in `path`: itself, its `checkpoint/` child, or the latest training save."""
    from nemo_drift.megatron.trainer import latest_checkpoint

    for candidate in (path, path / "checkpoint"):
        if (candidate / "metadata.json").is_file():
            return candidate
    latest = latest_checkpoint(path)
    if latest is None:
        raise FileNotFoundError(f"no Megatron checkpoint in {path}")
    return latest


def _import(cfg: DriftConfig, out: Path, hf: str) -> None:
    from nemo_drift.megatron.export import import_from_hf

    import_from_hf(hf, out, cfg.model)


def _export(cfg: DriftConfig, out: Path, checkpoint: str, template: str) -> None:
    from nemo_drift.megatron.export import export_to_hf

    stats = export_to_hf(resolve_checkpoint(Path(checkpoint)), template, out, cfg.model, show_progress=True)
    print(f"exported {out} in {stats.seconds:.1f}s", flush=True)


def _reference(cfg: DriftConfig, out: Path, checkpoint: str, tokens: str) -> None:
    from nemo_drift.megatron.reference import read_tokenized_pairs
    from nemo_drift.megatron.train_entry import build_policy, job_layout, pad_token_id, reference_logps
    from nemo_drift.runtime import init_distributed

    model = cfg.model
    init_distributed(model.tensor_model_parallel_size, model.pipeline_model_parallel_size,
                     model.context_parallel_size, seed=cfg.trainer.seed)
    pairs = read_tokenized_pairs(Path(tokens))
    policy = resolve_checkpoint(Path(checkpoint))
    chunks = build_policy(policy, model, for_training=False)
    reference_logps(chunks, pairs, Path(tokens), cfg.trainer, model.seq_length, pad_token_id(model),
                    str(policy.resolve()), path=out, layout=job_layout(model, cfg.trainer))


def _train(cfg: DriftConfig, out: Path, checkpoint: str, tokens: str, epochs: str, iteration: str,
           ref: Optional[str] = None, heldout: Optional[str] = None, heldout_start: Optional[str] = None,
           heldout_end: Optional[str] = None, pair_scores_end: Optional[str] = None,
           pair_scores_start: Optional[str] = None) -> None:
    from nemo_drift.megatron.train_entry import HeldOutScoring, PairScoring, run_training

    trainer = dataclasses.replace(cfg.trainer, epochs=int(epochs),
                                  wandb_run_name=f"{cfg.run.name}-iter{iteration}")
    scoring = (HeldOutScoring(Path(heldout), Path(heldout_end), Path(heldout_start) if heldout_start else None)
               if heldout and heldout_end else None)
    pairs = (PairScoring(Path(pair_scores_end), Path(pair_scores_start) if pair_scores_start else None)
             if pair_scores_end else None)
    run_training(tokens, resolve_checkpoint(Path(checkpoint)), out, cfg.model, trainer,
                 ref_path=Path(ref) if ref else None, heldout=scoring, pair_scores=pairs)


def _parity(cfg: DriftConfig, out: Path, samples: str, checkpoint: str) -> None:
    """Score the samples the controller drew from the export (never samples here: this job runs in the
    training image, where the generation interpreter may not exist, on GPUs vLLM must not share)."""
    from nemo_drift.megatron.parity import score_parity

    report = score_parity(samples, out, cfg.model, score_model_dir=cfg.model.hf_path,
                          checkpoint_dir=resolve_checkpoint(Path(checkpoint)))
    if report is not None:
        print(json.dumps(dataclasses.asdict(report), indent=2), flush=True)
        report.raise_if_off()


JOBS: dict[str, Callable[..., None]] = {"import": _import, "export": _export, "reference": _reference,
                                        "train": _train, "parity": _parity}


def quiet_libraries() -> None:
    """Keep a stage's log readable: megatron-core and Megatron-Bridge log every parameter at INFO, so
    their loggers stay at WARNING; this package's own notes are kept at INFO. Warnings and log records
    go to stderr, which the local launcher writes to the stage's log and not to the console
    (nemo_drift.controller.console); the job's results and progress bars still show."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in ("megatron", "megatron.core", "megatron.bridge"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("nemo_drift").setLevel(logging.INFO)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from nemo_drift.config.loader import load_config_file

    quiet_libraries()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in JOBS:
        print(f"usage: python -m nemo_drift.megatron.jobs {{{'|'.join(JOBS)}}} config=... out=... [key=path ...]",
              file=sys.stderr)
        return 2
    job, pairs = args[0], dict(a.split("=", 1) for a in args[1:])
    cfg = load_config_file(Path(pairs.pop("config")))
    out = Path(pairs.pop("out"))
    JOBS[job](cfg, out, **pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
