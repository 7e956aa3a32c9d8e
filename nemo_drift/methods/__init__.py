"""Pair-construction methods: DRIFT and its baselines SPIN and IterDPO, behind one registry.

Each method is a `registry.Method` registered by name: `sampling_needs(inputs)` (which prompts to
sample) and `build_pairs(inputs, samples_by_prompt_id)` (the DPO pairs), with `inputs` a
`base.MethodInputs`. Importing this package registers the built-in methods; `get_method(name)` finds
one. `seed.warm_start_pairs` builds the warm-start pairs. No torch and no I/O here: everything is
unit-testable on hand-built records.
"""
from nemo_drift.methods import drift, spin, iterdpo  # noqa: F401  (registers the built-in methods)
from nemo_drift.methods.base import MethodInputs, PairBuildResult, SamplePolicy, SamplingNeed
from nemo_drift.methods.registry import (COMMON_SETTINGS, METHODS, Method, UnknownMethodError, get_method,
                                         method_names, register, unregister)

__all__ = ["COMMON_SETTINGS", "METHODS", "Method", "MethodInputs", "PairBuildResult", "SamplePolicy", "SamplingNeed",
           "UnknownMethodError", "get_method", "method_names", "register", "unregister"]
