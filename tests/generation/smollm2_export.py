"""One Megatron round trip of SmolLM2 per test session, shared by the export, sampler and parity tests.

HF SmolLM2 -> Megatron checkpoint (import) -> HF folder (export), and the same checkpoint with every
weight scaled by 0.9 -> a second HF folder (proves the export reads the checkpoint, not the template).
"""
from __future__ import annotations

from pathlib import Path

from tests.distributed import run_torchrun

WORKER = Path(__file__).resolve().parent / "workers" / "export_worker.py"


def smollm2_roundtrip(base: Path, smollm2_path: Path) -> dict[str, Path]:
    """Paths {"hf", "perturbed", "ckpt"} of the session's round trip (built on first use)."""
    root = base / "smollm2_roundtrip"
    paths = {"ckpt": root / "ckpt", "ckpt_perturbed": root / "ckpt_perturbed", "hf": root / "hf",
             "perturbed": root / "hf_perturbed"}
    if not (root / "done").exists():
        root.mkdir(parents=True, exist_ok=True)
        steps = [f"import:{paths['ckpt']}", f"export:{paths['ckpt']}:{paths['hf']}",
                 f"perturb:{paths['ckpt']}:{paths['ckpt_perturbed']}",
                 f"export:{paths['ckpt_perturbed']}:{paths['perturbed']}"]
        reports = run_torchrun(WORKER, 1, [str(smollm2_path), "1", *steps], root)
        (root / "report.txt").write_text(repr(reports))
        (root / "done").touch()
    return paths
