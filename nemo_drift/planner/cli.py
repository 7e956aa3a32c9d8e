"""`nemo-drift plan`: print the plan of a config, exit 1 (naming each setting) when it cannot work.

    nemo-drift plan model=qwen2_5_14b cluster=slurm_h100 trainer.micro_batch_size=2
    python -m nemo_drift.planner qwen2_5_14b slurm_h100 trainer.micro_batch_size=2   # the same

Both read the config through the one loader (nemo_drift.config.loader), not validated: planning a 72B
layout with sequence parallelism on a laptop without Transformer Engine is legitimate; the planner
applies its own refusals, and checks Transformer Engine settings only against a probe file of the
training image (`cluster.capabilities`).
"""
from __future__ import annotations

import sys
from typing import Any, Optional, Sequence

from nemo_drift.config.schema import DriftConfig
from nemo_drift.planner.memory import GIB
from nemo_drift.planner.plan import Plan, make_plan


def _gib(value: float) -> str:
    return f"{value / GIB:7.2f} GiB"


def format_plan(plan: Plan, inp: DriftConfig) -> str:
    """Human-readable plan (every assumption printed next to the figure it drives)."""
    a, c = plan.arch, inp.cluster
    lines = [f"model: {inp.model.hf_path}  ({a.num_params() / 1e9:.2f}B params, {a.num_layers} layers, "
             f"{a.num_attention_heads} heads / {a.kv_heads} KV groups; shape from {a.source})",
             f"GPUs: {plan.gpus} = {c.nodes} node(s) x {c.gpus_per_node} ({c.gpu_memory_gib:g} GiB, "
             f"{c.memory_headroom_gib:g} GiB kept free)" if c.on_gpu else f"CPU: {plan.gpus} gloo rank(s)",
             f"training layout: TP {plan.tp} x PP {plan.pp} x DP {plan.dp}"]
    if plan.layout is None or plan.train is None or plan.vllm is None or plan.time is None:
        return "\n".join(lines)
    lay, t, v, tm = plan.layout, plan.train, plan.vllm, plan.time
    tr = inp.trainer
    lines[-1] += (f", sequence parallel {lay.sequence_parallel}, recompute {lay.recompute}, distributed optimizer "
                  f"{lay.distributed_optimizer}, {'bf16' if lay.dtype_bytes == 2 else 'fp32'}")
    lines += [f"batch: {tr.micro_batch_size} pair(s)/micro-batch x {lay.num_microbatches} micro-batches x DP {plan.dp} "
              f"= {tr.global_batch_size} pairs/step; {tr.global_batch_size} pairs x 2 seqs x {lay.seq_length} tokens "
              f"= {plan.tokens_per_step:,} tokens/step",
              _packing_line(plan, inp),
              "training memory per GPU (largest pipeline stage):",
              f"  weights          {_gib(t.weights)}   ({t.params / 1e9:.3f}B params on this GPU)",
              f"  grads (fp32)     {_gib(t.grads)}",
              f"  optimizer        {_gib(t.optimizer)}   ({'sharded over DP ' + str(plan.dp) if lay.distributed_optimizer else 'not sharded'})",
              f"  activations      {_gib(t.activations)}   (no recompute {_gib(t.activations_no_recompute).strip()}, "
              f"full recompute {_gib(t.activations_full_recompute).strip()})",
              f"  logits + logp    {_gib(t.logits)}",
              f"  reference model  {_gib(t.reference_model)}   (trainer.reference={tr.reference}; "
              f"precomputed pass peaks at {_gib(t.reference_pass).strip()})",
              f"  total            {_gib(t.total)}   of {_gib(plan.usable_bytes).strip()} usable",
              f"vLLM per GPU: {plan.vllm_replicas} replica(s) x TP {inp.generation.tensor_parallel_size}; weights "
              f"{_gib(v.weights).strip()}, KV cache {_gib(v.kv_cache).strip()} ({v.kv_bytes_per_token:,} B/token) "
              f"-> {v.max_sequences} concurrent sequences of {c.plan_prompt_tokens}+{inp.generation.max_tokens} tokens",
              f"time per iteration ({c.plan_pairs:,} pairs; assumptions: train MFU {c.train_mfu}, decode MFU "
              f"{c.generation_mfu}, peak {c.peak_tflops:g} TFLOP/s, export {c.export_gb_per_s} GB/s per MP rank):",
              f"  export {tm.export_s / 60:6.1f} min | generate {tm.generate_s / 60:6.1f} min "
              f"({tm.generate_tokens_per_s:,.0f} tok/s) | reference {tm.reference_s / 60:6.1f} min | "
              f"train {tm.train_s / 60:6.1f} min ({tm.train_tokens_per_s:,.0f} tok/s) | total {tm.total_s / 3600:.2f} h"]
    return "\n".join(lines)


def _packing_line(plan: Plan, inp: DriftConfig) -> str:
    """What packing does to the plan: the memory term covers a full row either way; the time assumes
    cluster.plan_sequence_tokens real tokens per sequence when packed."""
    tr, lay, c = inp.trainer, plan.layout, inp.cluster
    row = tr.micro_batch_size * 2 * lay.seq_length
    if not plan.packed:
        return (f"packing: off (trainer.packing={tr.packing}); memory and time assume every sequence is "
                f"seq_length long (the upper bound of padding to the micro-batch's longest sequence)")
    head = (f"packing: on (trainer.packing={tr.packing}); a packed row holds up to {row:,} tokens, the padded "
            "micro-batch's largest size, so the activation term below covers a full row")
    if c.plan_sequence_tokens is None:
        return head + ("; time assumes every sequence is seq_length long (set cluster.plan_sequence_tokens to the "
                       "data's mean tokens per sequence for the packed time)")
    return head + (f"; time assumes {min(c.plan_sequence_tokens, lay.seq_length):,} real tokens per sequence "
                   f"(cluster.plan_sequence_tokens): about {plan.rows_per_step} row(s) per rank per step instead of "
                   f"{lay.num_microbatches} padded micro-batches")


def plan_config(model_preset: str, cluster_preset: Optional[str] = None, overrides: Sequence[str] = ()) -> DriftConfig:
    """The run config for `model=<preset> [cluster=<preset>] key=value ...`, from the one loader."""
    from nemo_drift.config.loader import load_config

    groups = [f"model={model_preset}", *([f"cluster={cluster_preset}"] if cluster_preset else [])]
    return load_config([*groups, *overrides], validate=False)


def print_plan(inp: DriftConfig, out: Any = None) -> int:
    """Print the plan of `inp`; 0 when it can run, 1 with one line per refusal otherwise."""
    out = out or sys.stdout
    try:
        plan = make_plan(inp)
    except ValueError as err:
        print(f"plan refused:\n  - {err}", file=out)
        return 1
    print(format_plan(plan, inp), file=out)
    te_needs = [needs for needs, _ in inp.model.te_requirements()]
    if inp.cluster.capabilities:
        try:
            plan.refusals += inp.model.capability_problems(inp.cluster.stage_capabilities())
        except ValueError as err:
            plan.refusals.append(str(err))
    elif te_needs:
        print(f"Transformer Engine needed ({'; '.join(te_needs)}): not checked here; pass the training image's "
              "probe file as cluster.capabilities=FILE (`nemo-drift probe`)", file=out)
    if plan.refusals:
        print("plan refused:\n" + "\n".join(f"  - {r}" for r in plan.refusals), file=out)
        return 1
    print("plan ok", file=out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m nemo_drift.planner MODEL_PRESET [CLUSTER_PRESET] [key=value ...]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    preset, rest = args[0], args[1:]
    cluster = rest.pop(0) if rest and "=" not in rest[0] else None
    return print_plan(plan_config(preset, cluster, rest))
