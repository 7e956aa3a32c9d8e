"""Checks that stop a run before any model loads: method settings the method ignores, and prepared
data that cannot give one optimizer step."""
from __future__ import annotations

from pathlib import Path

import pytest

from nemo_drift.config.method import MethodConfig
from nemo_drift.config.schema import DriftConfig
from nemo_drift.config.trainer import TrainerConfig
from nemo_drift.controller.context import RunContext
from nemo_drift.controller.preflight import check_prepared_data, method_problems
from nemo_drift.controller.stage_runner import RunError
from nemo_drift.data.records import DsatExample, Provenance, SatExample, SeedPair, write_jsonl

PROV = Provenance("hand.jsonl", "chat_logs", 0, "c")
CTX = [{"role": "user", "content": "Write a haiku about rain."}]


def test_defaults_pass():
    for name in ("drift", "spin", "iterdpo"):
        assert method_problems(DriftConfig(method=MethodConfig(name=name))) == []
        assert method_problems(DriftConfig(method=MethodConfig(name=name, subset_seed=1, max_examples=5))) == []


@pytest.mark.parametrize("method, expected", [
    (dict(name="dpo"), "method.name: 'dpo' is not a registered method"),
    (dict(name="spin", guided=False), "method.guided: False has no effect on method 'spin' (read by drift, iterdpo)"),
    (dict(name="iterdpo", guided=False), "method.guided: false makes IterDPO rank two unguided samples with a reward "
                                         "model"),
    (dict(name="drift", reward_model="/rm"), "method.reward_model: '/rm' has no effect on method 'drift' (read by iterdpo)"),
])
def test_settings_the_method_ignores_are_refused(method, expected):
    (problem,) = method_problems(DriftConfig(method=MethodConfig(**method)))
    assert problem.startswith(expected)


def _ctx(tmp_path: Path, dsat: int, seeds: int, batch: int = 4, without_feedback: int = 0,
         heldout_seeds: int = 0, **method: object) -> RunContext:
    cfg = DriftConfig(method=MethodConfig(**method), trainer=TrainerConfig(global_batch_size=batch))
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, launcher=None, config_path=tmp_path / "config.yaml")  # type: ignore[arg-type]
    write_jsonl(ctx.data_dir / "dsat.jsonl", [
        DsatExample(f"d{i}", CTX, "Rain.", "" if i < without_feedback else "Too short.", None, "train", PROV)
        for i in range(dsat)])
    write_jsonl(ctx.data_dir / "sat.jsonl", [SatExample("s0", CTX, "Soft rain", "train", PROV)])
    write_jsonl(ctx.data_dir / "seed_pairs.jsonl", [
        SeedPair(f"p{i}", CTX, "Soft rain", "Rain.", PROV, "heldout" if i < heldout_seeds else "train")
        for i in range(seeds)])
    return ctx


def test_enough_data_passes(tmp_path):
    check_prepared_data(_ctx(tmp_path, dsat=4, seeds=4))


def test_no_seed_pairs_stops_before_the_model_import(tmp_path):
    with pytest.raises(RunError, match=r"method.warm_start: .* has 0 DSAT->SAT seed pair"):
        check_prepared_data(_ctx(tmp_path, dsat=8, seeds=0))
    check_prepared_data(_ctx(tmp_path, dsat=8, seeds=0, warm_start=False))


def test_only_held_out_seed_pairs_warm_start_unless_told_to_leave_them_out(tmp_path):
    check_prepared_data(_ctx(tmp_path, dsat=8, seeds=2, heldout_seeds=2))
    with pytest.raises(RunError, match=r"0 DSAT->SAT seed pairs to warm-start on \(method.warm_start_seeds=train\)"):
        check_prepared_data(_ctx(tmp_path, dsat=8, seeds=2, heldout_seeds=2, warm_start_seeds="train"))


def test_guided_run_on_records_without_feedback_warns_once_with_the_count(tmp_path, capsys):
    check_prepared_data(_ctx(tmp_path, dsat=5, seeds=1, without_feedback=3))
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("warning: method.guided=true, but 3 of 5 training DSAT records have no user feedback turn")
    check_prepared_data(_ctx(tmp_path, dsat=5, seeds=1, without_feedback=3, guided=False))
    check_prepared_data(_ctx(tmp_path, dsat=5, seeds=1, without_feedback=0))
    check_prepared_data(_ctx(tmp_path, dsat=5, seeds=1, without_feedback=3, name="spin"))
    assert capsys.readouterr().out == ""


def test_nothing_to_sample_for_stops_but_a_partial_step_trains(tmp_path):
    with pytest.raises(RunError, match=r"'drift': no training example to sample for \(0 DSAT and 1 SAT"):
        check_prepared_data(_ctx(tmp_path, dsat=0, seeds=4))
    check_prepared_data(_ctx(tmp_path, dsat=3, seeds=1, batch=4))  # one smaller step per epoch
    check_prepared_data(_ctx(tmp_path, dsat=8, seeds=4, name="spin"))  # one SAT record: one step of one pair
