"""The training loop on real megatron-core (gloo, tiny-qwen2): invariances that must hold exactly.

One single-process worker run trains five variants (see train_workers/dpo_worker.py); TP=2 and PP=2
each run under torchrun with 2 processes. Every run: 20 pairs, 5 optimizer steps, RMSprop lr 1e-4.
All are marked slow (pytest.ini: multi-process tests over ~30 s): the single-process worker takes
~100 s, each 2-process run ~60 s on 2 shared cores; together ~4 minutes.
"""
from __future__ import annotations

import math

import pytest

from tests.megatron.train_workers.shared import worker_report

LN2 = math.log(2.0)


@pytest.fixture(scope="module")
def variants(tiny_qwen_path) -> dict:
    return worker_report(str(tiny_qwen_path), 1, "variants")


def _assert_curve_moves(losses: list[float]) -> None:
    # the equality checks below would pass vacuously if training did nothing
    assert len(losses) == 5
    assert max(abs(x - LN2) for x in losses[1:]) > 1e-3, losses


@pytest.mark.slow
def test_step_one_loss_is_ln2(variants) -> None:
    # policy == reference at step 1 (reference = the policy at iteration start)
    assert variants["baseline"]["losses"][0] == pytest.approx(LN2, abs=1e-6)
    _assert_curve_moves(variants["baseline"]["losses"])


@pytest.mark.slow
def test_microbatch_times_accumulation_invariance(variants) -> None:
    # global batch 4: micro 1 x 4 accumulation == micro 2 x 2 accumulation
    base, mbs2 = variants["baseline"], variants["mbs2"]
    assert mbs2["losses"] == pytest.approx(base["losses"], abs=1e-5)
    assert mbs2["grad_norms"] == pytest.approx(base["grad_norms"], rel=1e-5)


@pytest.mark.slow
def test_precomputed_reference_equals_in_loop_reference(variants) -> None:
    assert variants["in_loop"]["losses"] == pytest.approx(variants["baseline"]["losses"], abs=1e-6)
    assert variants["in_loop"]["grad_norms"] == pytest.approx(variants["baseline"]["grad_norms"], rel=1e-6)


@pytest.mark.slow
def test_every_trainable_parameter_changed(variants) -> None:
    assert variants["baseline"]["n_params"] > 10
    assert variants["baseline"]["unchanged"] == []


@pytest.mark.slow
@pytest.mark.parametrize("tp,pp", [(2, 1), (1, 2)], ids=["tp2", "pp2"])
def test_model_parallel_matches_single_process(tiny_qwen_path, variants, tp: int, pp: int) -> None:
    run = worker_report(str(tiny_qwen_path), 2, "parallel", tp, pp)["run"]
    base = variants["baseline"]
    _assert_curve_moves(run["losses"])
    assert run["losses"][0] == pytest.approx(base["losses"][0], abs=1e-5)
    assert run["grad_norms"][0] == pytest.approx(base["grad_norms"][0], abs=1e-5)
    assert run["losses"] == pytest.approx(base["losses"], abs=1e-5)  # the 5-step loss curve
    assert run["grad_norms"] == pytest.approx(base["grad_norms"], abs=1e-5)


@pytest.mark.slow
def test_data_parallel_matches_single_process(tiny_qwen_path, variants) -> None:
    # 2 processes, TP=PP=1: DP=2, each rank gets half of every global batch
    run = worker_report(str(tiny_qwen_path), 2, "parallel", 1, 1)["run"]
    assert run["losses"] == pytest.approx(variants["baseline"]["losses"], abs=1e-5)
    assert run["grad_norms"] == pytest.approx(variants["baseline"]["grad_norms"], abs=1e-5)


@pytest.mark.slow
def test_entry_point_from_hf_then_from_megatron_checkpoint(variants) -> None:
    entry = variants["entry"]
    assert len(entry["losses1"]) == 2 and entry["metrics1"] == 2
    assert entry["checkpoint1"].endswith("checkpoints/step_000002")
    # the second job starts from the first job's checkpoint: its reference (= its start) differs from
    # the HF model's, the stored file was recomputed, and step 1 is ln 2 again
    assert entry["ref2"] != pytest.approx(entry["ref1"], abs=1e-3)
    assert entry["ref2_model"].endswith("entry1")
    assert entry["losses2"][0] == pytest.approx(LN2, abs=1e-6)


@pytest.mark.slow
def test_base_reference_is_the_same_model_in_both_reference_modes(variants) -> None:
    # A job that starts from a trained checkpoint with reference_model=base compares against the run's starting
    # model (model.hf_path) whether the reference is precomputed or in the loop; policy != reference, so not ln 2.
    losses = variants["entry"]["base_reference_losses"]
    assert losses["in_loop"] == pytest.approx(losses["precomputed"], abs=1e-6)
    assert abs(losses["precomputed"][0] - LN2) > 1e-4


@pytest.mark.slow
def test_heldout_scores_fall_for_a_rejected_reply_and_match_transformers(variants, tiny_qwen_path) -> None:
    # every training pair rejects one reply; the same reply under an unseen prompt (a held-out DSAT record)
    # must lose log-prob, and the job's start scores are the base model's log-probs as transformers computes them
    import torch
    from transformers import AutoModelForCausalLM

    held = variants["heldout"]
    start, end = held["start"], held["end"]
    assert set(start) == set(end) == {"dsat/h0", "sat/h1"}
    assert end["dsat/h0"][1] < start["dsat/h0"][1] - 0.1
    model = AutoModelForCausalLM.from_pretrained(str(tiny_qwen_path), torch_dtype=torch.float32).eval()
    for record_id, (prompt, reply) in held["records"].items():
        ids = torch.tensor([prompt + reply])
        with torch.no_grad():
            logits = model(ids).logits[0, :-1].float()
        token_logps = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
        expected = token_logps[len(prompt) - 1:].sum().item()
        assert abs(start[record_id][1] - expected) / len(reply) < 1e-4, record_id


@pytest.mark.slow
def test_trained_pairs_are_scored_with_the_end_weights(variants) -> None:
    # the job scored its own pairs after training: every pair rejects the same reply, so with the trained
    # weights each margin must be positive (the reference is the starting policy, where every margin is 0)
    from nemo_drift.eval.margins import iteration_margins
    from nemo_drift.data.records import RefLogps

    held = variants["heldout"]
    as_logps = lambda table: {k: RefLogps(k, c, r, n, n) for k, (c, r, n) in table.items()}  # noqa: E731
    assert set(held["pairs_end"]) == set(held["pairs_ref"]) and len(held["pairs_end"]) == 8
    margins = iteration_margins(1, as_logps(held["pairs_ref"]), as_logps(held["pairs_end"]), beta=0.1, mean_logps=False)
    assert margins.start == [0.0] * 8
    assert min(margins.end) > 0.0
    unchanged = iteration_margins(1, as_logps(held["pairs_ref"]), as_logps(held["pairs_ref"]), 0.1, False)
    assert unchanged.end == [0.0] * 8


@pytest.mark.slow
def test_packed_rows_train_exactly_like_padded_micro_batches(variants) -> None:
    # same pairs per step, packed into rows (positions restarting, attention confined to each sequence):
    # the reference log-probs, the step-1 loss (ln 2; a packing offset bug gives several times that),
    # the loss curve and the gradient norms equal the padded run's
    base = variants["baseline"]
    for name in ("packed", "packed_mbs2", "packed_in_loop"):
        packed = variants[name]
        assert packed["losses"][0] == pytest.approx(LN2, abs=1e-6), name
        assert packed["losses"] == pytest.approx(base["losses"], abs=1e-5), name
        assert packed["grad_norms"] == pytest.approx(base["grad_norms"], rel=1e-5), name
        assert packed["unchanged"] == []
    for pair_id, values in base["ref"].items():
        assert variants["packed"]["ref"][pair_id] == pytest.approx(values, rel=1e-6), pair_id  # sums of 10-20 log-probs
    # a row of a two-pair token budget holds more than one pair: fewer pad tokens than the padded run
    assert min(variants["packed_mbs2"]["efficiency"]) > max(base["efficiency"])


@pytest.mark.slow
def test_every_pair_is_trained_once_per_epoch_with_packing(variants) -> None:
    for name in ("packed", "packed_mbs2"):
        seen = [pair for step in variants[name]["pair_ids"] for pair in step]
        assert sorted(seen) == sorted(f"p{i}" for i in range(20)), name
        assert [sorted(step) for step in variants[name]["pair_ids"]] == \
            [sorted(step) for step in variants["baseline"]["pair_ids"]]  # the same pairs in the same steps


@pytest.mark.slow
def test_packed_resume_mid_epoch_equals_uninterrupted(variants) -> None:
    interrupted, resumed = variants["packed_interrupted"], variants["packed_resumed"]
    assert resumed["first_step"] == 4 and len(interrupted["losses"]) == 3
    assert interrupted["losses"] + resumed["losses"] == pytest.approx(variants["packed"]["losses"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("tp,pp", [(2, 1), (1, 2), (1, 1)], ids=["tp2", "pp2", "dp2"])
def test_packed_model_and_data_parallel_match_single_process(tiny_qwen_path, variants, tp: int, pp: int) -> None:
    packed = worker_report(str(tiny_qwen_path), 2, "parallel", tp, pp)["packed"]
    base = variants["baseline"]
    assert packed["losses"][0] == pytest.approx(LN2, abs=1e-6)
    assert packed["losses"] == pytest.approx(base["losses"], abs=1e-5)
    assert packed["grad_norms"] == pytest.approx(base["grad_norms"], abs=1e-5)
