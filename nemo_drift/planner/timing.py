"""Time per iteration from stated throughput assumptions (cluster.train_mfu, generation_mfu, ...).

FLOPs per token (dense decoder, causal attention): training 6 x params + 6 x layers x seq x heads*d
(forward 2N + attention 2 x L x s x h_q for QK^T and AV halved by the causal mask; backward 2x forward);
the reference pass is forward only (a third of that); decode is 2 x params per generated token.
Worked example, Qwen2.5-7B, 8 H100 at 0.35 MFU: 6 x 7.62e9 + 6 x 28 x 2048 x 3584 = 4.70e10 FLOP/token;
8 x 989e12 x 0.35 = 2.77e15 FLOP/s -> 58,900 tokens/s; 10,632 pairs x 2 x 2048 = 43.5M tokens -> 740 s.
Packed micro-batches compute only the real tokens: with a mean sequence of L tokens, pairs x 2 x L tokens
at the FLOPs per token of an L-token sequence (the attention term then uses the mean length, which
slightly undercounts a heavy tail: it scales with the mean of L^2, not the square of the mean).
"""
from __future__ import annotations

from dataclasses import dataclass

from nemo_drift.config.architecture import ArchitectureConfig
from nemo_drift.config.cluster import ClusterConfig


@dataclass(frozen=True)
class IterationTime:
    """Seconds per DRIFT iteration, stage by stage (engine start and process launch not included)."""

    export_s: float
    generate_s: float
    reference_s: float
    train_s: float
    train_tokens_per_s: float
    generate_tokens_per_s: float

    @property
    def total_s(self) -> float:
        return self.export_s + self.generate_s + self.reference_s + self.train_s


def train_flops_per_token(arch: ArchitectureConfig, seq_length: int) -> float:
    """Forward + backward FLOPs per trained token (module docstring)."""
    q_width = arch.num_attention_heads * arch.head_size
    return 6 * arch.num_params() + 6 * arch.num_layers * seq_length * q_width


def iteration_time(arch: ArchitectureConfig, cluster: ClusterConfig, gpus: int, model_parallel: int,
                   seq_length: int, pairs: int, samples_per_prompt: int, max_new_tokens: int,
                   sequence_tokens: int | None = None) -> IterationTime:
    """Stage times of one iteration on `gpus` GPUs: training sequences of `sequence_tokens` real tokens
    each when packed (see the module docstring), else padded to seq_length (None)."""
    length = min(sequence_tokens or seq_length, seq_length)
    peak = cluster.peak_tflops * 1e12
    flops = train_flops_per_token(arch, length)
    train_tps = gpus * peak * cluster.train_mfu / flops
    tokens = pairs * 2 * length
    gen_tps = gpus * peak * cluster.generation_mfu / (2 * arch.num_params())
    export_bytes = arch.num_params() * 2  # bf16 HF safetensors
    return IterationTime(
        export_s=export_bytes / (cluster.export_gb_per_s * 1e9 * model_parallel),
        generate_s=pairs * samples_per_prompt * max_new_tokens / gen_tps,
        reference_s=tokens / (3 * train_tps),
        train_s=tokens / train_tps,
        train_tokens_per_s=train_tps,
        generate_tokens_per_s=gen_tps,
    )
