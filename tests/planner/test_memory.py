"""The memory/time arithmetic against hand-worked figures (the docstring examples) and known model sizes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemo_drift.config.architecture import ArchitectureConfig
from nemo_drift.planner.cli import plan_config
from nemo_drift.planner.memory import GIB, TrainLayout, layer_activation_elements, train_memory, vllm_memory
from nemo_drift.planner.timing import train_flops_per_token

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset,billions", [("qwen2_5_0_5b", 0.494), ("qwen2_5_1_5b", 1.544), ("qwen2_5_7b", 7.616),
                                              ("qwen2_5_14b", 14.77), ("qwen2_5_32b", 32.76), ("qwen2_5_72b", 72.71),
                                              ("llama3_1_8b", 8.03)])
def test_parameter_counts_match_published_sizes(preset: str, billions: float) -> None:
    arch = plan_config(preset).model.resolved_architecture()
    assert arch.num_params() / 1e9 == pytest.approx(billions, rel=0.003)


def test_qwen7b_worked_example() -> None:
    """memory.py docstring: TP2 PP1 DP4, bf16, RMSprop, distributed optimizer, 1 pair of 2 x 2048 tokens."""
    arch = plan_config("qwen2_5_7b").model.resolved_architecture()
    lay = TrainLayout(tp=2, pp=1, dp=4, dtype_bytes=2, micro_batch_pairs=1, seq_length=2048, num_microbatches=8,
                      distributed_optimizer=True, fused_swiglu=True)
    mem = train_memory(arch, lay)
    assert mem.params / 1e9 == pytest.approx(3.81, abs=0.01)
    assert (mem.weights + mem.grads + mem.optimizer) / 1e9 == pytest.approx(3.808 * 8, rel=0.01)  # 6 + 8/4 B
    adam = train_memory(arch, TrainLayout(**{**lay.__dict__, "optimizer_states": 2}))
    assert adam.optimizer - mem.optimizer == mem.params * 4 // 4  # one more fp32 state, sharded over DP 4
    per_token = 4 * 3584 + (2 * 28 * 128 + 2 * 4 * 128 + 3 * 18944) / 2
    assert layer_activation_elements(arch, 2, False, fused_swiglu=True) == per_token
    assert mem.activations == int(per_token * 4096 * 2 * 28)
    assert mem.activations / 1e9 == pytest.approx(10.7, abs=0.05)
    unfused = train_memory(arch, TrainLayout(**{**lay.__dict__, "fused_swiglu": False}))
    assert unfused.activations - mem.activations == pytest.approx(2 * 18944 / 2 * 4096 * 2 * 28, rel=1e-6)


def test_recompute_pipeline_and_reference_terms() -> None:
    arch = plan_config("qwen2_5_72b").model.resolved_architecture()
    base = dict(tp=8, dp=2, dtype_bytes=2, micro_batch_pairs=1, seq_length=2048, sequence_parallel=True,
                distributed_optimizer=True)
    pp2 = train_memory(arch, TrainLayout(pp=2, num_microbatches=16, **base))
    pp2_full = train_memory(arch, TrainLayout(pp=2, num_microbatches=16, recompute="full", **base))
    pp2_one_mb = train_memory(arch, TrainLayout(pp=2, num_microbatches=1, **base))
    resident = train_memory(arch, TrainLayout(pp=2, num_microbatches=16, reference_in_loop=True, **base))
    assert pp2.activations == 2 * pp2_one_mb.activations  # 1F1B: the first stage holds PP micro-batches
    assert pp2_full.activations < pp2.activations / 10
    assert resident.total - pp2.total == pp2.weights  # a resident reference = one more bf16 weight copy


def test_vllm_kv_cache_worked_example() -> None:
    arch = plan_config("qwen2_5_72b").model.resolved_architecture()
    mem = vllm_memory(arch, tp=4, card_bytes=80 * GIB, utilization=0.85, sequence_tokens=1536)
    assert mem.kv_bytes_per_token == 2 * 80 * 2 * 128 * 2 == 81_920
    assert mem.weights == arch.num_params() * 2 // 4


def test_flops_worked_example() -> None:
    arch = plan_config("qwen2_5_7b").model.resolved_architecture()
    assert train_flops_per_token(arch, 2048) == pytest.approx(4.70e10, rel=0.01)


def test_local_folder_config_json_wins_over_preset() -> None:
    inp = plan_config("smollm2_135m")
    arch = inp.model.resolved_architecture()
    assert arch.source.endswith("config.json") and arch.head_size == 64 and arch.tied_embeddings
    hf = json.loads((REPO / ".cache/models/smollm2-135m-instruct/config.json").read_text())
    assert arch == ArchitectureConfig.from_hf_config(hf, source=arch.source)
    assert arch.num_params() == pytest.approx(134.5e6, rel=0.01)
