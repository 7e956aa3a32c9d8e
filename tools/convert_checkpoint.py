"""Convert between a Megatron distributed checkpoint and a Hugging Face folder (Megatron-Bridge).

    # iteration 0: HF -> Megatron (any TP/PP: run under torchrun with TP x PP processes)
    python tools/convert_checkpoint.py from-hf .cache/models/smollm2-135m-instruct runs/x/iter_0/ckpt
    # after an iteration: Megatron -> HF (what vLLM samples from)
    torchrun --nproc_per_node 2 tools/convert_checkpoint.py to-hf runs/x/iter_1/ckpt runs/x/iter_1/hf \
        --hf-template .cache/models/tiny-qwen2 model.tensor_model_parallel_size=2

A thin wrapper over nemo_drift.megatron.export.main (also `nemo-drift export`); trailing key=value
arguments are config overrides (model.*), read by the one config loader.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nemo_drift.megatron.export import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
