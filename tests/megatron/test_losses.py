"""Preference losses against hand-computed values (the worked math is in each function's docstring)."""
from __future__ import annotations

import math

import pytest
import torch

from nemo_drift.megatron.losses import LN2, LOSSES, PairLogps, compute_pair_loss, dpo_loss, ipo_loss, rpo_loss


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_registry_names() -> None:
    assert sorted(LOSSES) == ["dpo", "ipo", "rpo"]


def test_dpo_hand_value() -> None:
    out = dpo_loss(_t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0), beta=0.5)
    assert out.losses.item() == pytest.approx(math.log1p(math.exp(-1.0)), abs=1e-12)  # 0.313262
    assert out.losses.item() == pytest.approx(0.3132617, abs=1e-6)
    assert out.chosen_rewards.item() == pytest.approx(0.5)
    assert out.rejected_rewards.item() == pytest.approx(-0.5)


def test_dpo_is_ln2_when_policy_equals_reference() -> None:
    logps = _t(-5.0, -17.25, -0.5)
    out = dpo_loss(logps, logps - 3, logps, logps - 3, beta=0.1)
    assert torch.allclose(out.losses, torch.full_like(logps, LN2))
    assert LN2 == pytest.approx(0.693147, abs=1e-6)


def test_dpo_wrong_sign_would_fail() -> None:
    # the check above can fail: a policy that prefers the rejected reply has loss > ln 2
    out = dpo_loss(_t(-3.0), _t(-1.0), _t(-2.0), _t(-2.0), beta=0.5)
    assert out.losses.item() == pytest.approx(math.log1p(math.exp(1.0)))
    assert out.losses.item() > LN2


def test_ipo_hand_value() -> None:
    out = ipo_loss(_t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0), beta=0.5)
    assert out.losses.item() == pytest.approx(1.0)
    same = ipo_loss(_t(-1.0), _t(-1.0), _t(-1.0), _t(-1.0), beta=0.1)
    assert same.losses.item() == pytest.approx(25.0)


def test_ipo_uses_length_averaged_logps() -> None:
    # sums: policy (-2, -6) over (2, 3) tokens -> means (-1, -2); reference (-4, -3) -> means (-2, -1)
    # h = (-1 - -2) - (-2 - -1) = 2; beta 0.5: (2 - 1)^2 = 1
    logps = PairLogps(_t(-2.0), _t(-6.0), _t(-4.0), _t(-3.0), _t(2.0), _t(3.0))
    assert compute_pair_loss("ipo", logps, beta=0.5).losses.item() == pytest.approx(1.0)


def test_rpo_hand_value() -> None:
    out = rpo_loss(_t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0), beta=0.5, chosen_nll=_t(0.5), alpha=0.1)
    assert out.losses.item() == pytest.approx(0.3132617 + 0.05, abs=1e-6)
    # through compute_pair_loss: the chosen NLL is the token mean: -(-1) / 2 tokens = 0.5
    logps = PairLogps(_t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0), _t(2.0), _t(4.0))
    assert compute_pair_loss("rpo", logps, beta=0.5, alpha=0.1).losses.item() == pytest.approx(0.3632617, abs=1e-6)


def test_length_normalized_dpo() -> None:
    # means: policy (-1/2, -3/3) = (-0.5, -1), reference (-2/2, -2/3); h = 0.5 - (-1/3) = 5/6
    logps = PairLogps(_t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0), _t(2.0), _t(3.0))
    got = compute_pair_loss("dpo", logps, beta=0.6, length_normalize=True).losses.item()
    assert got == pytest.approx(math.log1p(math.exp(-0.6 * 5 / 6)))
    plain = compute_pair_loss("dpo", logps, beta=0.6).losses.item()
    assert plain == pytest.approx(math.log1p(math.exp(-0.6 * 2)))


def test_unknown_loss_names_the_setting() -> None:
    logps = PairLogps(_t(-1.0), _t(-1.0), _t(-1.0), _t(-1.0), _t(1.0), _t(1.0))
    with pytest.raises(KeyError, match="trainer.loss"):
        compute_pair_loss("kto", logps, beta=0.1)


def test_dpo_gradient_matches_hand_derivative() -> None:
    # d/d(policy_chosen) of -log sigmoid(beta z) = -beta * sigmoid(-beta z); z = 2, beta 0.5 -> -0.5*sigmoid(-1)
    pc = _t(-1.0).requires_grad_()
    dpo_loss(pc, _t(-3.0), _t(-2.0), _t(-2.0), beta=0.5).losses.sum().backward()
    assert pc.grad.item() == pytest.approx(-0.5 / (1 + math.e), abs=1e-12)
