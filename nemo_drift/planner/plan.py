"""Build a plan (layout, memory, time) from a run config and collect the refusals.

Each refusal names the setting to change. Rules (one test each in tests/planner/test_refusals.py):
  heads      model.tensor_model_parallel_size must divide num_attention_heads
  kv_groups  model.tensor_model_parallel_size must divide num_key_value_heads
  layers     model.pipeline_model_parallel_size must divide num_layers
  gpus       TP x PP must divide the GPUs (cluster.nodes x cluster.gpus_per_node)
  batch      micro_batch_size x DP must divide trainer.global_batch_size
  memory     training peak over the card (cluster.gpu_memory_gib - memory_headroom_gib)
  vllm_tp    generation.tensor_parallel_size must divide heads and the GPUs of one node
  vllm_mem   vLLM weights + one sequence's KV cache must fit gpu_memory_utilization x card
"""
from __future__ import annotations

from dataclasses import dataclass, field

from nemo_drift.config.architecture import ArchitectureConfig
from nemo_drift.config.schema import DriftConfig
from nemo_drift.planner.memory import GIB, TrainLayout, TrainMemory, VllmMemory, train_memory, vllm_memory
from nemo_drift.planner.timing import IterationTime, iteration_time


@dataclass
class Plan:
    """Everything `nemo-drift plan` prints; `refusals` empty means the layout can run."""

    arch: ArchitectureConfig
    gpus: int
    tp: int
    pp: int
    dp: int
    layout: TrainLayout | None
    train: TrainMemory | None
    vllm: VllmMemory | None
    vllm_replicas: int
    tokens_per_step: int
    time: IterationTime | None
    usable_bytes: float
    refusals: list[str] = field(default_factory=list)
    packed: bool = False
    """Whether the job packs micro-batches (trainer.packing resolved with the attention backend this machine
    resolves: plan where the job runs, or set model.attention_backend)."""
    rows_per_step: int | None = None
    """Packed rows one rank runs per step with sequences of cluster.plan_sequence_tokens (None: not packed,
    or no mean length given)."""


def _layout_refusals(arch: ArchitectureConfig, inp: DriftConfig, gpus: int) -> list[str]:
    tp, pp = inp.model.tensor_model_parallel_size, inp.model.pipeline_model_parallel_size
    cp = inp.model.context_parallel_size
    errors = arch.parallel_problems(tp, pp)
    if gpus % (tp * pp * cp):
        errors.append(f"model.tensor_model_parallel_size: TP {tp} x PP {pp} x CP {cp} = {tp * pp * cp} does not "
                      f"divide the {gpus} GPUs (cluster.nodes x cluster.gpus_per_node)")
    gen_tp = inp.generation.tensor_parallel_size
    if arch.num_attention_heads % gen_tp:
        errors.append(f"generation.tensor_parallel_size: vLLM TP {gen_tp} does not divide num_attention_heads "
                      f"{arch.num_attention_heads}")
    per_node = inp.cluster.gpus_per_node if inp.cluster.on_gpu else inp.cluster.world_size
    if inp.cluster.on_gpu and per_node % gen_tp:
        errors.append(f"generation.tensor_parallel_size: vLLM TP {gen_tp} must divide the {per_node} GPUs of one "
                      "node (a replica never spans nodes)")
    return errors


def _layout(inp: DriftConfig, arch: ArchitectureConfig, dp: int) -> TrainLayout:
    on_gpu = inp.cluster.on_gpu
    precision = inp.model.precision
    dtype_bytes = 4 if precision == "fp32" or (precision == "auto" and not on_gpu) else 2
    dist_opt = inp.trainer.use_distributed_optimizer
    distributed = on_gpu if dist_opt == "auto" else bool(dist_opt) and on_gpu
    return TrainLayout(tp=inp.model.tensor_model_parallel_size, pp=inp.model.pipeline_model_parallel_size, dp=dp,
                       dtype_bytes=dtype_bytes, micro_batch_pairs=inp.trainer.micro_batch_size,
                       seq_length=inp.model.seq_length, num_microbatches=inp.trainer.num_microbatches(dp),
                       sequence_parallel=inp.model.sequence_parallel, recompute=inp.model.recompute,
                       distributed_optimizer=distributed, reference_in_loop=inp.trainer.reference == "in_loop",
                       optimizer_states=2 if inp.trainer.optimizer == "adam" else 1,
                       fused_swiglu=on_gpu and arch.activation == "silu")


def make_plan(inp: DriftConfig) -> Plan:
    """The plan for `inp`; layouts that cannot work come back with `refusals` (nothing else is computed
    when the parallel layout itself is impossible)."""
    arch = inp.model.resolved_architecture()
    cluster = inp.cluster
    gpus = cluster.world_size
    tp, pp = inp.model.tensor_model_parallel_size, inp.model.pipeline_model_parallel_size
    mp = tp * pp * inp.model.context_parallel_size
    dp = max(gpus // mp, 1)
    usable = (cluster.gpu_memory_gib - cluster.memory_headroom_gib) * GIB
    tokens_per_step = inp.trainer.global_batch_size * 2 * inp.model.seq_length
    plan = Plan(arch, gpus, tp, pp, dp, None, None, None, 0, tokens_per_step, None, usable,
                refusals=[*cluster.validate(), *_layout_refusals(arch, inp, gpus)])
    mb = inp.trainer.micro_batch_size * dp
    if inp.trainer.global_batch_size % mb:
        plan.refusals.append(f"trainer.global_batch_size: {inp.trainer.global_batch_size} pairs is not divisible by "
                             f"micro_batch_size {inp.trainer.micro_batch_size} x DP {dp} = {mb}")
    if plan.refusals:
        return plan
    plan.layout = _layout(inp, arch, dp)
    plan.packed = inp.trainer.packs(inp.model.resolved_attention_backend(), inp.model.context_parallel_size)
    if plan.packed and cluster.plan_sequence_tokens:
        pairs_per_rank = inp.trainer.global_batch_size // dp
        row = inp.trainer.micro_batch_size * 2 * inp.model.seq_length
        mean_pair = 2 * min(cluster.plan_sequence_tokens, inp.model.seq_length)
        plan.rows_per_step = -(-pairs_per_rank * mean_pair // row)
    plan.train = train_memory(arch, plan.layout)
    gen = inp.generation
    plan.vllm_replicas = gpus // gen.tensor_parallel_size if cluster.on_gpu else gen.replicas
    seq_tokens = cluster.plan_prompt_tokens + gen.max_tokens
    plan.vllm = vllm_memory(arch, gen.tensor_parallel_size, cluster.gpu_memory_gib * GIB, gen.gpu_memory_utilization,
                            seq_tokens)
    plan.time = iteration_time(arch, cluster, gpus, mp, inp.model.seq_length, cluster.plan_pairs, gen.n, gen.max_tokens,
                               cluster.plan_sequence_tokens if plan.packed else None)
    if cluster.on_gpu and plan.train.total > usable:
        plan.refusals.append(
            f"cluster.gpu_memory_gib: training needs {plan.train.total / GIB:.1f} GiB per GPU, over the "
            f"{usable / GIB:.1f} GiB usable of a {cluster.gpu_memory_gib:g} GiB card; raise "
            "model.tensor_model_parallel_size / pipeline_model_parallel_size, set model.recompute=full, "
            "lower trainer.micro_batch_size or use trainer.use_distributed_optimizer=true")
    if cluster.on_gpu and plan.vllm.max_sequences < 1:
        plan.refusals.append(
            f"generation.tensor_parallel_size: vLLM TP {gen.tensor_parallel_size} leaves no room for one "
            f"{seq_tokens}-token sequence (weights {plan.vllm.weights / GIB:.1f} GiB of a "
            f"{plan.vllm.budget / GIB:.1f} GiB budget = generation.gpu_memory_utilization x card); raise it")
    return plan
