"""Means with their standard errors, for figures computed over a handful to a few thousand records."""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean, stdev
from typing import Sequence


@dataclass
class Estimate:
    """A mean over records with its standard error (None with fewer than 2 records) and the count."""

    mean: float | None
    se: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Estimate":
        if not values:
            return cls(None, None, 0)
        se = stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
        return cls(fmean(values), se, len(values))

    def interval(self, z: float = 1.96, bounds: tuple[float, float] | None = None) -> tuple[float, float] | None:
        """Normal-approximation interval mean ± z·SE (95% by default); None without a standard error. `bounds`
        clips it to the range the values can take (a win rate's [0, 1])."""
        if self.mean is None or self.se is None:
            return None
        low, high = self.mean - z * self.se, self.mean + z * self.se
        if bounds is not None:
            low, high = max(low, bounds[0]), min(high, bounds[1])
        return low, high
