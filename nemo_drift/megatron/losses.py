"""Preference losses as a small registry of functions: DPO (sigmoid), IPO, RPO.

Every loss takes per-pair sequence log-probs (summed over response tokens) of the policy and of the
reference for the chosen and the rejected reply, and returns a `PairLoss`: the loss per pair and the
implicit rewards `beta * (log pi(y|x) - log pi_ref(y|x))` per pair (what DPO metrics report).

Use `compute_pair_loss(name, logps, beta=..., ...)`: it applies length normalisation where the loss
asks for it and dispatches through `LOSSES`. Each function's docstring carries the worked value that
tests/megatron/test_losses.py checks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch.nn.functional as F
from torch import Tensor

from nemo_drift.config.trainer import LENGTH_NORMALIZED_LOSSES


@dataclass
class PairLoss:
    """Output of a preference loss, one entry per pair (shape [B])."""

    losses: Tensor
    chosen_rewards: Tensor
    rejected_rewards: Tensor


@dataclass
class PairLogps:
    """Sequence log-probs of B pairs (all shape [B]); token counts are the response lengths."""

    policy_chosen: Tensor
    policy_rejected: Tensor
    ref_chosen: Tensor
    ref_rejected: Tensor
    chosen_tokens: Tensor
    rejected_tokens: Tensor

    def length_normalized(self) -> "PairLogps":
        """Every log-prob divided by its response length (the mean log-prob per token)."""
        c, r = self.chosen_tokens.clamp(min=1), self.rejected_tokens.clamp(min=1)
        return PairLogps(self.policy_chosen / c, self.policy_rejected / r, self.ref_chosen / c,
                         self.ref_rejected / r, self.chosen_tokens, self.rejected_tokens)


def _rewards(policy: Tensor, ref: Tensor, beta: float) -> Tensor:
    return beta * (policy - ref).detach()


def dpo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, ref_chosen_logps: Tensor,
             ref_rejected_logps: Tensor, beta: float) -> PairLoss:
    """Sigmoid DPO (Rafailov et al. 2023): -log sigmoid(beta * (h_chosen - h_rejected)).

    h = log pi(y|x) - log pi_ref(y|x). Worked value: policy (-1, -3), reference (-2, -2), beta 0.5:
    h_c = 1, h_r = -1, logits = 0.5 * 2 = 1, loss = -log sigmoid(1) = log(1 + e^-1) = 0.31326;
    rewards 0.5 and -0.5. With policy == reference: logits 0, loss = ln 2 = 0.693147.
    """
    logits = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    losses = -F.logsigmoid(beta * logits)
    return PairLoss(losses, _rewards(policy_chosen_logps, ref_chosen_logps, beta),
                    _rewards(policy_rejected_logps, ref_rejected_logps, beta))


def ipo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, ref_chosen_logps: Tensor,
             ref_rejected_logps: Tensor, beta: float) -> PairLoss:
    """IPO (Azar et al. 2023): (h_chosen - h_rejected - 1 / (2 beta))^2.

    Called with length-averaged log-probs (as TRL does; `compute_pair_loss` averages for "ipo").
    Worked value: policy (-1, -3), reference (-2, -2), beta 0.5: difference 2, target 1/(2*0.5) = 1,
    loss = (2 - 1)^2 = 1.0. With policy == reference and beta 0.1: (0 - 5)^2 = 25.
    """
    logits = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    losses = (logits - 1.0 / (2.0 * beta)) ** 2
    return PairLoss(losses, _rewards(policy_chosen_logps, ref_chosen_logps, beta),
                    _rewards(policy_rejected_logps, ref_rejected_logps, beta))


def rpo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, ref_chosen_logps: Tensor,
             ref_rejected_logps: Tensor, beta: float, chosen_nll: Tensor, alpha: float) -> PairLoss:
    """RPO (Pang et al. 2024; TRL's `rpo_alpha`): DPO + alpha * NLL of the chosen reply.

    `chosen_nll` is the token-mean negative log-likelihood of each chosen reply (shape [B]); TRL
    averages over all chosen tokens of the batch, we average per pair so the loss does not depend on
    how pairs are split into micro-batches. Worked value: the DPO example above (0.31326) with chosen
    NLL 1/2 (sum -1 over 2 tokens) and alpha 0.1: 0.31326 + 0.05 = 0.36326.
    """
    out = dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)
    return PairLoss(out.losses + alpha * chosen_nll, out.chosen_rewards, out.rejected_rewards)


LossFn = Callable[..., PairLoss]
LOSSES: dict[str, LossFn] = {"dpo": dpo_loss, "ipo": ipo_loss, "rpo": rpo_loss}
"""Loss name (the `trainer.loss` setting) -> function."""

ALWAYS_LENGTH_NORMALIZED = frozenset(LENGTH_NORMALIZED_LOSSES)


def compute_pair_loss(name: str, logps: PairLogps, beta: float, alpha: float = 0.0,
                      length_normalize: bool = False) -> PairLoss:
    """Loss `name` over B pairs; normalises log-probs by length when asked (always for IPO).

    The RPO NLL term always uses the token-mean NLL of the chosen reply, whatever the normalisation.
    """
    if name not in LOSSES:
        raise KeyError(f"trainer.loss: unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    used = logps.length_normalized() if (length_normalize or name in ALWAYS_LENGTH_NORMALIZED) else logps
    args = (used.policy_chosen, used.policy_rejected, used.ref_chosen, used.ref_rejected, beta)
    if name == "rpo":
        chosen_nll = -logps.policy_chosen / logps.chosen_tokens.clamp(min=1)
        return rpo_loss(*args, chosen_nll=chosen_nll, alpha=alpha)
    return LOSSES[name](*args)


LN2 = math.log(2.0)
"""DPO loss of any pair when policy == reference (the step-1 sanity check)."""


def preference_stats(out: PairLoss) -> dict[str, Tensor]:
    """Per-pair quantities whose batch means are the logged metrics (shape [B] each)."""
    margins = out.chosen_rewards - out.rejected_rewards
    return {"loss": out.losses.detach(), "rewards/chosen": out.chosen_rewards,
            "rewards/rejected": out.rejected_rewards, "rewards/margin": margins,
            "rewards/margin_sq": margins ** 2, "rewards/accuracy": (margins > 0).float()}

