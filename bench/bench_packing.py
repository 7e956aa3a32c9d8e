"""Packed DPO on a heavy-tailed length distribution: ours packed vs ours padded vs the HF/TRL-style peers.

    python bench/bench_packing.py                  # GPU: Qwen2.5-1.5B shape, max length 2048, bf16
    python bench/bench_packing.py --shape small    # CPU: a small shape, max length 512 (the default on CPU)
    python bench/bench_packing.py --uniform        # every sequence at the maximum length (packing cannot help)

Every path trains the same steps of `--pairs-per-step` pairs (micro-batches of the shape's `pairs`),
drawn once from `length_distribution` with a fixed seed, with random tokens and random weights (speed
does not depend on them). Each path runs in its own fresh process, so its peak memory is its own.

- peer_fp32_master: Hugging Face transformers (SDPA) + TRL-style DPO: each micro-batch's chosen and
  rejected rows right-padded to the micro-batch's longest sequence with an attention mask, reference
  model resident and run in the loop, loss over accumulated micro-batches, fp32 weights under bf16
  autocast (HF Trainer with bf16=True): the fair peer, as bf16 weights lose almost every update at
  lr 5e-7 (bench/bf16_lost_updates.py). On CPU everything is fp32, so only this peer runs.
- peer_bf16_weights (GPU only): the same with bf16 weights, for continuity with bench_dpo_step.py.
- ours_padded: nemo-drift's Megatron path with trainer.packing=false (micro-batches of `pairs` pairs
  padded to their longest sequence), reference log-probs precomputed by one forward-only pass.
- ours_packed: the same with packing (first-fit-decreasing rows of up to pairs x 2 x seq tokens,
  attention confined per sequence; nemo_drift.data.packing, nemo_drift.megatron.batch.collate_packed);
  the step's micro-batches and loss weights come from the trainer's own step_plan.

Our reference pass runs once over all the steps' pairs and is timed; `pairs_per_s_incl_reference`
amortises it per pair (a run does one such pass per iteration). Prints and writes a JSON report:
pairs/s (and pairs per CPU-second, steadier on a shared CPU), real tokens/s (tokens of the sequences themselves, no padding), model TFLOP/s and MFU on real
tokens (GPU), peak memory, the share of real tokens in what each path computes, and the ratios.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

import bench_dpo_step
from bench_dpo_step import (PEAK_TFLOPS, SHAPES, Shape, build_megatron, params_count, qwen2_config,
                            selective_log_softmax, timed)
from report import emit, run_fresh

BETA = 0.1
REFERENCE_MAX_LENGTH = 2048
"""The lengths below are stated for a 2048-token window and scaled by seq / 2048 for other shapes."""


@dataclass(frozen=True)
class LengthDistribution:
    """Lognormal token counts (median, sigma of the log) for a 2048-token window.

    Our assumption for DSAT chat data, not a published fit: the prompt (conversation so far, DSAT
    turn context) has median 200 tokens, sigma 1.0; chosen and rejected replies are drawn
    independently with median 250, sigma 0.8. A prompt is capped at seq - 64 tokens; each side is cut at
    seq tokens, as the trainer's collate cuts it. At seq 2048 this gives a median sequence of about 540
    tokens, a mean of about 660, and about 2% of sequences at the cap.
    """

    prompt_median: float = 200.0
    prompt_sigma: float = 1.0
    reply_median: float = 250.0
    reply_sigma: float = 0.8

    def draw(self, n: int, seq: int, seed: int) -> list[tuple[int, int, int]]:
        """n (prompt, chosen, rejected) token counts for a window of `seq` tokens."""
        rng = np.random.default_rng(seed)
        scale = seq / REFERENCE_MAX_LENGTH

        def lognormal(median: float, sigma: float, upper: int) -> np.ndarray:
            return np.clip(np.round(rng.lognormal(np.log(median * scale), sigma, n)), 1, upper).astype(int)

        prompt = lognormal(self.prompt_median, self.prompt_sigma, seq - 64)
        chosen = lognormal(self.reply_median, self.reply_sigma, seq)
        rejected = lognormal(self.reply_median, self.reply_sigma, seq)
        return [(int(p), int(c), int(r)) for p, c, r in zip(prompt, chosen, rejected)]


def uniform_lengths(n: int, seq: int) -> list[tuple[int, int, int]]:
    """Every sequence exactly `seq` tokens: prompt seq/2, replies seq/2 (bench_dpo_step's shape)."""
    return [(seq // 2, seq - seq // 2, seq - seq // 2)] * n


@dataclass(frozen=True)
class Workload:
    """The steps every path trains: per step, its pairs' token lists (prompt, chosen, rejected)."""

    steps: list[list[tuple[list[int], list[int], list[int]]]]

    @classmethod
    def build(cls, shape: Shape, num_steps: int, pairs_per_step: int, uniform: bool, seed: int = 0) -> "Workload":
        n = num_steps * pairs_per_step
        lengths = uniform_lengths(n, shape.seq) if uniform else LengthDistribution().draw(n, shape.seq, seed)
        g = torch.Generator().manual_seed(seed)

        def tokens(k: int) -> list[int]:
            return torch.randint(0, shape.vocab, (k,), generator=g).tolist()

        pairs = [(tokens(p), tokens(c), tokens(r)) for p, c, r in lengths]
        return cls([pairs[i:i + pairs_per_step] for i in range(0, n, pairs_per_step)])

    def sequence_lengths(self, seq: int, steps: slice) -> list[int]:
        """Lengths of every sequence (prompt + reply, cut at seq) of the given steps."""
        return [min(len(p) + len(reply), seq) for step in self.steps[steps] for p, c, r in step for reply in (c, r)]


def real_tokens(lengths: list[int]) -> int:
    return sum(lengths)


def real_train_flops(shape: Shape, lengths: list[int]) -> float:
    """Forward + backward FLOPs of the real tokens: 6N per token plus causal attention within each
    sequence (6 * layers * hidden * L^2 for a sequence of L tokens)."""
    n = params_count(shape)
    return float(sum(6 * n * length + 6 * shape.layers * shape.hidden * length * length for length in lengths))


def measure(step: Callable[[], None], work: Workload, warmup: int, device: torch.device) -> dict[str, float]:
    """Wall seconds and peak memory per measured step (bench_dpo_step.timed), and this process's CPU
    seconds per measured step: on a shared CPU the CPU time is the steadier figure."""
    cpu: list[float] = []

    def counted() -> None:
        start = time.process_time()
        step()
        cpu.append(time.process_time() - start)

    steps = len(work.steps) - warmup
    sec, peak = timed(counted, steps, warmup, device)
    return {"seconds_per_step": sec, "peak_gib": peak, "cpu_seconds_per_step": sum(cpu[warmup:]) / steps}


def cycling(items: list[Any]) -> Callable[[], Any]:
    """A function returning items[0], items[1], ... in turn (so warm-up and measured steps differ)."""
    it: Iterator[Any] = iter(items)
    return lambda: next(it)


# --- the peers ------------------------------------------------------------------------------------

def peer_microbatches(step: list[tuple[list[int], list[int], list[int]]], pairs: int, seq: int,
                      device: torch.device) -> list[dict[str, torch.Tensor]]:
    """TRL-style micro-batches: `pairs` pairs each, chosen rows then rejected rows, right-padded to the
    micro-batch's longest sequence, with the attention mask and the response-label mask."""
    out = []
    for i in range(0, len(step), pairs):
        group = step[i:i + pairs]
        rows = [(p + c)[:seq] for p, c, _ in group] + [(p + r)[:seq] for p, _, r in group]
        prompt_lens = [len(p) for p, _, _ in group] * 2
        width = max(len(r) for r in rows)
        tokens = torch.zeros((len(rows), width), dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        label_mask = torch.zeros((len(rows), width - 1), dtype=torch.float32)
        for j, (row, plen) in enumerate(zip(rows, prompt_lens)):
            tokens[j, :len(row)] = torch.tensor(row)
            attention[j, :len(row)] = 1
            label_mask[j, plen - 1:len(row) - 1] = 1.0
        out.append({"tokens": tokens.to(device), "attention_mask": attention.to(device),
                    "label_mask": label_mask.to(device)})
    return out


def peer(shape: Shape, work: Workload, device: torch.device, dtype: torch.dtype, warmup: int,
         fp32_master: bool) -> dict:
    """The HF/TRL-style step over a workload's steps (see the module docstring)."""
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(0)
    policy = Qwen2ForCausalLM(qwen2_config(shape)).to(device=device, dtype=torch.float32 if fp32_master else dtype)
    reference = copy.deepcopy(policy).to(dtype).eval().requires_grad_(False)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=fp32_master and dtype != torch.float32)
    opt = torch.optim.RMSprop(policy.parameters(), lr=5e-7)
    batches = [peer_microbatches(step, shape.pairs, shape.seq, device) for step in work.steps]
    computed = sum(int(mb["tokens"].numel()) for step in batches[warmup:] for mb in step)

    def seq_logps(model, mb) -> torch.Tensor:
        with autocast:
            logits = model(input_ids=mb["tokens"], attention_mask=mb["attention_mask"]).logits[:, :-1]
        return (selective_log_softmax(logits, mb["tokens"][:, 1:]).float() * mb["label_mask"]).sum(-1)

    next_step = cycling(batches)

    def step() -> None:
        micro = next_step()
        for mb in micro:
            with torch.no_grad():
                ref = seq_logps(reference, mb)
            pol = seq_logps(policy, mb)
            b = pol.shape[0] // 2
            margin = (pol[:b] - ref[:b]) - (pol[b:] - ref[b:])
            (-F.logsigmoid(BETA * margin).mean() / len(micro)).backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return {**measure(step, work, warmup, device), "computed_tokens": computed}


# --- ours -----------------------------------------------------------------------------------------

def ours(shape: Shape, work: Workload, device: torch.device, dtype: torch.dtype, warmup: int, packed: bool) -> dict:
    """Our Megatron step over the workload, padded or packed, with the reference pass precomputed."""
    from nemo_drift.config.trainer import TrainerConfig
    from nemo_drift.data.records import TokenizedPair
    from nemo_drift.megatron.data_order import step_plan
    from nemo_drift.megatron.reference import compute_reference_logps
    from nemo_drift.megatron.trainer import Layout, make_microbatch, row_packer, to_device, train_step

    per_step = len(work.steps[0])
    cfg = TrainerConfig(micro_batch_size=shape.pairs, global_batch_size=per_step, lr=5e-7, optimizer="rmsprop",
                        clip_grad=1.0, wandb_mode="disabled", packing=packed)
    _, chunks, optimizer = build_megatron(shape, device, dtype, cfg)
    layout = Layout.of(packed, cfg, shape.seq, pipeline_parallel=1)
    pairs = [TokenizedPair(id=f"{s}-{i}", prompt_ids=p, chosen_ids=c, rejected_ids=r)
             for s, step in enumerate(work.steps) for i, (p, c, r) in enumerate(step)]
    order = list(range(len(pairs)))
    pack = row_packer(pairs, cfg, shape.seq) if packed else None
    plans = [step_plan(order, s, cfg, dp_rank=0, dp_size=1, pack=pack) for s in range(len(work.steps))]

    def microbatches(ref=None) -> list[list[dict[str, Any]]]:
        return [[to_device(make_microbatch([pairs[i] for i in group], pad_id=0, seq_length=shape.seq, ref=ref,
                                           loss_weight=weight, layout=layout), device) for group, weight in plan]
                for plan in plans]

    flat = [mb for step in microbatches() for mb in step]
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    ref = compute_reference_logps(chunks, flat)
    if device.type == "cuda":
        torch.cuda.synchronize()
    reference_seconds = time.perf_counter() - start
    batches = microbatches(ref)
    computed = sum(mb["row_tokens"] for step in batches[warmup:] for mb in step)
    losses: list[float] = []
    next_step = cycling(batches)

    def step() -> None:
        losses.append(train_step(chunks, optimizer, next_step(), cfg)["loss"])

    return {**measure(step, work, warmup, device), "computed_tokens": computed,
            "reference_pass_seconds_all_pairs": reference_seconds,
            "reference_pass_seconds_per_pair": reference_seconds / len(pairs),
            "rows_per_step": [len(plan) for plan in plans], "first_loss": losses[0], "ln2": float(np.log(2))}


# --- the run ----------------------------------------------------------------------------------------

PATHS = ("peer_fp32_master", "peer_bf16_weights", "ours_padded", "ours_packed")
DEFAULT_SHAPE = {True: "qwen2_5_1_5b", False: "small"}


def run_one(path: str, shape: Shape, work: Workload, warmup: int) -> dict:
    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    dtype = torch.bfloat16 if on_gpu else torch.float32
    if not on_gpu:
        torch.set_num_threads(2)
        bench_dpo_step.rss_baseline = bench_dpo_step._peak_bytes(device)
    if path.startswith("peer"):
        return peer(shape, work, device, dtype, warmup, fp32_master=path == "peer_fp32_master")
    return ours(shape, work, device, dtype, warmup, packed=path == "ours_packed")


def summarise(results: dict[str, dict], shape: Shape, work: Workload, warmup: int, card: str) -> dict:
    """Per path: pairs/s, real tokens/s, MFU on real tokens, real share of computed tokens; then ratios."""
    measured = slice(warmup, None)
    lengths = work.sequence_lengths(shape.seq, measured)
    steps = len(work.steps) - warmup
    pairs = steps * len(work.steps[0])
    flops = real_train_flops(shape, lengths)
    peak_flops = next((v for k, v in PEAK_TFLOPS.items() if k in card), None)
    for r in results.values():
        seconds = r["seconds_per_step"] * steps
        r["pairs_per_s"] = pairs / seconds
        r["pairs_per_cpu_s"] = pairs / (r["cpu_seconds_per_step"] * steps)
        r["real_tokens_per_s"] = real_tokens(lengths) / seconds
        r["real_share_of_computed_tokens"] = real_tokens(lengths) / r["computed_tokens"]
        r["model_tflops_per_s_real_tokens"] = flops / seconds / 1e12
        if peak_flops:
            r["mfu_real_tokens"] = flops / seconds / peak_flops
        if "reference_pass_seconds_per_pair" in r:
            r["pairs_per_s_incl_reference"] = pairs / (seconds + r["reference_pass_seconds_per_pair"] * pairs)
    ratios = {}

    def ratio(name: str, ours_path: str, other: str, key: str) -> None:
        if ours_path in results and other in results:
            ratios[name] = results[ours_path][key] / results[other][key]

    ratio("packed_vs_padded_pairs_per_s", "ours_packed", "ours_padded", "pairs_per_s")
    ratio("packed_vs_padded_pairs_per_cpu_s", "ours_packed", "ours_padded", "pairs_per_cpu_s")
    for peer_path, name in (("peer_fp32_master", "fair_peer"), ("peer_bf16_weights", "bf16_peer")):
        ratio(f"packed_vs_{name}_pairs_per_s", "ours_packed", peer_path, "pairs_per_s")
        ratio(f"packed_vs_{name}_pairs_per_cpu_s", "ours_packed", peer_path, "pairs_per_cpu_s")
        ratio(f"packed_vs_{name}_peak_memory", "ours_packed", peer_path, "peak_gib")
        ratio(f"padded_vs_{name}_pairs_per_s", "ours_padded", peer_path, "pairs_per_s")
    if "ours_packed" in results and "peer_fp32_master" in results:
        ratios["packed_incl_reference_vs_fair_peer_pairs_per_s"] = (
            results["ours_packed"]["pairs_per_s_incl_reference"] / results["peer_fp32_master"]["pairs_per_s"])
    return {"measured_steps": steps, "pairs_per_step": len(work.steps[0]), "micro_batch_pairs": shape.pairs,
            "sequences": len(lengths), "mean_sequence_tokens": float(np.mean(lengths)),
            "median_sequence_tokens": float(np.median(lengths)), "max_sequence_tokens": int(max(lengths)),
            "share_at_max_length": float(np.mean(np.array(lengths) == shape.seq)), "results": results,
            "ratios": ratios, "targets": {"gpu_packed_vs_fair_peer_pairs_per_s": ">= 2.5",
                                          "gpu_packed_vs_fair_peer_peak_memory": "<= 1.0",
                                          "gpu_mfu_real_tokens": ">= 0.45",
                                          "cpu_packed_vs_padded_pairs_per_s": ">= 1.8"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None,
                        help="default: qwen2_5_1_5b on GPU, small on CPU")
    parser.add_argument("--steps", type=int, default=None, help="measured steps (default 6 on GPU, 4 on CPU)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--pairs-per-step", type=int, default=8)
    parser.add_argument("--uniform", action="store_true", help="every sequence at the maximum length")
    parser.add_argument("--paths", default=None, help=f"comma list of {','.join(PATHS)} (default: all that apply)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--one", choices=PATHS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    on_gpu = torch.cuda.is_available()
    shape_name = args.shape or DEFAULT_SHAPE[on_gpu]
    shape = SHAPES[shape_name]
    steps = args.steps or (6 if on_gpu else 4)
    work = Workload.build(shape, steps + args.warmup, args.pairs_per_step, args.uniform)
    if args.one:  # child process: one path, JSON on the last stdout line
        import json

        print(json.dumps(run_one(args.one, shape, work, args.warmup)))
        return
    paths = args.paths.split(",") if args.paths else [p for p in PATHS if on_gpu or p != "peer_bf16_weights"]
    results = {}
    for path in paths:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", path, "--shape", shape_name,
               "--steps", str(steps), "--warmup", str(args.warmup), "--pairs-per-step", str(args.pairs_per_step)]
        results[path] = run_fresh(path, cmd + (["--uniform"] if args.uniform else []))
        print(f"{path}: {results[path]}", file=sys.stderr, flush=True)
    card = torch.cuda.get_device_name() if on_gpu else "CPU"
    report = {"device": card, "shape": {"name": shape_name, **shape.__dict__}, "params": params_count(shape),
              "dtype": str(torch.bfloat16 if on_gpu else torch.float32), "torch": torch.__version__,
              "lengths": "uniform" if args.uniform else LengthDistribution().__dict__,
              **summarise(results, shape, work, args.warmup, card)}
    emit(report, args.out)


if __name__ == "__main__":
    main()
