"""Peak GPU memory of a DPO step, estimated on a CPU-only machine (fake tensors, no compute).

    .venv/train/bin/python bench/estimate_dpo_memory.py                      # Qwen2.5-1.5B shape, bf16
    .venv/train/bin/python bench/estimate_dpo_memory.py --layers 2 --seq 512  # quicker, smaller

Runs the same code as bench/bench_dpo_step.py's paths under torch's FakeTensorMode (every tensor has
a shape, dtype and size but no data and no kernel runs) and tracks every allocation with
torch.distributed._tools.MemTracker, so the peak of live bytes over one warm training step comes out
in ~15 s per path for a 1.5B model. Check of the method: the HF + TRL-style peer is estimated at
35.46 GiB; the same step measured 35.53 GiB on an H100 (bench/results_dpo_step_h100.json).

Paths (bf16 weights, 2 pairs x 2 sequences x `seq` tokens):
- `peer`: bench_dpo_step.hf_peer: HF Qwen2 (SDPA), reference model in the loop, row-wise log-softmax,
  torch RMSprop on bf16 weights.
- `ours`: what a GPU run builds: GPTModel with the local + SDPA spec and nemo-drift's GPU fusion flags
  (nemo_drift.megatron.model.fusion_flags), megatron DDP with its fp32 grad buffer, log-probs through
  the output processor, precomputed reference; megatron's Float16 optimizer wrapper is reproduced
  (fp32 main parameters fed from DDP's main_grad, our RMSprop on them, copy back), because its CUDA
  type checks refuse CPU tensors. Weights are built in bf16 directly (what Float16Module does).
- `ours_unfused_mlp`: `ours` with every fusion off (the CPU flags): megatron's local SwiGLU.
- `ours_logprobs_before`: `ours` with the log-prob path nemo-drift had until 2026-11-26
  (bench_logprobs._before_logprobs: [B,S,V] copy + sliced, checkpointed fp32 chunks).
- `ours_recompute_full`: `ours` with `model.recompute=full` (every layer recomputed in backward).
Differences to a real GPU: the CPU SDPA kernel stands in for flash attention (same saved tensors),
the CUDA caching allocator's fragmentation is not modelled, kernel workspaces are not counted.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# megatron's fusions are torch.compile'd at import (megatron/core/jit.py); with dynamo disabled they run
# their eager bodies inside the same autograd Functions, so the saved tensors are the fused path's.
os.environ["TORCHDYNAMO_DISABLE"] = "1"

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402
from torch.distributed._tools.mem_tracker import MemTracker  # noqa: E402

from bench_dpo_step import SHAPES, Shape, params_count  # noqa: E402
from report import emit  # noqa: E402

PATHS = ("peer", "ours", "ours_unfused_mlp", "ours_logprobs_before", "ours_recompute_full")


def _peak_gib(tracker: MemTracker) -> dict[str, float]:
    snapshot = tracker.get_tracker_snapshot("peak")
    per_device = next(iter(snapshot.values()))
    return {str(k).split(".")[-1].lower(): v / 2**30 for k, v in per_device.items()}


def _tracked_step(step, *external) -> dict[str, float]:
    step()  # warm step: optimizer state and grads exist, as in a timed step
    tracker = MemTracker()
    tracker.track_external(*external)
    with tracker:
        step()
    return _peak_gib(tracker)


def peer(s: Shape) -> dict[str, float]:
    from contextlib import nullcontext

    from transformers import Qwen2ForCausalLM

    from bench_dpo_step import peer_step, qwen2_config

    with FakeTensorMode():
        torch.set_default_dtype(torch.bfloat16)  # (.to(bf16) cannot swap fake parameters)
        policy, reference = Qwen2ForCausalLM(qwen2_config(s)), Qwen2ForCausalLM(qwen2_config(s)).eval()
        torch.set_default_dtype(torch.float32)  # (reference keeps requires_grad: MemTracker hooks need it)
        opt = torch.optim.RMSprop(policy.parameters(), lr=5e-7)
        tokens = torch.randint(0, s.vocab, (2 * s.pairs, s.seq))
        return _tracked_step(peer_step(s, policy, reference, opt, tokens, nullcontext()), policy, reference, opt)


def ours(s: Shape, variant: str) -> dict[str, float]:
    from megatron.core.models.gpt import GPTModel
    from megatron.core.transformer import TransformerConfig

    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.megatron.layer_spec import sdpa_layer_spec
    from nemo_drift.megatron.logprobs import logprob_output_processor, sum_by_sequence
    from nemo_drift.megatron.losses import PairLogps, compute_pair_loss
    from nemo_drift.megatron.model import fusion_flags
    from nemo_drift.megatron.optimizer import RMSprop, wrap_ddp
    from nemo_drift.runtime import init_distributed

    init_distributed(1, 1, 1, seed=1234)
    base = dict(num_layers=s.layers, hidden_size=s.hidden, num_attention_heads=s.heads, num_query_groups=s.kv_heads,
                ffn_hidden_size=s.ffn, kv_channels=s.hidden // s.heads, normalization="RMSNorm",
                layernorm_epsilon=1e-6, gated_linear_unit=True, activation_func=F.silu, add_bias_linear=False,
                add_qkv_bias=True, hidden_dropout=0.0, attention_dropout=0.0, bf16=True,
                params_dtype=torch.bfloat16, use_cpu_initialization=True)
    flags = fusion_flags(TransformerConfig(**base), on_gpu=variant != "ours_unfused_mlp", have_te=False,
                         have_apex_wgrad=False)
    flags.setdefault("masked_softmax_fusion", False)
    flags.setdefault("bias_dropout_fusion", False)
    if variant == "ours_recompute_full":  # model.recompute=full (nemo_drift.megatron.model.configure_provider)
        base.update(recompute_granularity="full", recompute_method="uniform", recompute_num_layers=1)
    config = TransformerConfig(**base, **flags)
    with FakeTensorMode(allow_non_fake_inputs=True):
        torch.set_default_dtype(torch.bfloat16)  # norms too, as Float16Module would make them
        model = GPTModel(config=config, transformer_layer_spec=sdpa_layer_spec(config), vocab_size=s.vocab,
                         max_sequence_length=s.seq, position_embedding_type="rope", rotary_base=1_000_000,
                         share_embeddings_and_output_weights=True, parallel_output=True)
        torch.set_default_dtype(torch.float32)
        (ddp,) = wrap_ddp([model], TrainerConfig(use_distributed_optimizer=False))
        params = [p for p in ddp.parameters() if p.requires_grad]
        main = [p.detach().float() for p in params]  # Float16OptimizerWithFloat16Params' fp32 main params
        for m in main:
            m.requires_grad_(True)
        opt = RMSprop(main, lr=5e-7)
        rows = 2 * s.pairs
        tokens = torch.randint(0, s.vocab, (rows, s.seq))
        labels = torch.randint(0, s.vocab, (rows, s.seq))
        position_ids = torch.arange(s.seq).unsqueeze(0).expand(rows, s.seq)
        mask = torch.ones(rows, s.seq)
        ref = torch.zeros(s.pairs)  # precomputed reference log-probs

        def token_logps() -> torch.Tensor:
            if variant == "ours_logprobs_before":
                from bench_logprobs import _before_logprobs

                logits = model(tokens, position_ids, None)  # [B, S, V]: GPTModel's copy
                return _before_logprobs(logits.transpose(0, 1), labels)
            # DDP.forward only calls its module; its grad hooks sit on the parameters. Called directly
            # because MemTracker's module hooks trip over DDP's `buffers` list attribute.
            return model(tokens, position_ids, None, labels=labels, output_processor=logprob_output_processor)

        def step() -> None:
            sums, counts = sum_by_sequence(token_logps(), mask)
            b = s.pairs
            loss = compute_pair_loss("dpo", PairLogps(sums[:b], sums[b:], ref, ref, counts[:b], counts[b:]),
                                     beta=0.1).losses.mean()
            loss.backward()
            # (ddp.finish_grad_sync() is skipped: an in-place all-reduce over one rank, which fake
            # tensors cannot dispatch; it allocates nothing.)
            for m, p in zip(main, params):
                m.grad = p.main_grad  # the wrapper hands DDP's fp32 buffer to the optimizer (no copy)
            torch.nn.utils.clip_grad_norm_(main, 1.0)
            opt.step()
            for m, p in zip(main, params):
                p.data.copy_(m.data)
                m.grad = None
            ddp.zero_grad_buffer()

        grad_buffers = [b.grad_data for b in ddp.buffers]  # DDP's fp32 main_grad storage
        return _tracked_step(step, ddp.module, opt, *main, *grad_buffers)  # (DDP's `buffers` shadows Module.buffers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen2_5_1_5b")
    parser.add_argument("--layers", type=int, default=None, help="override the shape's layer count")
    parser.add_argument("--seq", type=int, default=None, help="override the shape's sequence length")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    shape = SHAPES[args.shape]
    shape = Shape(**{**shape.__dict__, **({"layers": args.layers} if args.layers else {}),
                     **({"seq": args.seq} if args.seq else {})})
    report: dict = {"method": "FakeTensorMode + MemTracker (CPU), bf16", "shape": shape.__dict__,
                    "params": params_count(shape), "torch": torch.__version__}
    for path in args.paths.split(","):
        start = time.perf_counter()
        report[path] = peer(shape) if path == "peer" else ours(shape, path)
        report[path]["estimate_seconds"] = round(time.perf_counter() - start, 1)
        print(path, {k: round(v, 3) for k, v in report[path].items()}, file=sys.stderr, flush=True)
    if "peer" in report:
        for path in args.paths.split(","):
            if path != "peer":
                report[path]["total_vs_peer"] = round(report[path]["total"] / report["peer"]["total"], 3)
    emit(report, args.out)


if __name__ == "__main__":
    main()
