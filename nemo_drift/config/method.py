"""The `method` config group: which pair-construction policy runs, and the iteration schedule."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from nemo_drift.config.declare import setting

WARM_START_SEEDS = ("all", "train")
"""Values of `method.warm_start_seeds`."""

@dataclass
class MethodConfig:
    """Preference-pair construction and the outer loop (`method.*`; `method=spin` picks a preset)."""

    name: str = setting("drift", invalidates=("generate", "pairs:iterations"))
    """A method registered in nemo_drift.methods: "drift" (rejected = real DSAT reply, chosen = fresh policy
    sample), "spin" (chosen = real SAT reply, rejected = policy sample) or "iterdpo" (chosen = guided
    sample, rejected = unguided sample). Checked against the registry before a run starts
    (nemo_drift/controller/preflight.py), as is every `method.*` setting the method does not read."""
    guided: bool = setting(True, invalidates=("generate", "pairs:iterations"))
    """DRIFT and IterDPO: sample the chosen reply from the guided prompt (context + DSAT reply + feedback
    + instruction). False samples from the pre-DSAT context only (the paper's unguided variants; IterDPO
    then ranks two such samples with `method.reward_model`); refused for methods without one."""
    iterations: int = setting(2, invalidates=())
    """Number of iterations K after the warm start (paper: 2 for the main results, up to 5)."""
    warm_start: bool = setting(True, invalidates=())
    """Run DPO on the seed DSAT->SAT pairs before iteration 1 (the paper's stage 1)."""
    warm_start_epochs: int = setting(3, invalidates=("train:warm_start",))
    """Epochs of the warm start (paper: 3)."""
    warm_start_seeds: str = setting("all", invalidates=("pairs",))
    """Which seed pairs the warm start trains on: "all" (the paper trains on all 491) or "train" (only those
    of training-split conversations, so held-out conversations stay unseen by every stage). Every pairs
    stage depends on it: a held-out reply the warm start trained on leaves the held-out signal."""
    max_examples: Optional[int] = setting(None, invalidates=("generate", "pairs:iterations"))
    """Cap the training records at a seeded random subset of N DSAT examples and, by the same rule, N SAT
    records (`method.subset_seed`; nemo_drift/controller/sampling.py `load_records`): the paper's
    controlled setting (conf/method/drift_controlled.yaml), smoke tests, quick looks. None uses all."""
    subset_seed: int = setting(0, invalidates=("generate", "pairs:iterations"))
    """Seed of the `method.max_examples` subset. Records are ranked by sha256 of "<seed>:<record id>" and
    the N lowest kept: the subset ignores file order, and appending data displaces at most one old pick
    per new record that ranks inside it. Another seed draws another subset; no effect without a cap."""
    reward_model: Optional[str] = setting(None, invalidates=("pairs:iterations",))
    """IterDPO on UltraFeedback: local path of a sequence-classification reward model that ranks two
    samples of one prompt (the paper used OpenAssistant/reward-model-deberta-v3-large-v2)."""

    def validate(self) -> list[str]:
        """One message per bad setting, each naming its key."""
        problems = []
        if not self.name:
            problems.append("method.name: empty; name a registered method (drift, spin, iterdpo)")
        if self.iterations < 0:
            problems.append(f"method.iterations: {self.iterations} must be >= 0")
        if self.max_examples is not None and self.max_examples < 1:
            problems.append(f"method.max_examples: {self.max_examples} must be >= 1 (or null for all)")
        if self.warm_start_seeds not in WARM_START_SEEDS:
            problems.append(f"method.warm_start_seeds: {self.warm_start_seeds!r} is not one of {', '.join(WARM_START_SEEDS)}")
        if self.warm_start and self.warm_start_epochs < 1:
            problems.append(f"method.warm_start_epochs: {self.warm_start_epochs} must be >= 1 (or method.warm_start=false)")
        return problems
