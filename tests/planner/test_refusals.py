"""The planner's refusals: one test per rule, each on a layout that cannot work, checking the exit code
and that the message names the setting to change; and every shipped preset plans clean."""
from __future__ import annotations

import io

import pytest

from nemo_drift.planner.cli import plan_config, print_plan
from nemo_drift.planner.plan import make_plan

PRESETS = ["qwen2_5_0_5b", "qwen2_5_1_5b", "qwen2_5_7b", "qwen2_5_14b", "qwen2_5_32b", "qwen2_5_72b",
           "llama3_1_8b", "gemma3_12b"]


def refusals(preset: str, *overrides: str) -> list[str]:
    return make_plan(plan_config(preset, "slurm_h100", list(overrides))).refusals


def run_cli(preset: str, *overrides: str) -> tuple[int, str]:
    out = io.StringIO()
    code = print_plan(plan_config(preset, "slurm_h100", list(overrides)), out)
    return code, out.getvalue()


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_plans_clean(preset: str) -> None:
    code, text = run_cli(preset)
    assert code == 0, text
    assert "plan ok" in text and "tokens/step" in text and "time per iteration" in text


def test_refuses_tp_not_dividing_heads() -> None:
    # Qwen2.5-7B: 28 heads; TP 8 does not divide them (it would divide neither 28 nor the 4 KV groups).
    found = refusals("qwen2_5_7b", "model.tensor_model_parallel_size=8")
    assert any("model.tensor_model_parallel_size" in r and "num_attention_heads 28" in r for r in found)


def test_refuses_tp_not_dividing_kv_groups() -> None:
    # Qwen2.5-14B: 40 heads (TP 5 divides), 8 KV groups (TP 5 does not).
    found = refusals("qwen2_5_14b", "model.tensor_model_parallel_size=5", "cluster.gpus_per_node=5")
    assert found == ["model.tensor_model_parallel_size: TP 5 does not divide num_key_value_heads (KV groups) 8 (preset)"]


def test_refuses_pp_not_dividing_layers() -> None:
    found = refusals("qwen2_5_7b", "model.pipeline_model_parallel_size=3", "cluster.gpus_per_node=6")
    assert any(r.startswith("model.pipeline_model_parallel_size: PP 3 does not divide num_layers 28") for r in found)


def test_refuses_gpus_not_divisible_by_tp_pp() -> None:
    found = refusals("qwen2_5_72b", "cluster.nodes=3", "cluster.gpus_per_node=4")  # 12 GPUs, TP8 x PP2 = 16
    assert any("TP 8 x PP 2 x CP 1 = 16 does not divide the 12 GPUs" in r for r in found)


def test_refuses_micro_batches_not_dividing_global_batch() -> None:
    found = refusals("qwen2_5_7b", "trainer.global_batch_size=30")  # 1 pair x DP4 = 4 does not divide 30
    assert found == ["trainer.global_batch_size: 30 pairs is not divisible by micro_batch_size 1 x DP 4 = 4"]


def test_refuses_training_memory_over_the_card() -> None:
    # 14B on one node at TP1: 14.8B x (2 + 4 + 12/8) bytes = 110 GB of weights/grads/optimizer alone.
    code, text = run_cli("qwen2_5_14b", "model.tensor_model_parallel_size=1")
    assert code == 1
    assert "cluster.gpu_memory_gib: training needs" in text and "usable of a 80 GiB card" in text
    assert refusals("qwen2_5_14b", "model.tensor_model_parallel_size=1", "cluster.gpu_memory_gib=141",
                    "model.recompute=full") == []  # the same layout fits an H200 with full recomputation


def test_refuses_vllm_tp_not_fitting_a_node() -> None:
    found = refusals("qwen2_5_7b", "generation.tensor_parallel_size=3")
    assert any(r.startswith("generation.tensor_parallel_size: vLLM TP 3 must divide the 8 GPUs of one node")
               for r in found)


def test_refuses_vllm_weights_over_the_budget() -> None:
    # 72B bf16 = 145 GB; at vLLM TP1 the weights alone exceed 0.85 x 80 GiB.
    found = refusals("qwen2_5_72b", "generation.tensor_parallel_size=1")
    assert any(r.startswith("generation.tensor_parallel_size: vLLM TP 1 leaves no room") for r in found)


def test_refusal_lists_every_problem_and_exits_nonzero() -> None:
    code, text = run_cli("qwen2_5_7b", "model.tensor_model_parallel_size=3", "trainer.global_batch_size=31")
    assert code == 1
    assert text.count("  - ") >= 2 and "plan ok" not in text
