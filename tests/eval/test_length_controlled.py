"""The length-controlled win rate goes through alpaca-eval's own GLM, reading `df_gamed.csv` from the local hub
cache only, and is refused with a note where it is not defined or the file is absent.

The cache here is a synthetic hub layout in a temporary folder holding a small `df_gamed.csv` with the columns
alpaca-eval's GLM reads: the two length-gamed baselines (`not_gamed_baseline` False, weighted down by the
GLM's regularisation), rows of the first one in instruction order, so that an instruction's position finds
its difficulty as in the real file."""
from __future__ import annotations

import pytest

from nemo_drift.eval import length_controlled as lc
from nemo_drift.eval.stats import Estimate

N = 8
INSTRUCTIONS = [f"Question {i}?" for i in range(N)]
BASELINE = ("base", ["Short answer."] * N)
MODEL = ("policy", ["A longer answer, with a little more detail. " * (1 + i % 3) for i in range(N)])


@pytest.fixture
def gamed_cache(tmp_path, monkeypatch):
    """A hub cache holding a synthetic df_gamed.csv at revision main; HF_HUB_CACHE points at it."""
    import pandas as pd

    repo = tmp_path / "hub" / "datasets--tatsu-lab--alpaca_eval"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    rows = [{"model": model, "index": i, "instruction_difficulty": 0.1 * i - 0.3,
             "preference": min(max(0.5 - 0.3 * shift + 0.05 * ((i * 7) % 3 - 1), 0.0), 1.0),
             "std_delta_len": shift + 0.1 * ((i * 5) % 3 - 1), "not_gamed_baseline": False}
            for model, shift in (("gpt4_verbose", -1.0), ("gpt4_concise", 1.0)) for i in range(N)]
    pd.DataFrame(rows).to_csv(repo / "snapshots" / commit / "df_gamed.csv", index=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return repo / "snapshots" / commit / "df_gamed.csv"


def test_lc_runs_through_alpaca_eval_reading_the_cached_file_offline(gamed_cache, monkeypatch):
    import huggingface_hub.constants as hub
    import sklearn
    from alpaca_eval.metrics import glm_winrate

    real_download, calls = glm_winrate.hf_hub_download, []

    def spy(**kwargs):
        calls.append((kwargs, hub.HF_HUB_OFFLINE))
        return real_download(**kwargs)

    monkeypatch.setattr(glm_winrate, "hf_hub_download", spy)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)  # as on a machine with network: the call turns it on
    config_before = sklearn.get_config()
    got = lc.length_controlled_win_rate("alpaca_eval", INSTRUCTIONS, BASELINE, MODEL, [1, .75, .5, .25, 0, 1, .5, .75],
                                        "smollm2")
    assert got.note == "" and 0.0 <= got.win_rate <= 1.0
    (kwargs, offline), = calls
    assert (kwargs["repo_id"], kwargs["filename"], kwargs["repo_type"]) == ("tatsu-lab/alpaca_eval", "df_gamed.csv",
                                                                            "dataset")
    assert offline and kwargs["cache_dir"] == str(gamed_cache.parents[3])
    assert hub.HF_HUB_OFFLINE is False and sklearn.get_config() == config_before


def test_all_wins_give_a_high_lc_and_all_losses_a_low_one(gamed_cache):
    wins = lc.length_controlled_win_rate("alpaca_eval", INSTRUCTIONS, BASELINE, MODEL, [1.0] * N, "j")
    losses = lc.length_controlled_win_rate("alpaca_eval", INSTRUCTIONS, BASELINE, MODEL, [0.0] * N, "j")
    assert wins.win_rate > 0.9 and losses.win_rate < 0.1


def test_alpaca_evals_raw_win_rate_equals_ours(gamed_cache):
    scores = [1.0, 0.75, 0.5, 0.25, 0.0, 0.5, 1.0, 0.75]
    got = lc.length_controlled_win_rate("alpaca_eval", INSTRUCTIONS, BASELINE, MODEL, scores, "j")
    assert got.raw_win_rate == pytest.approx(Estimate.of(scores).mean, abs=1e-12)


def test_annotations_follow_alpaca_evals_convention():
    frame = lc.annotations_frame(INSTRUCTIONS[:2], ("b", ["x", "y"]), ("m", ["xx", "yy"]), [1.0, 0.25], "j")
    assert list(frame["preference"]) == [2.0, 1.25]  # 2 = output_2 (the model) wins
    assert list(frame["output_1"]) == ["x", "y"] and set(frame["generator_2"]) == {"m"}
    assert frame.index.name == "index" and list(frame.index) == [0, 1]
    with pytest.raises(ValueError, match="one each per prompt"):
        lc.annotations_frame(INSTRUCTIONS[:2], ("b", ["x"]), ("m", ["xx", "yy"]), [1.0, 0.25], "j")


def test_lc_is_refused_with_a_note_where_it_is_not_defined(gamed_cache, tmp_path, monkeypatch):
    other = lc.length_controlled_win_rate("wildbench_v2", INSTRUCTIONS, BASELINE, MODEL, [1.0] * N, "j")
    assert other.win_rate is None and "AlpacaEval's own prompt set only" in other.note
    subset = lc.length_controlled_win_rate("alpaca_eval", INSTRUCTIONS[:5], (BASELINE[0], BASELINE[1][:5]),
                                           (MODEL[0], MODEL[1][:5]), [1.0] * 5, "j")
    assert subset.win_rate is None and f"all {N} AlpacaEval prompts" in subset.note
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    absent = lc.length_controlled_win_rate("alpaca_eval", INSTRUCTIONS, BASELINE, MODEL, [1.0] * N, "j")
    assert absent.win_rate is None and "df_gamed.csv of the dataset tatsu-lab/alpaca_eval" in absent.note
    assert "`hf download tatsu-lab/alpaca_eval df_gamed.csv --repo-type dataset`" in absent.note


def test_a_foreign_file_in_the_cache_is_named(gamed_cache):
    gamed_cache.write_text("model,index\nx,0\n")
    got = lc.length_controlled_win_rate("alpaca_eval", INSTRUCTIONS, BASELINE, MODEL, [1.0] * N, "j")
    assert got.win_rate is None and "no column instruction_difficulty" in got.note and str(gamed_cache) in got.note


def test_hub_cache_follows_the_environment_at_call_time(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert lc.hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert lc.hub_cache_dir() == tmp_path / "hub"
