"""Per-GPU memory of a DPO training step and of a vLLM replica, in bytes (pure arithmetic).

Training, per GPU of the largest pipeline stage (what megatron-core allocates in this project,
nemo_drift/megatron/optimizer.py):
  bf16 (GPU): params 2 B + fp32 grad buffer 4 B (grad_reduce_in_fp32) + optimizer: fp32 main params
              4 B + 4 B per state tensor (RMSprop: "exp_avg_sq" only; Adam: "exp_avg" + "exp_avg_sq"),
              sharded over DP by the distributed optimizer: RMSprop = 6 + 8/DP bytes per parameter.
  fp32 (CPU): params 4 + grads 4 + optimizer 4 B per state tensor (no main-param copy).
Activations saved for backward, per token per layer, in elements (SDPA/flash attention: no s x s
score matrix is ever stored, so selective recomputation has nothing left to drop):
  outside the TP region (split only by sequence parallelism): 2 norm inputs + QKV input + fc1 input = 4h
  inside (split by TP): q, k, v + attention output = 2*heads*d + 2*kv*d; gated MLP: fc1 output (2f) +
  fc2 input (f) = 3f with megatron's fused SwiGLU (GPU, SiLU models), and silu(gate) (f) + megatron's
  copy of the linear half (f) on top = 5f unfused (CPU, Gemma): megatron/mlp.py:324-331.
  Checked against bench/estimate_dpo_memory.py (fake tensors): fused vs unfused differ by 2f exactly.
Full recomputation keeps only each layer's input (h) plus one layer's full activations.
Logits (last stage): [tokens, V/TP] logits + their gradient in the compute dtype, plus (bf16) one fp32
chunk of at most 64M elements (nemo_drift/megatron/logprobs.py: the log-prob Function saves only a
log-sum-exp per token; with fp32 logits its backward works in the gradient's rows).
Worked example, Qwen2.5-7B at TP2 PP1 DP4 bf16, RMSprop, 1 pair per micro-batch (2 x 2048 = 4,096
tokens): params/GPU 7.62B / 2 = 3.81B -> 3.81B x (6 + 8/4) B = 30.5 GB; activations 28 layers x 4,096
tokens x (4 x 3584 + (2 x 28 x 128 + 2 x 4 x 128 + 3 x 18944) / 2) x 2 B = 10.7 GB.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from nemo_drift.config.architecture import ArchitectureConfig

GIB = 1024 ** 3
LOGPROB_CHUNK_ELEMENTS = 1 << 26
"""nemo_drift/megatron/logprobs.py `_CHUNK_ELEMENTS`: fp32 logits per log-softmax chunk."""
VLLM_OVERHEAD_BYTES = 3 * GIB
"""vLLM's non-KV working memory per GPU (profiled activations, CUDA graphs, sampler): an assumption."""


@dataclass(frozen=True)
class TrainLayout:
    """What the training memory depends on besides the architecture."""

    tp: int
    pp: int
    dp: int
    dtype_bytes: int
    """2 for bf16 (GPU), 4 for fp32 (CPU)."""
    micro_batch_pairs: int
    seq_length: int
    num_microbatches: int
    sequence_parallel: bool = False
    recompute: Optional[str] = None
    distributed_optimizer: bool = False
    reference_in_loop: bool = False
    optimizer_states: int = 1
    """fp32 state tensors per parameter: 1 for RMSprop, 2 for Adam."""
    fused_swiglu: bool = False
    """megatron's fused SwiGLU (GPU + SiLU-gated MLP): 3f instead of 5f MLP activations."""


@dataclass(frozen=True)
class TrainMemory:
    """Bytes per GPU of one training step; `total` is the planned peak."""

    params: int
    weights: int
    grads: int
    optimizer: int
    activations: int
    activations_no_recompute: int
    activations_full_recompute: int
    logits: int
    reference_model: int
    """A resident reference model's weights (trainer.reference=in_loop); 0 when precomputed."""
    reference_pass: int
    """Peak of the separate forward-only reference stage (weights + one layer + logits chunk)."""

    @property
    def total(self) -> int:
        return self.weights + self.grads + self.optimizer + self.activations + self.logits + self.reference_model


def stage_params(arch: ArchitectureConfig, tp: int, pp: int) -> int:
    """Parameters held by one GPU of the largest pipeline stage.

    PP=1: every layer + embedding (+ untied output layer), all split by TP. PP>1: the first stage holds
    the embedding, the last the output layer (a tied embedding is copied there too); norms are tiny.
    """
    layers = math.ceil(arch.num_layers / pp) * arch.layer_params()
    vocab_matrix = arch.vocab_size * arch.hidden_size
    embeddings = arch.embedding_params() if pp == 1 else vocab_matrix + arch.hidden_size
    return (layers + embeddings) // tp


def layer_activation_elements(arch: ArchitectureConfig, tp: int, sequence_parallel: bool,
                              fused_swiglu: bool = False) -> float:
    """Elements saved per token per layer for backward (see module docstring)."""
    h, d, f = arch.hidden_size, arch.head_size, arch.ffn_hidden_size
    outside = 4 * h / (tp if sequence_parallel else 1)
    inside = (2 * arch.num_attention_heads * d + 2 * arch.kv_heads * d + (3 if fused_swiglu else 5) * f) / tp
    return outside + inside


def train_memory(arch: ArchitectureConfig, lay: TrainLayout) -> TrainMemory:
    """Planned bytes per GPU for one DPO step under `lay` (largest stage; module docstring has the terms)."""
    params = stage_params(arch, lay.tp, lay.pp)
    weights = params * lay.dtype_bytes
    grads = params * 4  # fp32 grad buffer in both precisions
    state_bytes = 4 * lay.optimizer_states + (4 if lay.dtype_bytes == 2 else 0)  # + fp32 main params under bf16
    opt_bytes = state_bytes / lay.dp if lay.distributed_optimizer else state_bytes
    optimizer = int(params * opt_bytes)

    tokens = lay.micro_batch_pairs * 2 * lay.seq_length  # chosen + rejected per pair
    layers = math.ceil(arch.num_layers / lay.pp)
    in_flight = min(lay.pp, lay.num_microbatches)  # 1F1B: the first stage holds PP micro-batches
    per_layer = (layer_activation_elements(arch, lay.tp, lay.sequence_parallel, lay.fused_swiglu)
                 * tokens * lay.dtype_bytes)
    no_recompute = int(per_layer * layers * in_flight)
    layer_input = arch.hidden_size / (lay.tp if lay.sequence_parallel else 1) * tokens * lay.dtype_bytes
    full = int(layer_input * layers * in_flight + per_layer)
    activations = full if lay.recompute == "full" else no_recompute

    vocab_local = arch.vocab_size // lay.tp
    chunk = min(LOGPROB_CHUNK_ELEMENTS, tokens * vocab_local)
    # logits + gradient; under bf16 one fp32 chunk is live beside them (fp32 logits: the backward works
    # in the gradient's own rows, and the forward's chunk copy is gone by then)
    logits = tokens * vocab_local * 2 * lay.dtype_bytes + (chunk * 4 if lay.dtype_bytes < 4 else 0)
    reference_model = weights if lay.reference_in_loop else 0
    reference_pass = weights + int(per_layer) + tokens * vocab_local * lay.dtype_bytes + chunk * 4
    return TrainMemory(params, weights, grads, optimizer, activations, no_recompute, full, logits,
                       reference_model, reference_pass)


@dataclass(frozen=True)
class VllmMemory:
    """Bytes per GPU of one vLLM replica and what its KV cache can hold."""

    weights: int
    budget: int
    """gpu_memory_utilization x card: what vLLM may take."""
    kv_cache: int
    kv_bytes_per_token: int
    max_sequences: int
    """Concurrent sequences of prompt + max_tokens the KV cache holds (0: not even one)."""


def vllm_memory(arch: ArchitectureConfig, tp: int, card_bytes: float, utilization: float,
                sequence_tokens: int, dtype_bytes: int = 2) -> VllmMemory:
    """Weights split by TP + the KV cache vLLM fills the rest of its budget with.

    KV bytes per token = 2 (K and V) x layers x max(kv / TP, 1) x head_dim x dtype; e.g. Qwen2.5-72B at
    TP4: 2 x 80 x 2 x 128 x 2 B = 81,920 B/token.
    """
    weights = arch.num_params() * dtype_bytes // tp
    budget = int(card_bytes * utilization)
    kv_cache = max(budget - weights - VLLM_OVERHEAD_BYTES, 0)
    kv_per_token = 2 * arch.num_layers * max(arch.kv_heads // tp, 1) * arch.head_size * dtype_bytes
    return VllmMemory(weights, budget, kv_cache, kv_per_token, kv_cache // (kv_per_token * sequence_tokens))
