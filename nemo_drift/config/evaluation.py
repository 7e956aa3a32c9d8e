"""The `eval` config group: thresholds of the run's analysis figures (margin health, DRIFT paper section 5).

They only change what the report says about a finished training job, never what a stage computes, so
no stage depends on them (`invalidates=()`): `nemo-drift eval margins RUN_DIR eval.margin_tau=0.4`
reads the same scores with other thresholds.
"""
from __future__ import annotations

from dataclasses import dataclass

from nemo_drift.config.declare import setting


@dataclass
class EvalConfig:
    """How the report judges the implicit-reward margins s = beta * (h(chosen) - h(rejected)) of the
    pairs each iteration trained on (docs/margin-health.md)."""

    margin_tau: float = setting(0.25, invalidates=())
    """A pair still learns while its DPO gradient weight sigma(-s) is >= tau; the report gives the share
    of such pairs at the end of each epoch. 0.25 = half the weight every pair starts with (sigma(0) = 0.5),
    reached at s = ln 3."""

    collapse_margin_mean: float = setting(0.05, invalidates=())
    """Margin collapse: the last iteration's mean end-of-epoch margin is below this, ..."""

    collapse_margin_std: float = setting(0.05, invalidates=())
    """... its spread (standard deviation over pairs) is below this, and both shrank since the first
    iteration after the warm start. The summary then flags the run (SPIN's failure mode in the paper:
    chosen and rejected become indistinguishable and DPO stops learning)."""

    def validate(self) -> list[str]:
        """One message per bad setting, each naming its key."""
        problems = []
        if not 0.0 < self.margin_tau < 1.0:
            problems.append(f"eval.margin_tau: {self.margin_tau!r} must be in (0, 1) (a sigmoid weight)")
        for key in ("collapse_margin_mean", "collapse_margin_std"):
            if not getattr(self, key) >= 0.0:
                problems.append(f"eval.{key}: {getattr(self, key)!r} must be >= 0")
        return problems
