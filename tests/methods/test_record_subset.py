"""`method.max_examples` takes a seeded random subset of the training records (`method.subset_seed`), the
same set whatever the file order, for DSAT and SAT alike (controller/sampling.py `load_records`)."""
from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Callable, Optional

import pytest

from nemo_drift.config.loader import load_config
from nemo_drift.config.method import MethodConfig
from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.context import RunContext
from nemo_drift.controller.sampling import load_records
from nemo_drift.data.records import DsatExample, Provenance, SatExample, write_jsonl

PROV = Provenance("hand.jsonl", "chat_logs", 0, "c")
CTX = [{"role": "user", "content": "Write a haiku about rain."}]
N_TRAIN, N_HELDOUT = 60, 5

Selector = Callable[[list[str], Path], tuple[list[str], list[str]]]
"""(DSAT record ids in file order, a fresh folder) -> (DSAT ids, SAT ids) that reach the method."""


def _records(ids: list[str]) -> tuple[list[DsatExample], list[SatExample]]:
    dsat = [DsatExample(f"{i}/dsat", CTX, "Rain.", "Too short.", None, "train", PROV) for i in ids]
    sat = [SatExample(f"{i}/sat", CTX, "Soft rain", "train", PROV) for i in ids]
    held = [f"held-{k}" for k in range(N_HELDOUT)]
    dsat += [DsatExample(f"{i}/dsat", CTX, "Rain.", "Too short.", None, "heldout", PROV) for i in held]
    sat += [SatExample(f"{i}/sat", CTX, "Soft rain", "heldout", PROV) for i in held]
    return dsat, sat


def load(ids: list[str], root: Path, max_examples: Optional[int] = 10, seed: int = 0) -> tuple[list[str], list[str]]:
    """Write records with these conversation ids (in this order) and return the ids `load_records` keeps."""
    ctx = RunContext(cfg=DriftConfig(method=MethodConfig(max_examples=max_examples, subset_seed=seed)),
                     run_dir=root, launcher=None, config_path=root / "config.yaml")  # type: ignore[arg-type]
    dsat, sat = _records(ids)
    write_jsonl(ctx.data_dir / "dsat.jsonl", dsat)
    write_jsonl(ctx.data_dir / "sat.jsonl", sat)
    got_dsat, got_sat = load_records(ctx)
    return [r.id for r in got_dsat], [r.id for r in got_sat]


def first_n(ids: list[str], root: Path) -> tuple[list[str], list[str]]:
    """The old rule: the first 10 training records in file order."""
    dsat, sat = _records(ids)
    return ([r.id for r in dsat if r.split == "train"][:10], [r.id for r in sat if r.split == "train"][:10])


def order_independence_problems(select: Selector, tmp_path: Path) -> list[str]:
    """What differs when the same records come in three different file orders."""
    ids = [f"conv-{i:03d}" for i in range(N_TRAIN)]
    orders = [ids, ids[::-1], random.Random(7).sample(ids, len(ids))]
    results = [select(order, tmp_path / f"order{k}") for k, order in enumerate(orders)]
    dsat_sets = [frozenset(d) for d, _ in results]
    sat_sets = [frozenset(s) for _, s in results]
    problems = []
    if len(set(dsat_sets)) != 1:
        problems.append(f"DSAT subsets differ across file orders: {[sorted(s)[:3] for s in dsat_sets]}")
    if len(set(sat_sets)) != 1:
        problems.append(f"SAT subsets differ across file orders: {[sorted(s)[:3] for s in sat_sets]}")
    return problems


def test_subset_is_the_same_set_whatever_the_file_order(tmp_path: Path):
    assert order_independence_problems(load, tmp_path) == []


def test_first_n_in_file_order_fails_the_order_check(tmp_path: Path):
    """The check above can fail: the old `[:max_examples]` rule does."""
    problems = order_independence_problems(first_n, tmp_path)
    assert len(problems) == 2 and problems[0].startswith("DSAT subsets differ")


def test_subset_has_the_cap_size_is_training_only_and_keeps_file_order(tmp_path: Path):
    ids = [f"conv-{i:03d}" for i in range(N_TRAIN)]
    dsat, sat = load(ids, tmp_path, max_examples=10)
    assert len(dsat) == len(sat) == 10 and len(set(dsat)) == 10
    assert not any(i.startswith("held-") for i in dsat + sat)
    assert dsat == sorted(dsat) and sat == sorted(sat)  # ids were written in sorted order
    assert dsat != [f"{i}/dsat" for i in ids[:10]]  # a sample, not the head of the file


@pytest.mark.parametrize("seed", [0, 5])
def test_dsat_and_sat_are_the_lowest_hashes_of_seed_and_record_id(tmp_path: Path, seed: int):
    """The documented rule, computed here by hand: the 10 lowest sha256("<seed>:<record id>")."""
    ids = [f"conv-{i:03d}" for i in range(N_TRAIN)]
    dsat, sat = load(ids, tmp_path, seed=seed)
    lowest = lambda kind: {r for r in sorted((f"{i}/{kind}" for i in ids),  # noqa: E731
                                             key=lambda r: hashlib.sha256(f"{seed}:{r}".encode()).digest())[:10]}
    assert set(dsat) == lowest("dsat") and set(sat) == lowest("sat")


def test_another_seed_draws_another_subset(tmp_path: Path):
    ids = [f"conv-{i:03d}" for i in range(N_TRAIN)]
    seed0 = load(ids, tmp_path / "a", seed=0)
    assert load(ids, tmp_path / "b", seed=0) == seed0
    seed1 = load(ids, tmp_path / "c", seed=1)
    assert set(seed1[0]) != set(seed0[0]) and set(seed1[1]) != set(seed0[1])


@pytest.mark.parametrize("max_examples", [None, N_TRAIN, N_TRAIN + 100])
def test_no_cap_or_a_large_one_keeps_every_training_record(tmp_path: Path, max_examples: Optional[int]):
    ids = [f"conv-{i:03d}" for i in random.Random(3).sample(range(N_TRAIN), N_TRAIN)]
    dsat, sat = load(ids, tmp_path, max_examples=max_examples)
    assert dsat == [f"{i}/dsat" for i in ids] and sat == [f"{i}/sat" for i in ids]  # all, in file order


def test_appending_records_displaces_at_most_one_old_pick_per_newcomer(tmp_path: Path):
    old = [f"conv-{i:03d}" for i in range(N_TRAIN)]
    new = [f"new-{i:03d}" for i in range(20)]
    before, _ = load(old, tmp_path / "before")
    after, _ = load(old + new, tmp_path / "after")
    newcomers = [i for i in after if i.startswith("new-")]
    assert 0 < len(newcomers) < 10  # the new data does compete for the cap (else the check below is empty)
    assert len(set(before) - set(after)) == len(newcomers)  # every old pick that left made room for a newcomer


def test_the_controlled_preset_caps_at_the_paper_size_with_the_default_seed():
    cfg = load_config(["method=drift_controlled"], validate=False)
    assert (cfg.method.name, cfg.method.max_examples, cfg.method.subset_seed) == ("drift", 4478, 0)
