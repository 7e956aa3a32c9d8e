"""Megatron distributed checkpoint <-> Hugging Face folder, through Megatron-Bridge.

- `export_to_hf`: what vLLM samples from after each iteration. Builds the model skeleton from the
  iteration-0 HF folder (`hf_template_dir`: architecture, tokenizer, chat template), loads the
  dist_checkpointing checkpoint (written at any TP/PP; it reshards on load), and writes the HF folder
  with the bridge's weight export (`save_hf_weights`, the weight half of `save_hf_pretrained`) plus the
  template's config, tokenizer, chat template and generation config.
- `import_from_hf`: iteration 0, HF folder -> dist_checkpointing checkpoint.

Both are collective (every rank of a torchrun/srun job calls them; TP/PP come from `model_cfg`) and
also run as one process on CPU. Outputs are written to a hidden temp folder beside the target and
renamed at the end, so a crash never leaves a folder that looks finished.

Pitfalls handled (see docs/megatron-bridge.md):
- Tied embeddings (SmolLM2, Qwen2.5 <= 3B): the bridge exports no separate `lm_head.weight` (290 vs 291
  tensors in the doc); that is correct only when config.json says `tie_word_embeddings: true`, so
  `check_hf_folder` verifies the pair (untied Qwen2.5 7B+ must carry its own lm_head).
- `save_hf_pretrained` needs a tokenizer in the source HF folder; here the template folder provides the
  tokenizer and every other non-weight file, copied next to the exported weights.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from nemo_drift.config.model import ModelConfig

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_NOT_ARTIFACTS = {"config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json", ".complete"}


@dataclass
class ConversionStats:
    """How long a conversion took and how much it wrote (bench/bench_export.py reports these)."""

    out_dir: Path
    seconds: float
    bytes_written: int


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _init(model_cfg: ModelConfig) -> None:
    from nemo_drift.runtime import init_distributed

    init_distributed(tensor_parallel=model_cfg.tensor_model_parallel_size,
                     pipeline_parallel=model_cfg.pipeline_model_parallel_size,
                     context_parallel=model_cfg.context_parallel_size)


def _tmp_beside(target: Path) -> Path:
    """Same path on every rank (ranks must agree on where to write)."""
    return target.parent / f".{target.name}.tmp"


def _fresh_tmp(target: Path) -> Path:
    tmp = _tmp_beside(target)
    if _rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
    _barrier()
    return tmp


def _publish(tmp: Path, target: Path) -> None:
    """Rank 0 replaces `target` by `tmp` (old target removed first); everyone waits."""
    if _rank() == 0:
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    _barrier()


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def copy_artifacts(template_dir: Path, out_dir: Path, include_config: bool = False) -> list[str]:
    """Copy tokenizer, chat template, generation config (every non-weight file; config.json too when
    `include_config`) that `out_dir` does not have yet."""
    copied = []
    skip = _NOT_ARTIFACTS - ({"config.json"} if include_config else set())
    for src in sorted(Path(template_dir).iterdir()):
        if not src.is_file() or src.name in skip or src.name.endswith(_WEIGHT_SUFFIXES):
            continue
        if not (out_dir / src.name).exists():
            shutil.copy2(src, out_dir / src.name)
            copied.append(src.name)
    return copied


def _safetensor_keys(folder: Path) -> set[str]:
    from safetensors import safe_open

    keys: set[str] = set()
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as handle:
            keys.update(handle.keys())
    return keys


def check_hf_folder(folder: Path) -> None:
    """Fail when the folder cannot serve vLLM: weights, config, tokenizer, and a consistent lm_head."""
    config_path = folder / "config.json"
    if not config_path.exists():
        raise RuntimeError(f"{folder}: no config.json after export")
    config = json.loads(config_path.read_text())
    keys = _safetensor_keys(folder)
    if not keys:
        raise RuntimeError(f"{folder}: no safetensors weights after export")
    tied = config.get("tie_word_embeddings", False)
    if not tied and "lm_head.weight" not in keys:
        raise RuntimeError(f"{folder}: config.json has tie_word_embeddings=false but no lm_head.weight was "
                           "exported; the model would sample from a random output layer")
    if not any((folder / name).exists() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise RuntimeError(f"{folder}: no tokenizer files; the HF template folder must hold the tokenizer")


def _set_config_dtype(folder: Path, dtype: torch.dtype) -> None:
    """config.json's dtype = the exported weights' dtype (vLLM's dtype="auto" reads it)."""
    path = folder / "config.json"
    config = json.loads(path.read_text())
    name = str(dtype).removeprefix("torch.")
    config["dtype"] = name
    if "torch_dtype" in config:
        config["torch_dtype"] = name
    path.write_text(json.dumps(config, indent=2, sort_keys=True))


def export_to_hf(checkpoint_dir: str | Path, hf_template_dir: str | Path, out_dir: str | Path,
                 model_cfg: ModelConfig, show_progress: bool = False) -> ConversionStats:
    """Write the Megatron checkpoint `checkpoint_dir` as a Hugging Face folder `out_dir` (collective).

    `hf_template_dir` is the HF folder the run started from (same architecture); its tokenizer, chat
    template and generation config travel with the export. Returns timing and size (on rank 0).
    """
    from nemo_drift.megatron.checkpoint import load_checkpoint
    from nemo_drift.megatron.model import build_model

    start = time.perf_counter()
    out_dir, template = Path(out_dir), Path(hf_template_dir)
    _init(model_cfg)
    built = build_model(template, model_cfg, load_weights=False, for_training=False)
    load_checkpoint(checkpoint_dir, built.chunks, load_rng=False)
    return _write_hf(built, template, out_dir, show_progress, start)


def save_built_to_hf(built: object, hf_template_dir: str | Path, out_dir: str | Path,
                     show_progress: bool = False) -> ConversionStats:
    """Write an in-memory BuiltModel (e.g. right after training) as a HF folder (collective)."""
    return _write_hf(built, Path(hf_template_dir), Path(out_dir), show_progress, time.perf_counter())


def _write_hf(built: object, template: Path, out_dir: Path, show_progress: bool, start: float) -> ConversionStats:
    tmp = _fresh_tmp(out_dir)
    # Weights through the bridge (the weight half of save_hf_pretrained, collective); the artifacts
    # (config, tokenizer, chat template, generation config) are copied from the template instead of
    # save_hf_pretrained's artifact step, which re-saves the tokenizer and fails when the bridge was
    # opened with a `dtype` kwarg (TypeError: dtype is not JSON serializable in tokenizer_config).
    built.bridge.save_hf_weights(built.chunks, tmp, show_progress=show_progress)  # type: ignore[attr-defined]
    _barrier()
    size = 0
    if _rank() == 0:
        copy_artifacts(template, tmp, include_config=True)
        _set_config_dtype(tmp, built.provider.params_dtype)  # type: ignore[attr-defined]
        check_hf_folder(tmp)
        size = _folder_bytes(tmp)
    _publish(tmp, out_dir)
    return ConversionStats(out_dir, time.perf_counter() - start, size)


def import_from_hf(hf_path: str | Path, out_checkpoint_dir: str | Path, model_cfg: ModelConfig) -> ConversionStats:
    """Iteration 0: the HF folder `hf_path` as a Megatron dist checkpoint at `out_checkpoint_dir` (collective)."""
    from nemo_drift.megatron.checkpoint import save_checkpoint
    from nemo_drift.megatron.model import build_model

    start = time.perf_counter()
    target = Path(out_checkpoint_dir)
    _init(model_cfg)
    built = build_model(Path(hf_path), model_cfg, load_weights=True, for_training=False)
    tmp = _fresh_tmp(target)
    save_checkpoint(tmp, built.chunks, extra={"source_hf": str(hf_path)}, save_rng=False)
    size = _folder_bytes(tmp) if _rank() == 0 else 0
    _publish(tmp, target)
    return ConversionStats(target, time.perf_counter() - start, size)


def main(argv: list[str] | None = None) -> int:
    """`nemo-drift export` / tools/convert_checkpoint.py: convert one way (collective under torchrun).

    Model settings (parallel layout, precision) are config overrides read by the one loader, e.g.
    `nemo-drift export to-hf CKPT OUT --hf-template HF model.tensor_model_parallel_size=2`.
    """
    import argparse
    import os

    from nemo_drift.config.loader import load_config

    parser = argparse.ArgumentParser(prog="nemo-drift export", description="Megatron dist checkpoint <-> Hugging Face "
                                     "folder; trailing key=value arguments are config overrides (model.*)")
    sub = parser.add_subparsers(dest="direction", required=True)
    to_hf = sub.add_parser("to-hf", help="Megatron checkpoint -> HF folder")
    to_hf.add_argument("checkpoint_dir", type=Path)
    to_hf.add_argument("out_dir", type=Path)
    to_hf.add_argument("--hf-template", type=Path, required=True, help="HF folder the run started from")
    from_hf = sub.add_parser("from-hf", help="HF folder -> Megatron checkpoint (iteration 0)")
    from_hf.add_argument("hf_path", type=Path)
    from_hf.add_argument("checkpoint_dir", type=Path)
    args, overrides = parser.parse_known_args(argv)
    hf = args.hf_template if args.direction == "to-hf" else args.hf_path
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cfg = load_config([f"model.hf_path={hf}", *overrides], world_size=world, groups=("model",)).model
    if args.direction == "to-hf":
        stats = export_to_hf(args.checkpoint_dir, args.hf_template, args.out_dir, cfg)
    else:
        stats = import_from_hf(args.hf_path, args.checkpoint_dir, cfg)
    if _rank() == 0:
        print(f"wrote {stats.out_dir} ({stats.bytes_written / 1e9:.2f} GB) in {stats.seconds:.1f}s")
    return 0


if __name__ == "__main__":  # dist_checkpointing starts a multiprocessing Manager (megatron-on-cpu.md)
    raise SystemExit(main())
