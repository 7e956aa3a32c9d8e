"""Every pair is trained on once per epoch: an epoch whose pair count is not a multiple of the global
batch ends with a smaller step (Hugging Face Trainer, drop_last=False), whose loss is the mean over
the pairs it has, and the lr schedule counts that step.

Fast checks on the step plan (pure Python), then tiny-qwen2 on real megatron-core (gloo): one
single-process worker, one 2-process DP 2 worker and one 2-process PP 2 worker (one run), ~3 minutes
together on 2 shared cores (slow).
"""
from __future__ import annotations

import collections
import math

import pytest

from nemo_drift.config.trainer import TrainerConfig
from nemo_drift.megatron.schedule import job_steps, steps_per_epoch
from nemo_drift.megatron.data_order import epoch_order, rank_microbatch_indices, step_plan

LR = 1e-4  # dpo_worker.BASE


def test_step_counts_take_the_ceil() -> None:
    assert steps_per_epoch(6, 4) == 2 and steps_per_epoch(8, 4) == 2 and steps_per_epoch(1, 4) == 1
    # the embedded default's warm start: 6 seed pairs, global batch 4, 3 epochs (floor gave 3 steps)
    assert job_steps(6, TrainerConfig(global_batch_size=4, epochs=3)) == 6
    assert job_steps(10, TrainerConfig(global_batch_size=4, epochs=3)) == 9
    assert job_steps(10, TrainerConfig(global_batch_size=4, epochs=3, max_steps=4)) == 4


def _plan(num_pairs: int, cfg: TrainerConfig, dp: int) -> list[list[list[tuple[list[int], float]]]]:
    """plan[step][rank] = that rank's (micro-batch, weight) list, over the whole job."""
    per_epoch = steps_per_epoch(num_pairs, cfg.global_batch_size)
    plan = []
    for step in range(job_steps(num_pairs, cfg)):
        epoch, position = divmod(step, per_epoch)
        order = epoch_order(num_pairs, cfg.seed, epoch)
        plan.append([step_plan(order, position, cfg, rank, dp) for rank in range(dp)])
    return plan


@pytest.mark.parametrize("num_pairs", [1, 5, 6, 7, 8, 13])
@pytest.mark.parametrize("mbs,dp", [(1, 1), (2, 1), (4, 1), (1, 2), (2, 2), (1, 4)])
def test_plan_covers_every_pair_each_epoch_with_the_step_mean(num_pairs: int, mbs: int, dp: int) -> None:
    cfg = TrainerConfig(global_batch_size=4, micro_batch_size=mbs, epochs=3)
    plan = _plan(num_pairs, cfg, dp)
    seen = collections.Counter()
    for ranks in plan:
        n = sum(len(g) for mine in ranks for g, w in mine if w > 0)
        for mine in ranks:
            assert mine and len({len(g) for g, _ in mine}) == 1  # one pipeline pass: equal shapes
            for g, w in mine:
                if w == 0:  # padding: a rank with no pair of the step
                    assert n < dp and mine == [(g, 0.0)]
                    continue
                seen.update(g)
                # megatron: / micro-batches of the rank, DDP: / DP ranks -> each pair weighs 1/n
                assert w / len(g) / len(mine) / dp == pytest.approx(1 / n, rel=1e-12)
        if n == cfg.global_batch_size:  # full steps are laid out as before: weight exactly 1
            assert all(w == 1.0 and len(g) == mbs for mine in ranks for g, w in mine)
    assert seen == {i: 3 for i in range(num_pairs)}
    assert len(plan) == math.ceil(num_pairs / 4) * 3


def test_full_steps_keep_the_old_layout() -> None:
    # the TP/PP/DP equivalence and resume tests (20 pairs, global batch 4) run unchanged
    order = list(range(100, 120))
    for mbs, dp in [(1, 1), (2, 1), (1, 2), (2, 2), (1, 4)]:
        cfg = TrainerConfig(global_batch_size=4, micro_batch_size=mbs)
        per_rank = 4 // dp
        for position in range(5):
            for rank in range(dp):
                old = order[position * 4:(position + 1) * 4][rank * per_rank:(rank + 1) * per_rank]
                assert rank_microbatch_indices(order, position, cfg, rank, dp) == \
                    [old[i:i + mbs] for i in range(0, per_rank, mbs)]


# --- real training: what the loss function saw ------------------------------------------------------

def _fed(reports: list[dict], run: str) -> list[list[str]]:
    """Per step, the pair ids the loss saw on any rank (union over data-parallel ranks)."""
    steps = len(reports[0][run]["pair_ids"])
    return [sorted(i for r in reports for i in r[run]["pair_ids"][s]) for s in range(steps)]


@pytest.fixture(scope="module")
def reports(tiny_qwen_path, tmp_path_factory) -> dict[str, list[dict]]:
    """Per layout ("dp1", "dp2", "pp2"), every rank's report of epoch_coverage_worker.py."""
    from pathlib import Path

    from tests.distributed import run_torchrun

    worker = Path(__file__).parent / "train_workers" / "epoch_coverage_worker.py"
    out = {}
    for name, nproc, pp in (("dp1", 1, 1), ("dp2", 2, 1), ("pp2", 2, 2)):
        tmp = tmp_path_factory.mktemp(f"coverage_{name}")
        out[name] = run_torchrun(worker, nproc, [str(tiny_qwen_path), str(tmp / "out"), str(pp)], tmp)
        assert len(out[name]) == nproc
    return out


@pytest.mark.slow
@pytest.mark.parametrize("dp", [1, 2])
def test_each_pair_is_trained_exactly_epochs_times(reports, dp: int) -> None:
    # 6 pairs, global batch 4, 3 epochs: 6 steps of 4 + 2 pairs (the old floor: 3 steps of 4)
    fed = _fed(reports[f"dp{dp}"], "six")
    assert [len(s) for s in fed] == [4, 2, 4, 2, 4, 2]
    assert collections.Counter(i for s in fed for i in s) == {f"p{i}": 3 for i in range(6)}
    for e in range(3):
        assert sorted(fed[2 * e] + fed[2 * e + 1]) == sorted(f"p{i}" for i in range(6))  # each epoch: all
    assert fed[0] != fed[2] or fed[2] != fed[4]  # a new order each epoch
    assert reports[f"dp{dp}"][0]["six"]["pairs"] == [4, 2, 4, 2, 4, 2]  # logged metrics count the same pairs
    for run, n in (("seven", 7), ("five", 5)):
        assert sorted(i for s in _fed(reports[f"dp{dp}"], run) for i in s) == sorted(f"p{i}" for i in range(n))


@pytest.mark.slow
def test_schedule_counts_the_partial_steps(reports) -> None:
    # T = 6, warmup 0.1 -> W = 1: steps use 0, 1, 4/5, 3/5, 2/5, 1/5 of the lr (floor: T = 3, lr 0, 1, 1/2)
    expected = [0.0, 1.0, 0.8, 0.6, 0.4, 0.2]
    assert reports["dp1"][0]["six"]["lrs"] == pytest.approx([LR * x for x in expected], rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("run", ["six", "seven", "five"])
def test_partial_steps_match_across_data_parallel(reports, run: str) -> None:
    # the last step's loss and gradient are the mean over its pairs however DP splits them:
    # six 1 + 1 pairs, seven 2 + 1 (weights 4/3, 2/3), five 1 + none (rank 1 at weight 0)
    one, two = reports["dp1"][0][run], reports["dp2"][0][run]
    assert len(one["losses"]) == len(two["losses"]) == {"six": 6, "seven": 2, "five": 2}[run]
    assert two["losses"] == pytest.approx(one["losses"], abs=1e-5)
    assert two["grad_norms"] == pytest.approx(one["grad_norms"], abs=1e-5)


@pytest.mark.slow
def test_partial_step_matches_across_pipeline_stages(reports) -> None:
    # PP 2: full steps pass 2 micro-batches of 2 pairs, the last step 3 of 1 (one shape per pass)
    one, last_stage = reports["dp1"][0]["seven"], reports["pp2"][1]["seven"]
    assert sorted(i for s in _fed(reports["pp2"], "seven") for i in s) == sorted(f"p{i}" for i in range(7))
    assert reports["pp2"][0]["seven"]["pair_ids"] == [[], []]  # the first stage computes no loss
    assert last_stage["losses"] == pytest.approx(one["losses"], abs=1e-5)
    assert last_stage["grad_norms"] == pytest.approx(one["grad_norms"], abs=1e-5)


@pytest.mark.slow
def test_resume_inside_an_epoch_with_a_partial_step(reports) -> None:
    # stopped after step 3 (epoch 2's first step); the resumed run starts with epoch 2's partial step
    base, cut, resumed = (reports["dp1"][0][k] for k in ("six", "interrupted", "resumed"))
    assert cut["losses"] == pytest.approx(base["losses"][:3], abs=1e-7)
    assert resumed["first_step"] == 4 and resumed["pair_ids"] == base["pair_ids"][3:]
    assert resumed["losses"] == pytest.approx(base["losses"][3:], abs=1e-6)
    assert resumed["grad_norms"] == pytest.approx(base["grad_norms"][3:], rel=1e-6)
    assert resumed["lrs"] == pytest.approx(base["lrs"][3:], rel=1e-9)


@pytest.mark.slow
def test_reference_pass_with_an_uneven_share_per_rank(reports) -> None:
    # DP 2, 5 pairs, micro 2: rank 0 makes two pipeline passes and rank 1 one; the gather happens once per job,
    # so neither waits for a collective the other never calls, and both hold every pair's values
    one = reports["dp1"][0]["reference5"]
    assert sorted(one) == [f"p{i}" for i in range(5)]
    for rank in reports["dp2"]:
        assert sorted(rank["reference5"]) == sorted(one)
        for pair_id, values in one.items():
            assert rank["reference5"][pair_id] == pytest.approx(values, abs=1e-5)
