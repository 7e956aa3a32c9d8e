"""Margin health on hand-built score tables: every figure checked against a value worked out by hand."""
from __future__ import annotations

import math

import pytest

from nemo_drift.data.records import RefLogps
from nemo_drift.eval.margins import MarginHealth, collapse_verdict, iteration_margins, margin_lines


def table(**pairs: tuple[float, float, int, int]) -> dict[str, RefLogps]:
    return {k: RefLogps(k, c, r, nc, nr) for k, (c, r, nc, nr) in pairs.items()}


REF = table(a=(-10.0, -10.0, 5, 5), b=(-20.0, -8.0, 10, 4))
END = table(a=(-9.0, -12.0, 5, 5), b=(-20.0, -9.0, 10, 4))


def test_margins_from_summed_and_mean_log_probs() -> None:
    # a: h_c = 1, h_r = -2 -> s = 0.1 * 3 = 0.3; b: h_c = 0, h_r = -1 -> s = 0.1
    m = iteration_margins(2, REF, END, beta=0.1, mean_logps=False)
    assert m.start == [0.0, 0.0] and m.end == pytest.approx([0.3, 0.1]) and m.h_chosen_end == pytest.approx([1.0, 0.0])
    # per token: a: h_c = 1/5, h_r = -2/5 -> 0.06; b: h_c = 0, h_r = -1/4 -> 0.025
    assert iteration_margins(2, REF, END, 0.1, True).end == pytest.approx([0.06, 0.025])
    start = table(a=(-10.0, -11.0, 5, 5), b=(-19.0, -8.0, 10, 4))  # a: 0.1 * 1; b: 0.1 * 1
    assert iteration_margins(2, REF, END, 0.1, False, start=start).start == pytest.approx([0.1, 0.1])


def test_a_pair_missing_from_the_end_scores_is_named() -> None:
    with pytest.raises(ValueError, match="pair 'b' has reference log-probs but no end-of-epoch scores"):
        iteration_margins(1, REF, {"a": END["a"]}, 0.1, False)


def test_health_figures() -> None:
    m = iteration_margins(3, REF, END, beta=0.1, mean_logps=False)
    # sigma(-0.3) = 0.4256, sigma(-0.1) = 0.4750: both >= 0.45? only b
    health = MarginHealth.of(m, tau=0.45, grad_norms=[1.0, 3.0])
    assert health.learning_share == 0.5
    assert health.end_mean == pytest.approx(0.2) and health.end_std == pytest.approx(math.sqrt(0.02))
    assert health.h_chosen_var == pytest.approx(0.25)  # values 1 and 0: population variance 1/4
    assert health.grad_norm_mean == 2.0 and health.pairs == 2
    assert MarginHealth.of(m, tau=0.4).learning_share == 1.0 and MarginHealth.of(m, tau=0.48).learning_share == 0.0
    lines = margin_lines([{"iteration": 3, **health.to_record()}])
    assert lines[2].startswith("| 3 | 2 | 0 ± 0 | 0.2 ± 0.1414 | 0.5 | 0.25 | 2 |")


def rows(*figures: tuple[float, float]) -> list[dict]:
    return [{"iteration": i, "margin_end_mean": m, "margin_end_std": s} for i, (m, s) in enumerate(figures)]


def test_collapse_needs_shrinking_margins_below_both_thresholds() -> None:
    # iteration 0 (warm start) is ignored; 1 -> 3 shrink below 0.05 / 0.05
    verdict = collapse_verdict(rows((9.0, 9.0), (0.4, 0.3), (0.1, 0.1), (0.01, 0.02)), 0.05, 0.05)
    assert verdict is not None and "by iteration 3" in verdict and "eval.collapse_margin_mean 0.05" in verdict
    assert collapse_verdict(rows((0.0, 0.0), (0.4, 0.3), (0.01, 0.2)), 0.05, 0.05) is None  # spread kept
    assert collapse_verdict(rows((0.0, 0.0), (0.01, 0.01), (0.02, 0.005)), 0.05, 0.05) is None  # mean grew
    assert collapse_verdict(rows((0.0, 0.0), (0.01, 0.01)), 0.05, 0.05) is None  # one iteration: nothing shrank
    assert collapse_verdict(rows((0.0, 0.0), (0.4, 0.3), (0.01, 0.02)), 0.005, 0.05) is None  # mean above threshold
