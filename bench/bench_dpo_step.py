"""DPO training step: nemo-drift's Megatron path vs the peer a user would pick, in one run.

    python bench/bench_dpo_step.py                 # GPU: Qwen2.5-1.5B shape, seq 2048, 2 pairs/micro-batch, bf16
    python bench/bench_dpo_step.py --shape tiny    # CPU: the same code on a tiny shape (so it cannot rot)

peer = Hugging Face transformers (SDPA attention), TRL-style: chosen and rejected concatenated in one
forward, per-row log-softmax of the labels, reference model resident and run in the loop, DPO sigmoid
loss, torch RMSprop on the bf16 weights. A second peer keeps fp32 weights under bf16 autocast (HF
Trainer's bf16=True on an fp32-loaded model): the numerically comparable one to megatron's fp32 main
parameters, since at lr 5e-7 pure-bf16 weights drop >99% of updates (bench/bf16_lost_updates.py).
ours = megatron-core GPTModel with nemo-drift's local spec + SDPA core attention
(nemo_drift.megatron.layer_spec), megatron DDP + megatron optimizer with our RMSprop (distributed
optimizer on GPU), our log-prob output processor (chunked vocab-parallel log-probs on the [S, B, V]
logits, nemo_drift.megatron.logprobs) and DPO loss through
get_forward_backward_func (nemo_drift.megatron.trainer.train_step), reference log-probs precomputed
once by our forward-only pass (nemo_drift.megatron.reference).

Random weights and random tokens (speed does not depend on them). The Megatron model is built from a
TransformerConfig of the same shape rather than through Megatron-Bridge, so the GPU image needs only
megatron-core. Each path runs in its own fresh process, so peak memory is its own. Prints a JSON
report with tokens/s, peak memory, MFU and the ratios ours/peer.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from report import emit, run_fresh

PEAK_TFLOPS = {"H100": 989e12, "H200": 989e12}


@dataclass
class Shape:
    """A Qwen2-architecture shape."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    seq: int
    pairs: int
    """Pairs per micro-batch (each pair = 2 sequences of `seq` tokens: prompt seq/2 + response seq/2)."""


SHAPES = {
    "qwen2_5_1_5b": Shape(hidden=1536, layers=28, heads=12, kv_heads=2, ffn=8960, vocab=151936, seq=2048, pairs=2),
    "small": Shape(hidden=256, layers=4, heads=4, kv_heads=2, ffn=768, vocab=8192, seq=512, pairs=2),
    "tiny": Shape(hidden=128, layers=2, heads=4, kv_heads=2, ffn=256, vocab=2048, seq=128, pairs=2),
}


def params_count(s: Shape) -> int:
    """Parameters with tied embeddings (Qwen2.5-1.5B ties them): embeddings + layers."""
    head_dim = s.hidden // s.heads
    attn = s.hidden * (s.heads + 2 * s.kv_heads) * head_dim + (s.heads + 2 * s.kv_heads) * head_dim
    attn += s.heads * head_dim * s.hidden
    mlp = 3 * s.hidden * s.ffn
    return s.vocab * s.hidden + s.layers * (attn + mlp + 2 * s.hidden) + s.hidden


def train_flops_per_token(s: Shape) -> float:
    """6N + causal attention (12 * layers * hidden * seq / 2) per token, forward + backward."""
    return 6 * params_count(s) + 6 * s.layers * s.hidden * s.seq


def random_batch(s: Shape, device: torch.device, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, s.vocab, (2 * s.pairs, s.seq), generator=g).to(device)  # [2B, S]: chosen, rejected


def _peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated()
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(step, steps: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """(seconds per step, peak memory GiB) over `steps` after `warmup`.

    Each path runs in a fresh process (see main), so the GPU figure is that path's own peak of
    allocated memory. On CPU it is the peak RSS growth since the process started building the path
    (see `rss_baseline`), a rough figure: the tiny CPU shape only keeps the script from rotting.
    """
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = _peak_bytes(device)
    else:
        peak = _peak_bytes(device) - rss_baseline
    return (time.perf_counter() - start) / steps, peak / 2**30


rss_baseline = 0
"""CPU only: peak RSS (bytes) when the path started building its model (set by run_one)."""


# --- the peer -----------------------------------------------------------------------------------

def selective_log_softmax(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """TRL's way for bf16 logits: log-softmax one row at a time, gather the labels."""
    rows = [torch.gather(F.log_softmax(row, dim=-1), -1, lab.unsqueeze(-1)).squeeze(-1)
            for row, lab in zip(logits, labels)]
    return torch.stack(rows)


def qwen2_config(s: Shape):
    """The HF config of shape `s` (SDPA attention, tied embeddings as Qwen2.5-1.5B)."""
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=s.vocab, hidden_size=s.hidden, intermediate_size=s.ffn, num_hidden_layers=s.layers,
                       num_attention_heads=s.heads, num_key_value_heads=s.kv_heads, max_position_embeddings=s.seq,
                       tie_word_embeddings=True, attn_implementation="sdpa")


def peer_step(s: Shape, policy, reference, opt, tokens: torch.Tensor, autocast) -> Callable[[], None]:
    """One TRL-style DPO step: reference forward in the loop, chosen+rejected in one policy forward,
    row-wise log-softmax of the response labels, sigmoid loss, clip, RMSprop (also used by
    estimate_dpo_memory.py, on fake tensors)."""
    labels = tokens[:, 1:]
    mask = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
    mask[:, s.seq // 2 - 1:] = 1.0  # response half

    def seq_logps(model) -> torch.Tensor:
        with autocast:
            logits = model(input_ids=tokens).logits[:, :-1]
        return (selective_log_softmax(logits, labels).float() * mask).sum(-1)

    def step() -> None:
        with torch.no_grad():
            ref = seq_logps(reference)
        pol = seq_logps(policy)
        b = s.pairs
        margin = (pol[:b] - ref[:b]) - (pol[b:] - ref[b:])
        loss = -F.logsigmoid(0.1 * margin).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def hf_peer(s: Shape, device: torch.device, dtype: torch.dtype, steps: int, warmup: int,
            fp32_master: bool = False) -> dict:
    """fp32_master=False: weights, grads and RMSprop state in bf16 (a model loaded in bf16, as TRL users
    do; at lr 5e-7 almost no update survives bf16 rounding, bench/bf16_lost_updates.py).
    fp32_master=True: fp32 weights + bf16 autocast (HF Trainer's bf16=True on an fp32-loaded model),
    the numerically comparable peer to megatron's fp32 main parameters."""
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(0)
    policy = Qwen2ForCausalLM(qwen2_config(s)).to(device=device, dtype=torch.float32 if fp32_master else dtype)
    reference = copy.deepcopy(policy).to(dtype).eval().requires_grad_(False)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=fp32_master and dtype != torch.float32)
    opt = torch.optim.RMSprop(policy.parameters(), lr=5e-7)
    step = peer_step(s, policy, reference, opt, random_batch(s, device), autocast)
    sec, peak = timed(step, steps, warmup, device)
    del policy, reference, opt, step
    return {"seconds_per_step": sec, "peak_gib": peak}


# --- ours ---------------------------------------------------------------------------------------

def build_megatron(s: Shape, device: torch.device, dtype: torch.dtype, trainer, variant: str = "full"):
    """(model, chunks, optimizer): megatron-core GPTModel of shape `s` with our SDPA spec and the fusion
    flags a run gets on this machine; for variant "full" in Float16Module (bf16) with megatron DDP and
    our megatron optimizer, wired as a run wires them (see megatron_ours for the other variants)."""
    from megatron.core.models.gpt import GPTModel
    from megatron.core.transformer import TransformerConfig

    from nemo_drift.config.model import have_transformer_engine
    from nemo_drift.megatron.layer_spec import sdpa_layer_spec
    from nemo_drift.megatron.model import fusion_flags
    from nemo_drift.megatron.optimizer import build_optimizer, wrap_ddp
    from nemo_drift.megatron.trainer import wire_megatron_config
    from nemo_drift.runtime import init_distributed

    init_distributed(1, 1, 1, seed=1234)
    bf16 = dtype == torch.bfloat16
    config = TransformerConfig(
        num_layers=s.layers, hidden_size=s.hidden, num_attention_heads=s.heads, num_query_groups=s.kv_heads,
        ffn_hidden_size=s.ffn, kv_channels=s.hidden // s.heads, normalization="RMSNorm", layernorm_epsilon=1e-6,
        gated_linear_unit=True, activation_func=F.silu, add_bias_linear=False, add_qkv_bias=True,
        hidden_dropout=0.0, attention_dropout=0.0, bf16=bf16, params_dtype=dtype,
        use_cpu_initialization=device.type == "cpu", masked_softmax_fusion=False, bias_dropout_fusion=False)
    # the fusion flags a run gets on this machine (nemo_drift.megatron.model.configure_provider)
    flags = fusion_flags(config, device.type == "cuda", have_transformer_engine(), False)
    config = dataclasses.replace(config, **flags) if flags else config
    model = GPTModel(config=config, transformer_layer_spec=sdpa_layer_spec(config), vocab_size=s.vocab,
                     max_sequence_length=s.seq, position_embedding_type="rope", rotary_base=1_000_000,
                     share_embeddings_and_output_weights=True, parallel_output=True).to(device)
    if bf16 and variant == "full":
        from megatron.core.transformer.module import Float16Module

        model = Float16Module(config, model)
    if variant == "torch_rmsprop":
        return model, [model], torch.optim.RMSprop(model.parameters(), lr=trainer.lr)
    chunks = wrap_ddp([model], trainer)
    optimizer = build_optimizer(chunks, trainer)
    wire_megatron_config(chunks, optimizer)
    return model, chunks, optimizer


def megatron_ours(s: Shape, device: torch.device, dtype: torch.dtype, steps: int, warmup: int,
                  variant: str = "full") -> dict:
    """variant "full": the path a run takes. Diagnostics: "no_fp16_module" builds the model in bf16
    without Float16Module (whose last stage returns fp32 logits); "torch_rmsprop" also drops megatron
    DDP and the megatron optimizer (plain autograd + torch RMSprop on bf16 weights, as the peer)."""
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.data.records import TokenizedPair
    from nemo_drift.megatron.reference import compute_reference_logps
    from nemo_drift.megatron.trainer import make_microbatch, to_device, train_step

    trainer = TrainerConfig(micro_batch_size=s.pairs, global_batch_size=s.pairs, lr=5e-7, optimizer="rmsprop",
                            clip_grad=1.0, wandb_mode="disabled")
    model, chunks, optimizer = build_megatron(s, device, dtype, trainer, variant)
    tokens = random_batch(s, torch.device("cpu")).tolist()
    half = s.seq // 2
    pairs = [TokenizedPair(id=str(i), prompt_ids=tokens[i][:half], chosen_ids=tokens[i][half:],
                           rejected_ids=tokens[s.pairs + i][half:]) for i in range(s.pairs)]
    batch = [to_device(make_microbatch(pairs, pad_id=0, seq_length=s.seq), device)]
    # Reference log-probs: one forward-only pass, as a run does once per iteration over the pair set.
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    ref = compute_reference_logps(chunks, batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    ref_seconds = time.perf_counter() - start
    micro = [to_device(make_microbatch(pairs, pad_id=0, seq_length=s.seq, ref=ref), device)]
    losses: list[float] = []

    def step() -> None:
        if variant != "torch_rmsprop":
            losses.append(train_step(chunks, optimizer, micro, trainer)["loss"])
            return
        from nemo_drift.megatron.logprobs import logprob_output_processor, sum_by_sequence
        from nemo_drift.megatron.losses import PairLogps, compute_pair_loss

        batch = micro[0]
        token_logps = model(batch["tokens"], batch["position_ids"], None, labels=batch["labels"],
                            output_processor=logprob_output_processor)  # [2B, S]
        logps, counts = sum_by_sequence(token_logps, batch["loss_mask"])
        b = s.pairs
        out = compute_pair_loss("dpo", PairLogps(logps[:b], logps[b:], batch["ref_chosen"], batch["ref_rejected"],
                                                 counts[:b], counts[b:]), beta=0.1)
        loss = out.losses.mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))

    sec, peak = timed(step, steps, warmup, device)
    return {"seconds_per_step": sec, "peak_gib": peak, "reference_pass_seconds": ref_seconds,
            "first_loss": losses[0], "ln2": 0.6931471805599453}


PATHS = ("peer", "peer_fp32_master", "full", "no_fp16_module", "torch_rmsprop")


def run_one(path: str, shape: Shape, steps: int, warmup: int) -> dict:
    """One path in this process: "peer" or a variant of ours."""
    global rss_baseline
    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    dtype = torch.bfloat16 if on_gpu else torch.float32
    if not on_gpu:
        torch.set_num_threads(2)
        rss_baseline = _peak_bytes(device)
    if path in ("peer", "peer_fp32_master"):
        return hf_peer(shape, device, dtype, steps, warmup, fp32_master=path == "peer_fp32_master")
    return megatron_ours(shape, device, dtype, steps, warmup, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None,
                        help="default: qwen2_5_1_5b on GPU, tiny on CPU")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--variants", default="full", help="comma list of full,no_fp16_module,torch_rmsprop "
                        "(diagnostics: which part of the Megatron path costs what)")
    parser.add_argument("--one", choices=PATHS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    on_gpu = torch.cuda.is_available()
    shape = SHAPES[args.shape or ("qwen2_5_1_5b" if on_gpu else "tiny")]
    if args.one:  # child process: one path, JSON on the last stdout line
        print(json.dumps(run_one(args.one, shape, args.steps, args.warmup)))
        return
    dtype = torch.bfloat16 if on_gpu else torch.float32
    tokens_per_step = 2 * shape.pairs * shape.seq
    card = torch.cuda.get_device_name() if on_gpu else "CPU"
    peak_flops = next((v for k, v in PEAK_TFLOPS.items() if k in card), None)
    results = {}
    # Each path in a fresh process: peak memory is then that path's own (in one process, allocator
    # state and anything a previous path left behind would be counted against the next).
    for path in ["peer", "peer_fp32_master", *args.variants.split(",")]:
        key = {"peer": "peer_hf_trl_style", "peer_fp32_master": "peer_hf_trl_style_fp32_master"}.get(
            path, "ours_megatron_sdpa_precomputed_ref" + ("" if path == "full" else f"_{path}"))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", path, "--shape", args.shape or ("qwen2_5_1_5b" if on_gpu else "tiny"),
               "--steps", str(args.steps), "--warmup", str(args.warmup)]
        results[key] = run_fresh(path, cmd)
        print(f"{key}: {results[key]}", file=sys.stderr, flush=True)
    for r in results.values():
        r["tokens_per_s"] = tokens_per_step / r["seconds_per_step"]
        if peak_flops:
            r["mfu"] = train_flops_per_token(shape) * r["tokens_per_s"] / peak_flops
    ours, peer = results["ours_megatron_sdpa_precomputed_ref"], results["peer_hf_trl_style"]
    master = results["peer_hf_trl_style_fp32_master"]
    for r in results.values():  # amortised: one reference forward per pair per iteration
        if "reference_pass_seconds" in r:
            r["tokens_per_s_incl_reference_pass"] = tokens_per_step / (r["seconds_per_step"]
                                                                       + r["reference_pass_seconds"])
    report = {
        "device": card, "shape": shape.__dict__, "dtype": str(dtype), "params": params_count(shape),
        "tokens_per_step": tokens_per_step, "steps": args.steps, "torch": torch.__version__, **results,
        "ratio_tokens_per_s": ours["tokens_per_s"] / peer["tokens_per_s"],
        "ratio_tokens_per_s_incl_reference_pass": ours["tokens_per_s_incl_reference_pass"] / peer["tokens_per_s"],
        "ratio_peak_memory": ours["peak_gib"] / peer["peak_gib"],
        "ratio_tokens_per_s_vs_fp32_master_peer": ours["tokens_per_s"] / master["tokens_per_s"],
        "ratio_peak_memory_vs_fp32_master_peer": ours["peak_gib"] / master["peak_gib"],
        "targets": {"tokens_per_s_ratio": ">= 1.5", "peak_memory_ratio": "<= 0.7"},
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
