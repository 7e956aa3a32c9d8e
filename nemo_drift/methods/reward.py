"""The reward function a method may rank samples with, and a loader that defers building it.

The controller cannot know which method scores samples, so it hands every method a `LazyReward`
whenever `method.reward_model` is set; only a method that calls it pays for loading the model.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from nemo_drift.data.records import Message

RewardFn = Callable[[list[Message], list[str]], list[float]]
"""(prompt messages, candidate replies) -> one scalar reward per reply."""


class LazyReward:
    """A `RewardFn` that builds the real one (`load()`) on its first call and reuses it afterwards."""

    def __init__(self, load: Callable[[], RewardFn]):
        self._load = load
        self._reward: Optional[RewardFn] = None

    @property
    def loaded(self) -> bool:
        """Whether the reward model has been built."""
        return self._reward is not None

    def __call__(self, prompt: list[Message], replies: Sequence[str]) -> list[float]:
        if self._reward is None:
            self._reward = self._load()
        return self._reward(prompt, list(replies))
