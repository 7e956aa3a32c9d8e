"""Pair-construction methods: DRIFT and its baselines SPIN and IterDPO, as pure functions.

Each module offers `sampling_needs(records, ...)` (which prompts to sample) and
`build_pairs(records, samples_by_prompt_id, ...)` (the DPO pairs); `seed.warm_start_pairs` builds the
warm-start pairs. No torch and no I/O here: everything is unit-testable on hand-built records.
"""
