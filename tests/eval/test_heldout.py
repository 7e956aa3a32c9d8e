"""The held-out signal's bookkeeping on hand-built scores: which records are held out, and the figures."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from nemo_drift.data.records import DsatExample, Provenance, SatExample, SeedPair
from nemo_drift.eval.heldout import heldout_pairs, heldout_signal
from nemo_drift.eval.stats import Estimate

PROV = Provenance("hand.jsonl", "chat_logs", 0, "c")
CTX = [{"role": "user", "content": "Capital of Australia?"}]


def _dsat(i: int, split: str = "heldout") -> DsatExample:
    return DsatExample(f"c{i}/dsat/1", CTX, f"Sydney {i}.", "Wrong.", None, split, PROV)


def _score(record_id: str, chosen: float, rejected: float, chosen_tokens: int = 1, rejected_tokens: int = 1):
    return SimpleNamespace(id=record_id, ref_chosen_logp=chosen, ref_rejected_logp=rejected,
                           chosen_tokens=chosen_tokens, rejected_tokens=rejected_tokens)


def test_only_held_out_records_and_never_what_the_warm_start_trained_on():
    seeds = [SeedPair("c0/seed/1", CTX, "Canberra.", "Sydney 0.", PROV, "heldout"),
             SeedPair("c5/seed/1", CTX, "Canberra!", "Sydney 5.", PROV, "heldout")]
    held = heldout_pairs([_dsat(0), _dsat(1), _dsat(2, "train")],
                         [SatExample("c3/sat/1", CTX, "Canberra.", "heldout", PROV),
                          SatExample("c4/sat/1", CTX, "Canberra.", "train", PROV)],
                         seeds, warm_start_seeds=seeds[:1])
    assert [p.id for p in held.pairs] == ["dsat/c1/dsat/1", "sat/c3/sat/1", "pair/c5/seed/1"]
    assert held.trained_in_warm_start == 1  # c0's DSAT reply is the rejected side of a trained seed pair
    dsat_pair = held.pairs[0]
    assert dsat_pair.chosen == dsat_pair.rejected == "Sydney 1." and dsat_pair.prompt == CTX
    assert (held.pairs[2].chosen, held.pairs[2].rejected) == ("Canberra!", "Sydney 5.")
    everything = heldout_pairs([_dsat(0)], [], seeds, warm_start_seeds=())
    assert [p.id for p in everything.pairs] == ["dsat/c0/dsat/1", "pair/c0/seed/1", "pair/c5/seed/1"]


def test_deltas_are_per_token_and_pairs_use_the_implicit_reward():
    base = {"dsat/a": _score("dsat/a", -10, -10, 5, 5), "dsat/b": _score("dsat/b", -8, -8, 4, 4),
            "sat/c": _score("sat/c", -6, -6, 3, 3),
            "pair/d": _score("pair/d", -5, -5), "pair/e": _score("pair/e", -5, -5)}
    policy = {"dsat/a": _score("dsat/a", -15, -15, 5, 5), "dsat/b": _score("dsat/b", -12, -12, 4, 4),
              "sat/c": _score("sat/c", -3, -3, 3, 3),
              "pair/d": _score("pair/d", -4, -6), "pair/e": _score("pair/e", -6, -4),
              "dsat/only_in_policy": _score("dsat/only_in_policy", 0, 0)}
    signal = heldout_signal(base, policy)
    assert signal.dsat_delta.mean == pytest.approx(-1.0) and signal.dsat_delta.n == 2  # (-1 + -1) / 2 per token
    assert signal.dsat_delta.se == pytest.approx(0.0)
    assert signal.sat_delta.mean == pytest.approx(1.0) and signal.sat_delta.se is None  # one record: no SE
    assert signal.pair_accuracy.mean == pytest.approx(0.5) and signal.pair_accuracy.n == 2
    record = signal.to_record()
    assert record["heldout_dsat"] == pytest.approx(-1.0) and record["heldout_sat_n"] == 1
    assert record["heldout_pair_acc_se"] == pytest.approx(0.5)


def test_standard_error_and_empty_sets():
    est = Estimate.of([1.0, 2.0, 3.0, 4.0])
    assert est.mean == pytest.approx(2.5) and est.se == pytest.approx(math.sqrt(5 / 3) / 2) and est.n == 4
    assert Estimate.of([]) == Estimate(None, None, 0)
    signal = heldout_signal({}, {})
    assert signal.to_record()["heldout_dsat"] is None and signal.to_record()["heldout_dsat_n"] == 0


def test_the_embedded_default_holds_out_enough_to_mean_something(tmp_path):
    from nemo_drift.config.loader import load_config
    from nemo_drift.data.prepare import prepare
    from nemo_drift.data.records import read_jsonl
    from nemo_drift.methods.seed import warm_start_pairs

    cfg = load_config([])
    prepare(cfg.data, tmp_path)
    seeds = read_jsonl(tmp_path / "seed_pairs.jsonl", SeedPair)
    trained_ids = {p.id for p in warm_start_pairs(seeds, cfg.method.warm_start_seeds)}
    trained = [s for s in seeds if s.id in trained_ids]
    held = heldout_pairs(read_jsonl(tmp_path / "dsat.jsonl", DsatExample), read_jsonl(tmp_path / "sat.jsonl", SatExample),
                         seeds, trained)
    kinds = [p.id.split("/", 1)[0] for p in held.pairs]
    assert kinds.count("dsat") >= 8 and kinds.count("sat") >= 8


def test_trend_plot_opens_with_the_expected_size(tmp_path):
    from PIL import Image

    from nemo_drift.eval.plots import plot_heldout_trend

    rows = [{"iteration": 0, "heldout_dsat": -0.01, "heldout_dsat_se": 0.002, "heldout_sat": 0.0, "heldout_sat_se": None},
            {"iteration": 1, "heldout_dsat": -0.03, "heldout_dsat_se": 0.004, "heldout_sat": 0.001}]
    (path,) = plot_heldout_trend(rows, tmp_path)
    with Image.open(path) as image:
        assert image.size == (770, 440)
    assert plot_heldout_trend([{"iteration": 0, "pairs": 4}], tmp_path / "none") == []
