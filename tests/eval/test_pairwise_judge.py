"""Pairwise judging bookkeeping with stub judges: both orders per prompt cancel a position bias, verdicts parse
from the ways small models answer, and bad input fails before any model loads. (A real judge through vLLM:
test_pairwise_judge_vllm.py.)"""
from __future__ import annotations

import json

import pytest

from nemo_drift.eval.benchmarks import SAMPLES, read_prompts, write_outputs
from nemo_drift.eval.pairwise_judge import (JUDGE_TEMPLATE, JudgeQuery, format_results, judge_files, judge_messages,
                                            parse_verdict, prompt_score, read_judge_inputs, score_candidates)
from nemo_drift.eval.stats import Estimate

PROMPTS = read_prompts("alpaca_eval", SAMPLES / "alpaca_eval.json")
BASELINE = ("base.json", ["Medium length reply."] * len(PROMPTS))
CANDIDATES = {"long.json": ["A much longer reply that goes on and on."] * len(PROMPTS),
              "short.json": ["Short."] * len(PROMPTS)}


def always_a(queries):
    return ["A"] * len(queries)


def prefers_longer(queries):
    return ["A" if len(q.reply_a) > len(q.reply_b) else "B" for q in queries]


def test_a_judge_that_always_says_a_has_pure_position_bias():
    results, records = score_candidates(PROMPTS, CANDIDATES, BASELINE, always_a)
    for r in results:
        assert r.scores == [0.5] * len(PROMPTS) and r.win_rate.mean == 0.5
        assert r.consistency == 0.0 and r.undecided == 0 and r.n == len(PROMPTS)
    assert len(records) == 2 * len(PROMPTS) and records[0]["verdict_candidate_as_a"] == "A"


def test_a_judge_that_prefers_the_longer_reply_ranks_by_length():
    results, _ = score_candidates(PROMPTS, CANDIDATES, BASELINE, prefers_longer)
    by_name = {r.name: r for r in results}
    assert by_name["long.json"].win_rate.mean == 1.0 and by_name["short.json"].win_rate.mean == 0.0
    assert all(r.consistency == 1.0 and r.baseline == "base.json" for r in results)


def test_each_prompt_is_asked_in_both_orders():
    seen = []
    score_candidates(PROMPTS[:2], {"c": ["mine0", "mine1"]}, ("b", ["base0", "base1"]),
                     lambda qs: seen.extend(qs) or ["A"] * len(qs))
    assert [(q.reply_a, q.reply_b) for q in seen] == [("mine0", "base0"), ("base0", "mine0"),
                                                      ("mine1", "base1"), ("base1", "mine1")]
    assert seen[0].messages == PROMPTS[0].messages


def test_undecided_verdicts_count_half_and_break_consistency():
    answers = iter(["A", "I think", "B", "A", "??", "Output (b)"])
    results, _ = score_candidates(PROMPTS[:3], {"c": ["x"] * 3}, ("b", ["y"] * 3),
                                  lambda qs: [next(answers) for _ in qs])
    r, = results
    assert r.scores == [0.75, 0.0, 0.75] and r.undecided == 2
    assert r.consistency == pytest.approx(1 / 3)  # prompt 1: both orders pick the baseline
    assert r.win_rate.mean == pytest.approx(0.5) and r.interval() == r.win_rate.interval(bounds=(0.0, 1.0))


def test_a_judge_answering_too_few_queries_fails():
    with pytest.raises(RuntimeError, match="answered 1 of 10"):
        score_candidates(PROMPTS, {"c": ["x"] * 5}, ("b", ["y"] * 5), lambda qs: ["A"])


@pytest.mark.parametrize("text, verdict", [
    ("A", "A"), ("b", "B"), (" **A**", "A"), ("A.", "A"), ("Output (a)", "A"), ("Reply B is better", "B"),
    ("answer: b", "B"), ("(B)", "B"), ("\n`A`", "A"), ("Apple", None), ("Both", None), ("", None),
    ("I prefer A", None), ("C", None)])
def test_verdict_parsing(text, verdict):
    assert parse_verdict(text) == verdict


def test_prompt_scores_take_the_five_values():
    assert [prompt_score(a, b) for a, b in [("A", "B"), ("A", None), ("A", "A"), (None, "A"), ("B", "A")]] == \
        [1.0, 0.75, 0.5, 0.25, 0.0]


def test_judge_chat_shows_the_conversation_and_both_replies():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a {colour}."}]
    chat = judge_messages(JudgeQuery(messages, "Red.", "Blue."))
    text = chat[0]["content"]
    assert len(chat) == 1 and chat[0]["role"] == "user"
    assert "[system]\nBe brief." in text and "[user]\nName a {colour}." in text
    assert text.index("Red.") < text.index("Blue.") and text.endswith("A or B.")
    assert "{reply_a}" in JUDGE_TEMPLATE


def test_estimate_interval_is_unclipped_unless_bounded():
    est = Estimate.of([0.0, 1.0, 1.0, 1.0])
    low, high = est.interval()
    assert high > 1.0 and low == pytest.approx(est.mean - 1.96 * est.se)
    assert est.interval(bounds=(0.0, 1.0))[1] == 1.0 and est.interval(z=1.0)[1] == pytest.approx(est.mean + est.se)
    assert Estimate.of([0.5]).interval() is None and Estimate.of([]).interval() is None


def test_format_results_lists_figures_and_why_lc_is_missing():
    results, _ = score_candidates(PROMPTS, CANDIDATES, BASELINE, prefers_longer)
    results[0].lc_note = results[1].lc_note = "LC is defined on AlpacaEval's own prompt set only"
    results[1].lc_win_rate, results[1].lc_note = 0.125, ""
    table = format_results(results)
    assert "| outputs | win rate over base.json |" in table
    assert "| long.json | 1.000 | 1.000-1.000 | - | 5 | 0/10 | 100% |" in table and "| 0.125 |" in table
    assert table.endswith("LC: LC is defined on AlpacaEval's own prompt set only")


def test_inputs_are_read_and_checked_against_the_prompts(tmp_path):
    base = write_outputs("alpaca_eval", PROMPTS, BASELINE[1], "base", tmp_path / "base.json")
    mine = write_outputs("alpaca_eval", PROMPTS, CANDIDATES["long.json"], "mine", tmp_path / "mine.json")
    candidates, baseline = read_judge_inputs("alpaca_eval", PROMPTS, [base, mine], base)
    assert baseline == (str(base), BASELINE[1]) and candidates == {str(mine): CANDIDATES["long.json"]}
    other = tmp_path / "other.json"
    other.write_text(json.dumps(json.loads(mine.read_text())[:3]))
    with pytest.raises(ValueError, match=r"other.json: not the alpaca_eval outputs of these prompts"):
        read_judge_inputs("alpaca_eval", PROMPTS, [other], base)


def test_bad_input_fails_before_any_model_loads(tmp_path):
    from nemo_drift.config.loader import load_config

    cfg = load_config([], groups=("model", "generation", "cluster"))
    args = (cfg, "alpaca_eval", PROMPTS)
    with pytest.raises(ValueError, match="no outputs to judge besides the baseline base.json"):
        judge_files(*args, {"base.json": BASELINE[1]}, BASELINE, tmp_path / "judge", tmp_path / "w")
    with pytest.raises(ValueError, match="short.json: 2 replies for 5 prompts"):
        judge_files(*args, {"short.json": ["a", "b"]}, BASELINE, tmp_path / "judge", tmp_path / "w")
    with pytest.raises(ValueError, match=r"--judge-model .*judge: not a Hugging Face model folder \(no config.json\)"):
        judge_files(*args, CANDIDATES, BASELINE, tmp_path / "judge", tmp_path / "w")
    assert not (tmp_path / "w").exists()
