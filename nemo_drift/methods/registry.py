"""The method registry: one interface for every pair-construction method, looked up by name.

A method is a `Method` subclass registered under its `method.name` with `@register("name")`; the
controller asks `get_method(cfg.method.name)` what to sample and how to build pairs, and never names a
method itself. Importing `nemo_drift.methods` registers the built-in ones (drift, spin, iterdpo).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

from nemo_drift.methods.base import MethodInputs, PairBuildResult, SampleLike, SamplingNeed

COMMON_SETTINGS = ("name", "iterations", "warm_start", "warm_start_epochs", "warm_start_seeds", "max_examples",
                   "subset_seed")
"""`method.*` settings the controller applies to every method; the others only mean something to the
methods that list them in `Method.honours`."""


class Method(ABC):
    """A pair-construction method: which prompts it needs sampled, and the DPO pairs it builds from
    the records and the samples. Both steps are pure functions of their arguments (no I/O, no torch)."""

    honours: ClassVar[frozenset[str]] = frozenset()
    """`method.*` settings this method reads beyond `COMMON_SETTINGS` (e.g. "guided", "reward_model").
    Config validation refuses a non-default value of a setting the chosen method does not honour."""

    needs_sampling: ClassVar[bool] = True
    """False for a method that builds pairs from the records alone: the generate stage then starts no
    sampler and writes an empty samples file."""

    @property
    def honours_guided(self) -> bool:
        """Whether `method.guided=false` changes what this method samples."""
        return "guided" in self.honours

    def setting_problems(self, settings: Any) -> list[str]:
        """Combinations of `method.*` settings (a MethodConfig) this method cannot run, each naming the key;
        checked before the run starts."""
        return []

    @abstractmethod
    def sampling_needs(self, inputs: MethodInputs) -> list[SamplingNeed]:
        """The prompts to sample, each under a stable prompt id (empty when the method samples nothing)."""

    @abstractmethod
    def build_pairs(self, inputs: MethodInputs,
                    samples_by_prompt_id: Mapping[str, Sequence[SampleLike]]) -> PairBuildResult:
        """The pairs, and every training example that gave none with its reason."""


class UnknownMethodError(ValueError):
    """`method.name` names no registered method."""


METHODS: dict[str, Method] = {}
"""Registered methods by name, in registration order."""

M = TypeVar("M", bound=type[Method])


def register(name: str) -> Callable[[M], M]:
    """Class decorator: register one instance of the class under `name` (a `method.name` value)."""

    def add(cls: M) -> M:
        existing = METHODS.get(name)
        if existing is not None and _qualname(type(existing)) != _qualname(cls):
            raise ValueError(f"method {name!r} is already registered by {_qualname(type(existing))}")
        METHODS[name] = cls()
        return cls

    return add


def unregister(name: str) -> None:
    """Remove a registered method (tests register toy methods and remove them afterwards)."""
    METHODS.pop(name, None)


def method_names() -> tuple[str, ...]:
    """Names of the registered methods, in registration order."""
    return tuple(METHODS)


def get_method(name: str) -> Method:
    """The method registered as `name`; the error lists the known names."""
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownMethodError(f"method.name: {name!r} is not a registered method; known: "
                                 f"{', '.join(method_names()) or '(none)'}") from None


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
