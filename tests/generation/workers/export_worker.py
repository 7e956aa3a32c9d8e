"""torchrun worker: Megatron <-> HF conversion steps at a given TP, run in order.

argv: <hf_template> <tp> <steps...>, each step one of
    import:<ckpt>             HF template -> Megatron checkpoint
    perturb:<src>:<dst>       load <src>, scale every weight by 0.9, save <dst> (non-HF weights)
    export:<ckpt>:<out>       Megatron checkpoint -> HF folder
Reports {"seconds": {step: s}, "bytes": {step: n}} from rank 0.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # repo root: nemo_drift and tests.distributed


def main() -> None:
    import torch

    from nemo_drift.config.model import ModelConfig
    from nemo_drift.megatron.checkpoint import load_checkpoint, save_checkpoint
    from nemo_drift.megatron.export import export_to_hf, import_from_hf
    from nemo_drift.megatron.model import build_model
    from nemo_drift.runtime import init_distributed, teardown_distributed
    from tests.distributed import report

    hf, tp, steps = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    cfg = ModelConfig(hf_path=str(hf), tensor_model_parallel_size=tp, precision="fp32", seq_length=256)
    env = init_distributed(tensor_parallel=tp)
    seconds, sizes = {}, {}
    for step in steps:
        kind, *paths = step.split(":")
        start = time.perf_counter()
        if kind == "import":
            sizes[step] = import_from_hf(hf, paths[0], cfg).bytes_written
        elif kind == "export":
            sizes[step] = export_to_hf(paths[0], hf, paths[1], cfg).bytes_written
        elif kind == "perturb":
            built = build_model(hf, cfg, load_weights=False, for_training=False)
            load_checkpoint(paths[0], built.chunks, load_rng=False)
            with torch.no_grad():
                for param in built.chunks[0].parameters():
                    param.mul_(0.9)
            save_checkpoint(paths[1], built.chunks, save_rng=False)
        else:
            raise ValueError(step)
        seconds[step] = time.perf_counter() - start
    if env.rank == 0:
        report({"seconds": seconds, "bytes": sizes})
    teardown_distributed()


if __name__ == "__main__":
    main()
