"""GPU-only check (run by hand on a lent GPU, not by pytest): RMSprop through megatron's bf16 wrappers.

    python tests/megatron/train_workers/gpu_optimizer_check.py OUT_JSON

Tiny GPTModel in bf16 on one GPU, 4 steps each: RMSprop with the distributed optimizer, RMSprop with
Float16OptimizerWithFloat16Params, Adam with the distributed optimizer; then a dist_checkpointing
save/load round trip of the distributed RMSprop state. Writes a JSON report.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


def build(seed: int = 3):
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer import TransformerConfig

    torch.manual_seed(seed)
    from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed
    model_parallel_cuda_manual_seed(seed)
    cfg = TransformerConfig(num_layers=2, hidden_size=64, num_attention_heads=4, bf16=True, params_dtype=torch.bfloat16,
                            pipeline_dtype=torch.bfloat16, gradient_accumulation_fusion=False, persist_layer_norm=False,
                            bias_dropout_fusion=False, apply_rope_fusion=False, masked_softmax_fusion=False,
                            hidden_dropout=0.0, attention_dropout=0.0)
    from megatron.core.transformer.module import Float16Module

    model = GPTModel(cfg, get_gpt_layer_local_spec(), vocab_size=128, max_sequence_length=32).cuda()
    return [Float16Module(cfg, model)]


def steps(chunks, opt, n: int, tokens) -> tuple[list[float], list[float]]:
    from nemo_drift.megatron.optimizer import optimizer_step

    losses, norms = [], []
    pos = torch.arange(tokens.shape[1], device="cuda").expand_as(tokens)
    for _ in range(n):
        for c in chunks:
            c.zero_grad_buffer()
        opt.zero_grad()
        loss = chunks[0](tokens, pos, None, labels=tokens).float().mean()
        loss.backward()
        for c in chunks:
            c.finish_grad_sync()
        ok, norm = optimizer_step(opt)
        losses.append(loss.item())
        norms.append(norm)
    return losses, norms


def run(optimizer: str, distributed: bool, n: int = 4) -> dict:
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.megatron.optimizer import build_optimizer, wrap_ddp

    cfg = TrainerConfig(optimizer=optimizer, lr=1e-3, use_distributed_optimizer=distributed)
    chunks = wrap_ddp(build(), cfg)
    opt = build_optimizer(chunks, cfg)
    tokens = torch.randint(0, 128, (4, 32), generator=torch.Generator().manual_seed(0)).cuda()
    losses, norms = steps(chunks, opt, n, tokens)
    wrappers = [type(w).__name__ for w in getattr(opt, "chained_optimizers", [opt])]
    inner = [type(w.optimizer).__name__ for w in getattr(opt, "chained_optimizers", [opt])]
    out = {"losses": losses, "grad_norms": norms, "wrappers": wrappers, "inner": inner}
    if distributed:
        try:
            out["roundtrip"] = roundtrip(chunks, opt, cfg, tokens)
        except Exception as err:
            import traceback
            out["roundtrip"] = {"error": repr(err), "trace": traceback.format_exc()[-2500:]}
    return out


def roundtrip(chunks, opt, cfg, tokens) -> dict:
    """Save after 4 steps, take 2 more; reload into a fresh model/optimizer, take 2: same losses.

    Uses dist_checkpointing directly with the distributed optimizer's "fully_reshardable" format (the
    default "fully_sharded_model_space" raises "ShardedTensor.flattened_range is not supported" in
    megatron-core 0.19.2).
    """
    from megatron.core import dist_checkpointing

    from nemo_drift.megatron.optimizer import build_optimizer, prepare_for_load, wrap_ddp
    from nemo_drift.megatron.trainer import unwrap

    meta = {"distrib_optim_sharding_type": "fully_reshardable"}

    def state(model_chunks, optimizer, loading: bool) -> dict:
        model_sd = unwrap(model_chunks)[0].sharded_state_dict()
        return {"model": model_sd, "optimizer": optimizer.sharded_state_dict(model_sd, is_loading=loading, metadata=meta)}

    path = Path(tempfile.mkdtemp()) / "ck"
    path.mkdir()
    dist_checkpointing.save(state(chunks, opt, False), str(path))
    keys = sorted(next(iter(opt.chained_optimizers[0].optimizer.state.values())).keys())
    cont, _ = steps(chunks, opt, 2, tokens)
    fresh = wrap_ddp(build(seed=99), cfg)
    fresh_opt = build_optimizer(fresh, cfg)
    prepare_for_load(fresh_opt)
    loaded = dist_checkpointing.load(state(fresh, fresh_opt, True), str(path))
    unwrap(fresh)[0].load_state_dict(loaded["model"])
    fresh_opt.load_state_dict(loaded["optimizer"])
    again, _ = steps(fresh, fresh_opt, 2, tokens)
    return {"continued": cont, "reloaded": again, "state_keys": keys}


def main() -> None:
    from nemo_drift.runtime.distributed import init_distributed

    init_distributed(1, 1, 1, seed=3)
    report = {"device": torch.cuda.get_device_name()}
    for name, opt, dist in (("rmsprop_dist", "rmsprop", True), ("rmsprop_fp16wrapper", "rmsprop", False),
                            ("adam_dist", "adam", True)):
        try:
            report[name] = run(opt, dist)
        except Exception as err:  # report and go on: one failure should not hide the others
            import traceback
            report[name] = {"error": repr(err), "trace": traceback.format_exc()[-3000:]}
    Path(sys.argv[1]).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1)[:6000])


if __name__ == "__main__":
    main()
