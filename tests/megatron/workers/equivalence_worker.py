"""torchrun worker: tiny-qwen2 sequence log-probs at several TP/PP layouts, and a checkpoint round trip.

argv: <hf_path> <ckpt_dir> <layouts...>, each layout "tp,pp" or "save:tp,pp" (perturb the weights,
report log-probs, save a checkpoint) or "load:tp,pp" (random init, load the checkpoint, report).
Reports {layout: {"sum": [...], "n": [...]}} from every rank.
"""
from __future__ import annotations

import sys

import torch

from common import text_pairs  # noqa: E402  (sets sys.path)


def main() -> None:
    from transformers import AutoTokenizer

    from nemo_drift.config.model import ModelConfig
    from nemo_drift.megatron.batch import collate_pairs
    from nemo_drift.megatron.checkpoint import load_checkpoint, save_checkpoint
    from nemo_drift.megatron.logprobs import sequence_logprobs
    from nemo_drift.megatron.model import build_model
    from nemo_drift.runtime import init_distributed, teardown_distributed
    from tests.distributed import report

    hf_path, ckpt_dir, layouts = sys.argv[1], sys.argv[2], sys.argv[3:]
    tok = AutoTokenizer.from_pretrained(hf_path)
    batch = collate_pairs(text_pairs(tok), pad_id=tok.pad_token_id, seq_length=64)
    results = {}
    for layout in layouts:
        mode, _, sizes = layout.rpartition(":")
        tp, pp = (int(x) for x in sizes.split(","))
        env = init_distributed(tensor_parallel=tp, pipeline_parallel=pp)
        cfg = ModelConfig(hf_path=hf_path, tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp, seq_length=64)
        built = build_model(hf_path, cfg, load_weights=mode != "load", for_training=False)
        if mode == "save":
            with torch.no_grad():
                for p in built.chunks[0].parameters():
                    p.mul_(0.9)  # consistent across shards: the checkpoint holds non-HF weights
        if mode == "load":
            extra = load_checkpoint(ckpt_dir, built.chunks)
            assert extra == {"step": 7, "data_position": 12}, extra
        sums, counts = sequence_logprobs(built.chunks, batch)
        results[layout] = {"sum": sums.tolist(), "n": counts.tolist(), "tp_rank": env.tp_rank, "pp_rank": env.pp_rank}
        if mode == "save":
            save_checkpoint(ckpt_dir, built.chunks, extra={"step": 7, "data_position": 12})
        del built
    report(results)
    teardown_distributed()


if __name__ == "__main__":
    main()
