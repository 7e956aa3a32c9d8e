"""Export time: Megatron dist checkpoint -> Hugging Face folder for SmolLM2-135M (fp32), one process.

    .venv/train/bin/python bench/bench_export.py

Imports the HF folder to a Megatron checkpoint first (timed too), then exports it `--repeat` times and
reports the best time, the bytes written and the seconds per GB (for extrapolating to 7B-72B; the
extrapolation is linear in bytes and says nothing about GPU/cluster file systems).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / ".cache" / "models" / "smollm2-135m-instruct")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from nemo_drift.config.model import ModelConfig
    from nemo_drift.megatron.export import export_to_hf, import_from_hf

    cfg = ModelConfig(hf_path=str(args.model), precision="fp32", seq_length=256)
    with tempfile.TemporaryDirectory(dir=REPO / "runs" if (REPO / "runs").exists() else None) as tmp:
        root = Path(tmp)
        imported = import_from_hf(args.model, root / "ckpt", cfg)
        exports = []
        for i in range(args.repeat):
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            stats = export_to_hf(root / "ckpt", args.model, root / f"hf{i}", cfg)
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            exports.append({"seconds": stats.seconds, "bytes": stats.bytes_written,
                            "cpu_s": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime})
    best = min(exports, key=lambda e: e["seconds"])
    gb = best["bytes"] / 1e9
    print(json.dumps({"import_seconds": imported.seconds, "import_bytes": imported.bytes_written,
                      "exports": exports, "best_export_seconds": best["seconds"], "export_gb": gb,
                      "export_seconds_per_gb": best["seconds"] / gb,
                      "extrapolated_seconds_7b_bf16_15gb": 15.2 * best["seconds"] / gb,
                      "extrapolated_seconds_72b_bf16_145gb": 145 * best["seconds"] / gb}, indent=2))


if __name__ == "__main__":  # dist_checkpointing starts a multiprocessing Manager
    main()
