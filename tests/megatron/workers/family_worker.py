"""torchrun worker (2 gloo processes): every registered family, HF vs Megatron and the export round trip,
at TP1 (x DP2), TP2 and PP2.

argv: <out_dir> <family=hf_path ...>. For each family and layout it reports, from the last pipeline
stage of data-parallel rank 0: the HF-vs-Megatron per-token log-prob gap on text longer than every
sliding window, and the largest |difference| between the original HF weights and the ones the bridge
writes back from the Megatron model.
"""
from __future__ import annotations

import sys
from pathlib import Path

import common  # noqa: F401  (sets sys.path)

LAYOUTS = ((1, 1), (2, 1), (1, 2))
LENGTH = 96
"""Tokens per checked sequence: beyond the tiny Gemma 3's 16-token sliding window."""


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for file in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(file)))
    return out


def _weight_gap(original: Path, exported: Path) -> dict:
    before, after = _weights(original), _weights(exported)
    tied = {"lm_head.weight"} if "lm_head.weight" not in after else set()
    missing = sorted(set(before) - set(after) - tied)
    extra = sorted(set(after) - set(before))
    gap = max(((before[k].float() - after[k].float()).abs().max().item() for k in set(before) & set(after)), default=0.0)
    return {"max_abs": gap, "missing": missing, "extra": extra}


def main() -> None:
    import torch.distributed as dist
    from megatron.core import parallel_state as ps

    from nemo_drift.config.model import ModelConfig
    from nemo_drift.megatron.export import save_built_to_hf
    from nemo_drift.megatron.hf_parity import hf_vs_megatron
    from nemo_drift.megatron.model import build_model
    from nemo_drift.runtime import init_distributed, teardown_distributed
    from tests.distributed import report

    out_dir = Path(sys.argv[1])
    families = dict(arg.split("=", 1) for arg in sys.argv[2:])
    results: dict = {}
    for family, hf_path in families.items():
        for tp, pp in LAYOUTS:
            layout = f"tp{tp}pp{pp}"
            cfg = ModelConfig(hf_path=hf_path, tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp,
                              seq_length=LENGTH, precision="fp32")
            parity = hf_vs_megatron(hf_path, cfg, LENGTH)
            init_distributed(tensor_parallel=tp, pipeline_parallel=pp)
            built = build_model(hf_path, cfg, for_training=False)
            exported = out_dir / f"{family}_{layout}"
            save_built_to_hf(built, hf_path, exported)
            dist.barrier()
            entry = {"export": _weight_gap(Path(hf_path), exported) if dist.get_rank() == 0 else None}
            if parity is not None and ps.get_data_parallel_rank() == 0:
                entry.update(max_abs=parity.max_abs, mean_abs=parity.mean_abs, tokens=parity.tokens, ok=parity.ok)
            results.setdefault(family, {})[layout] = entry
            del built
    report(results)
    teardown_distributed()


if __name__ == "__main__":
    main()
