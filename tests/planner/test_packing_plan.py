"""The planner with packing: packed time counts real tokens (cluster.plan_sequence_tokens), the rows per
step follow the row budget, memory is unchanged (a row is the padded micro-batch's largest size), and a
bad mean length is refused naming the setting."""
from __future__ import annotations

import pytest

from nemo_drift.planner.cli import format_plan, plan_config
from nemo_drift.planner.plan import make_plan
from nemo_drift.planner.timing import train_flops_per_token

SDPA = "model.attention_backend=sdpa"


def plan(*overrides: str):
    inp = plan_config("qwen2_5_7b", "slurm_h100", [SDPA, *overrides])
    return make_plan(inp), inp


def test_packed_train_time_counts_real_tokens() -> None:
    padded, _ = plan("trainer.packing=false", "cluster.plan_sequence_tokens=512")
    packed, inp = plan("trainer.packing=true", "cluster.plan_sequence_tokens=512")
    assert not padded.packed and packed.packed
    arch, seq = inp.model.resolved_architecture(), inp.model.seq_length
    expected = (512 * train_flops_per_token(arch, 512)) / (seq * train_flops_per_token(arch, seq))
    assert packed.time.train_s / padded.time.train_s == pytest.approx(expected, rel=1e-9)
    assert packed.train.total == padded.train.total  # the activation term covers a full row either way


def test_rows_per_step_from_the_row_budget() -> None:
    packed, inp = plan("trainer.packing=true", "cluster.plan_sequence_tokens=660")
    pairs_per_rank = inp.trainer.global_batch_size // packed.dp
    row = inp.trainer.micro_batch_size * 2 * inp.model.seq_length
    assert packed.rows_per_step == -(-pairs_per_rank * 2 * 660 // row)
    assert f"about {packed.rows_per_step} row(s) per rank per step" in format_plan(packed, inp)


def test_without_a_mean_length_the_upper_bound_is_kept() -> None:
    packed, inp = plan("trainer.packing=true")
    padded, _ = plan("trainer.packing=false")
    assert packed.time.train_s == padded.time.train_s and packed.rows_per_step is None
    assert "set cluster.plan_sequence_tokens" in format_plan(packed, inp)


@pytest.mark.parametrize("value", ["0", "-5"])
def test_bad_mean_length_is_refused(value: str) -> None:
    found, _ = plan(f"cluster.plan_sequence_tokens={value}")
    assert any(r.startswith("cluster.plan_sequence_tokens:") for r in found.refusals)
